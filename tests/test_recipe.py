"""One training recipe: fercls train and training/fer2013_accuracy.py take their
defaults from fercls._recipe, which is the estimator's defaults plus two named changes."""

import importlib.util
import sys
from pathlib import Path

from fercls import FERClassifier
from fercls._recipe import PROTOCOL_CHANGES, protocol_params
from fercls.cli import build_parser

TRAINING = Path(__file__).resolve().parents[1] / "training"
# The front ends' option names for the estimator parameters they set.
OPTIONS = {
    "architecture": "architecture",
    "max_iter": "max_iter",
    "batch_size": "batch_size",
    "learning_rate_init": "learning_rate_init",
    "augment": "augment",
    "precision": "precision",
}
SCRIPT_ONLY = {
    "learning_rate": "learning_rate",
    "optimizer": "optimizer",
    "weight_decay": "weight_decay",
    "ema_momentum": "ema",
    "label_smoothing": "label_smoothing",
    "class_weight": "class_weight",
}


def test_the_recipe_is_the_estimators_defaults_with_the_named_changes():
    defaults = FERClassifier().get_params()
    recipe = protocol_params()
    assert {k for k in recipe if recipe[k] != defaults[k]} == set(PROTOCOL_CHANGES)


def test_fercls_train_defaults_come_from_the_recipe():
    train = build_parser().parse_args(["train", "data.zip"])
    recipe = protocol_params()
    for param, option in OPTIONS.items():
        assert getattr(train, option) == recipe[param], param


def test_the_training_script_defaults_come_from_the_recipe(monkeypatch):
    monkeypatch.syspath_prepend(str(TRAINING))
    spec = importlib.util.spec_from_file_location(
        "fer2013_accuracy", TRAINING / "fer2013_accuracy.py"
    )
    script = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "fer2013_accuracy", script)
    spec.loader.exec_module(script)
    args = script.parse_args([])
    recipe = protocol_params()
    for param, option in {**OPTIONS, **SCRIPT_ONLY}.items():
        assert getattr(args, option) == recipe[param], param
