"""Test-time augmentation of a saved model, measured on FER2013; prints one JSON line.

For each ``FERClassifier(test_time_augmentation=...)`` setting (None, "flip",
"zoom_flip", "ten_crop"): accuracy on PublicTest (the split a setting is chosen on) and, on
PrivateTest, accuracy, macro-F1 and the accuracy on the images not
byte-identical to a training image.

    python training/tta_accuracy.py src/fercls/models/fer2013_vgg_small
    python training/tta_accuracy.py runs/stage3 --update-card   # store in its card
    python training/tta_accuracy.py runs/stage3 --measure-tta none flip   # fewer settings

``fer2013_accuracy.py`` records the same figures for every model it trains.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from fercls.classifier import TEST_TIME_AUGMENTATIONS
from fercls.datasets import fer2013_path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = fer2013_path(__file__)  # $FERCLS_FER2013, or ../shared/data/fer2013.zip
SETTINGS = (None, *TEST_TIME_AUGMENTATIONS)
SETTING_NAMES = ("none", *TEST_TIME_AUGMENTATIONS)  # SETTINGS as options name them


def add_measure_tta_argument(parser):
    """``--measure-tta``: the settings to measure, all four unless narrowed
    (``"ten_crop"`` alone costs ten predictions of both test splits)."""
    parser.add_argument(
        "--measure-tta",
        nargs="+",
        choices=SETTING_NAMES,
        default=list(SETTING_NAMES),
        metavar="SETTING",
        help=f"the test-time augmentation settings to measure ({', '.join(SETTING_NAMES)}; "
        "default: all)",
    )


def chosen_settings(names):
    """The settings named by ``--measure-tta``, in the order of ``SETTINGS``."""
    return tuple(s for s, name in zip(SETTINGS, SETTING_NAMES, strict=True) if name in names)


def tta_figures(classifier, public, private, unseen, settings=SETTINGS):
    """``{setting: figures}`` for each test-time augmentation setting in ``settings``.

    ``public`` and ``private`` are ``(X, y)`` pairs of normalised pixels and
    names; ``unseen`` masks the PrivateTest rows not identical to a training
    image. The classifier's own setting is restored afterwards.
    """
    from sklearn.metrics import accuracy_score, f1_score

    before = classifier.test_time_augmentation
    figures = {}
    try:
        for setting in settings:
            classifier.set_params(test_time_augmentation=setting)
            public_predicted = classifier.predict(public[0])
            predicted = classifier.predict(private[0])
            truth = private[1]
            figures[str(setting)] = {
                "public_accuracy": rounded(accuracy_score(public[1], public_predicted)),
                "private_accuracy": rounded(accuracy_score(truth, predicted)),
                "private_macro_f1": rounded(f1_score(truth, predicted, average="macro")),
                "private_unseen_accuracy": rounded(
                    accuracy_score(truth[unseen], predicted[unseen])
                ),
            }
    finally:
        classifier.set_params(test_time_augmentation=before)
    return figures


def headline_figures(classifier, public, private, unseen, order):
    """The single-view figures a model card leads with, measured on ``classifier``.

    PublicTest accuracy, and on PrivateTest accuracy, macro-F1, per-class
    recall (in ``order``) and accuracy on the ``unseen`` rows.
    """
    from sklearn.metrics import accuracy_score, f1_score, recall_score

    before = classifier.test_time_augmentation
    classifier.set_params(test_time_augmentation=None)
    try:
        public_predicted = classifier.predict(public[0])
        predicted = classifier.predict(private[0])
    finally:
        classifier.set_params(test_time_augmentation=before)
    truth = private[1]
    recall = recall_score(truth, predicted, labels=order, average=None)
    return {
        "public_accuracy": rounded(accuracy_score(public[1], public_predicted)),
        "private_accuracy": rounded(accuracy_score(truth, predicted)),
        "private_macro_f1": rounded(f1_score(truth, predicted, average="macro")),
        "private_recall": {name: rounded(r) for name, r in zip(order, recall, strict=True)},
        "private_unseen_accuracy": rounded(accuracy_score(truth[unseen], predicted[unseen])),
        "private_unseen_n": int(unseen.sum()),
    }


def rounded(value):
    """A figure as the JSON lines report it: 4 decimals."""
    return round(float(value), 4)


def evaluation_splits(data, normalizer=None):
    """PublicTest and PrivateTest as (X, y) and the PrivateTest 'unseen' mask;
    X is normalised by ``normalizer``, or raw uint8 pixels without one."""
    from fercls.datasets import overlaps_training

    names = np.asarray(data.target_names)[data.target]
    public, private = data.usage == "PublicTest", data.usage == "PrivateTest"
    unseen = ~overlaps_training(data)[private]
    transform = normalizer.transform if normalizer is not None else np.asarray
    return (
        (transform(data.data[public]), names[public]),
        (transform(data.data[private]), names[private]),
        unseen,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="a folder saved by fer2013_accuracy.py --save")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--update-card",
        action="store_true",
        help="store the figures in the folder's card: the single-view headline and "
        "card['test_time_augmentation'], all measured on the weights as they load",
    )
    add_measure_tta_argument(parser)
    args = parser.parse_args(argv)

    from fercls import load_fer2013
    from fercls.persistence import read_card, replace_card
    from fercls.pretrained import load_pipeline

    if not args.data.exists():
        sys.exit(f"FER2013 data not found at {args.data}; pass --data")
    pipeline = load_pipeline(args.model, with_parser=False)
    normalizer, classifier = pipeline.named_steps["normalizer"], pipeline.named_steps["classifier"]
    data = load_fer2013(args.data)
    public, private, unseen = evaluation_splits(data, normalizer)
    figures = tta_figures(classifier, public, private, unseen, chosen_settings(args.measure_tta))
    if args.update_card:
        card = read_card(args.model)
        headline = headline_figures(classifier, public, private, unseen, list(data.target_names))
        card.update(headline, test_time_augmentation=figures)
        if card.get("stages"):  # the last run's row shows the weights it shipped
            card["stages"][-1].update(
                {k: headline[k] for k in ("public_accuracy", "private_accuracy")}
            )
        replace_card(args.model, card)
    result = {"benchmark": "tta_accuracy", "model": str(args.model), "settings": figures}
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
