"""FER2013 accuracy under the standard protocol; prints one JSON line.

Train on ``Training`` (28,709 images), select the epoch on ``PublicTest``
(the best epoch's weights are restored), report on ``PrivateTest`` (3,589):
accuracy, macro-F1 and per-class recall, plus the accuracy on the PrivateTest
images that are not pixel-identical to any training image, and the same
figures with each test-time augmentation setting (``tta_accuracy.py``;
``--measure-tta`` narrows them).

    python training/fer2013_accuracy.py --architecture vgg_small --max-iter 40
    python training/fer2013_accuracy.py --minutes 30          # CPU budget mode
    python training/fer2013_accuracy.py --minutes 30 --save src/fercls/models/fer2013_vgg_small
    # a warm restart of the bundled model:
    python training/fer2013_accuracy.py --minutes 35 --learning-rate-init 3e-4 \
        --init-from src/fercls/models/fer2013_vgg_small --save runs/restart
    # knowledge distillation from an ensemble of saved models:
    python training/fer2013_accuracy.py --augment crop --distill-from runs/a runs/b

Budget mode trains until the time is nearly spent (it stops when another
epoch would not fit) with a cosine learning-rate decay over elapsed time, so
the rate anneals however fast the machine turns out to be.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np
from tta_accuracy import (
    SETTING_NAMES,
    add_measure_tta_argument,
    chosen_settings,
    evaluation_splits,
    headline_figures,
    tta_figures,
)

from fercls._machine import describe_device
from fercls._recipe import protocol_params
from fercls.classifier import rebuild_in_precision
from fercls.datasets import fer2013_path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = fer2013_path(__file__)  # $FERCLS_FER2013, or ../shared/data/fer2013.zip


def parse_args(argv=None):
    # The defaults are the one recipe `fercls train` uses too (fercls._recipe).
    recipe = protocol_params()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="FER2013 zip, folder or CSV"
    )
    parser.add_argument("--architecture", default=recipe["architecture"])
    parser.add_argument(
        "--max-iter", type=int, default=recipe["max_iter"], help="epochs (without --minutes)"
    )
    parser.add_argument("--minutes", type=float, help="training time budget, in minutes")
    parser.add_argument("--batch-size", type=int, default=recipe["batch_size"])
    parser.add_argument("--learning-rate-init", type=float, default=recipe["learning_rate_init"])
    parser.add_argument(
        "--learning-rate",
        default=recipe["learning_rate"],
        choices=["constant", "adaptive", "cosine"],
    )
    parser.add_argument("--optimizer", choices=("adam", "sgd"), default=recipe["optimizer"])
    parser.add_argument("--weight-decay", type=float, default=recipe["weight_decay"])
    parser.add_argument(
        "--ema",
        type=float,
        default=recipe["ema_momentum"],
        help="ema_momentum: average the weights (e.g. 0.999)",
    )
    parser.add_argument("--label-smoothing", type=float, default=recipe["label_smoothing"])
    parser.add_argument("--normalization", default="scale", choices=["scale", "standardize"])
    parser.add_argument(
        "--class-weight", default=recipe["class_weight"], choices=[None, "balanced"]
    )
    parser.add_argument("--no-augment", action="store_true")
    parser.add_argument(
        "--augment",
        choices=["warp", "crop"],
        default=recipe["augment"],
        help="training augmentation: crop (random 44-pixel crops and random erasing; the "
        "default, as in FERClassifier) or warp (rotations, zooms, shifts; the default "
        "before 2026-12-06, so commands recorded before then without --augment used it)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--train-limit", type=int, help="use only the first N training images (smoke tests)"
    )
    parser.add_argument(
        "--save", type=Path, help="save the model (weights + JSON card) to this folder"
    )
    parser.add_argument(
        "--init-from",
        type=Path,
        help="continue from a saved model folder (e.g. the bundled model): a warm "
        "restart with a fresh optimizer and a new cosine cycle",
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        help="save a .fercls checkpoint every epoch; rerunning resumes from it (epoch mode)",
    )
    parser.add_argument(
        "--precision",
        default=recipe["precision"],
        choices=["float32", "mixed_bfloat16"],
        help="layer compute precision (bfloat16 pays where the CPU has avx512_bf16 or AMX)",
    )
    parser.add_argument(
        "--distill-from",
        type=Path,
        nargs="+",
        metavar="MODEL",
        help="saved model folders whose mean probability on each training image (calibrated "
        "where a temperature is stored, averaged over --teacher-tta views) the network "
        "learns, mixed with the one-hot label",
    )
    parser.add_argument(
        "--distill-weight",
        type=float,
        default=0.5,
        help="share of the teachers' probabilities in the soft targets (the rest: the label)",
    )
    parser.add_argument(
        "--distill-temperature",
        type=float,
        default=2.0,
        help="soften the teachers' probabilities as softmax(logits / T) before mixing",
    )
    parser.add_argument(
        "--teacher-tta",
        default="flip",
        choices=SETTING_NAMES,
        help="the views each teacher averages on a training image",
    )
    add_measure_tta_argument(parser)
    parser.add_argument("--verbose", type=int, default=2)
    return parser.parse_args(argv)


def teacher_records(folders):
    """Each teacher's folder, whether it is calibrated, and the commands that trained it
    (from its card), so a distilled model's card can say what it learned from."""
    from fercls.persistence import read_card

    records = []
    for folder in folders:
        card = read_card(folder)
        stages = card.get("stages") or [card]
        records.append(
            {
                "model": str(folder),
                "calibrated": "calibration" in card,
                "commands": [stage.get("command") for stage in stages],
            }
        )
    return records


def soft_targets(teachers, pixels, codes, classes, *, weight, temperature, views):
    """Distillation targets: ``weight`` x the teachers' softened mean probability
    on each image, plus ``1 - weight`` x the one-hot label ``codes``.

    Softening a probability p as p ** (1 / T), renormalised, is softmax(logits / T).
    """
    from fercls.pretrained import load_pipeline

    total = 0.0
    for folder in teachers:
        tta = None if views == "none" else views
        pipeline = load_pipeline(folder, with_parser=False, test_time_augmentation=tta)
        if not np.array_equal(np.asarray(pipeline.classes_), classes):
            sys.exit(f"teacher {folder} has classes {list(pipeline.classes_)}, not {list(classes)}")
        total = total + pipeline.predict_proba(pixels)
    softened = np.clip(total / len(teachers), 1e-12, 1) ** (1 / temperature)
    softened /= softened.sum(axis=1, keepdims=True)
    return weight * softened + (1 - weight) * np.eye(len(classes))[codes]


STAGE_FIELDS = (
    "command",
    "budget_minutes",
    "epochs_this_run",
    "epochs",
    "best_epoch",
    "train_seconds",
    "public_accuracy",
    "private_accuracy",
)


def training_stages(card, previous_card=None, teachers=None):
    """The runs that produced a model, oldest first, each summarised by STAGE_FIELDS.

    A warm restart (``--init-from``) inherits the stages of the model it
    started from, so a model card can list every command behind the weights.
    A distilled run also keeps ``teachers`` (:func:`teacher_records`).
    """
    stages = []
    if previous_card is not None:
        stages = previous_card.get("stages") or training_stages(previous_card)
    settings = card.get("settings", {})
    this_run = {field: card.get(field) for field in STAGE_FIELDS}
    this_run["epochs_this_run"] = card.get("epochs_this_run", card["epochs"])
    this_run["learning_rate_init"] = settings.get("learning_rate_init")
    this_run["precision"] = settings.get("precision", "float32")
    this_run["distill_from"] = settings.get("distill_from")
    if this_run["distill_from"]:
        this_run["teachers"] = teachers
        this_run["distillation"] = {
            key: settings.get(key)
            for key in ("distill_weight", "distill_temperature", "teacher_tta")
        }
    return [*stages, this_run]


def time_budget_callback(minutes, learning_rate_init):
    """Cosine decay over elapsed time; stop when another epoch would overrun."""
    import keras

    class TimeBudget(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.start = time.perf_counter()
            self.budget = minutes * 60
            self.longest_epoch = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_start = time.perf_counter()
            progress = min((self.epoch_start - self.start) / self.budget, 1.0)
            self.model.optimizer.learning_rate = (
                0.5 * learning_rate_init * (1 + math.cos(math.pi * progress))
            )

        def on_epoch_end(self, epoch, logs=None):
            now = time.perf_counter()
            self.longest_epoch = max(self.longest_epoch, now - self.epoch_start)
            if now - self.start + self.longest_epoch > self.budget:
                self.model.stop_training = True

    return TimeBudget()


def _as_json(value):
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    return value


def main(argv=None):
    args = parse_args(argv)
    from fercls import FERClassifier, PixelNormalizer, load_fer2013

    if not args.data.exists():
        sys.exit(f"FER2013 data not found at {args.data}; pass --data")
    data = load_fer2013(args.data)
    names = np.asarray(data.target_names)[data.target]
    split = {u: data.usage == u for u in ("Training", "PublicTest", "PrivateTest")}
    train_rows = np.flatnonzero(split["Training"])[: args.train_limit]
    normalizer = PixelNormalizer(method=args.normalization).fit(data.data[:1])
    X_train, y_train = normalizer.transform(data.data[train_rows]), names[train_rows]
    (X_public, y_public), (X_private, y_private), unseen = evaluation_splits(data, normalizer)

    budget = args.minutes is not None
    clf = FERClassifier(
        architecture=args.architecture,
        max_iter=10_000 if budget else args.max_iter,
        batch_size=args.batch_size,
        learning_rate_init=args.learning_rate_init,
        learning_rate="constant" if budget else args.learning_rate,
        # Select on PublicTest but never stop on it: the budget or max_iter ends training.
        n_iter_no_change=10_000,
        optimizer=args.optimizer,
        weight_decay=args.weight_decay,
        ema_momentum=args.ema,
        label_smoothing=args.label_smoothing,
        augment=False if args.no_augment else args.augment,
        class_weight=args.class_weight,
        random_state=args.seed,
        verbose=args.verbose,
        precision=args.precision,
    )
    fit_params = {} if budget or not args.checkpoint else {"checkpoint": args.checkpoint}
    previous_meta = None
    if args.init_from:
        from fercls.pretrained import load_classifier

        start_from, previous_meta = load_classifier(args.init_from)
        if start_from.architecture != args.architecture:
            sys.exit(f"--init-from holds a {start_from.architecture}, not {args.architecture}")
        start_from.set_params(**{**clf.get_params(), "warm_start": True})
        clf = start_from
        if args.precision != "float32":
            clf = rebuild_in_precision(clf, args.precision)
    epochs_before = getattr(clf, "n_iter_", 0)
    teachers = None
    if args.distill_from:
        # Recorded as the teachers are read, not after hours of training.
        teachers = teacher_records(args.distill_from)
        classes = np.unique(y_train)
        fit_params["soft_targets"] = soft_targets(
            args.distill_from,
            data.data[train_rows],
            np.searchsorted(classes, y_train),
            classes,
            weight=args.distill_weight,
            temperature=args.distill_temperature,
            views=args.teacher_tta,
        )
    callbacks = [time_budget_callback(args.minutes, args.learning_rate_init)] if budget else []
    start = time.perf_counter()
    # Keras prints progress to stdout; keep stdout for the one JSON line.
    with contextlib.redirect_stdout(sys.stderr):
        clf.fit(
            X_train,
            y_train,
            validation_data=(X_public, y_public),
            callbacks=callbacks,
            **fit_params,
        )
    train_seconds = time.perf_counter() - start

    if args.precision != "float32":
        # The saved model loads as float32: measure (and save) the network that ships.
        clf = rebuild_in_precision(clf, "float32")
    order = list(data.target_names)
    headline = headline_figures(clf, (X_public, y_public), (X_private, y_private), unseen, order)
    augmented = tta_figures(
        clf,
        (X_public, y_public),
        (X_private, y_private),
        unseen,
        chosen_settings(args.measure_tta),
    )
    result = {
        "benchmark": "fer2013_accuracy",
        "architecture": args.architecture,
        "parameters": int(clf.model_.count_params()),
        "epochs": int(clf.n_iter_),
        "init_from": str(args.init_from) if args.init_from else None,
        "best_epoch": clf.best_iteration_,
        "budget_minutes": args.minutes,
        "train_seconds": round(train_seconds, 1),
        "epochs_this_run": int(clf.n_iter_ - epochs_before),
        "train_images_per_second": round(
            len(X_train) * (clf.n_iter_ - epochs_before) / train_seconds, 1
        ),
        "n_train": len(X_train),
        **headline,
        "test_time_augmentation": augmented,
        "settings": {k: _as_json(v) for k, v in vars(args).items()},
        "device": describe_device(),
        "tensorflow": __import__("tensorflow").__version__,
    }
    if args.save:
        from fercls.pretrained import save_classifier

        card = dict(result, history=clf.history_, command=shlex.join(["python", *sys.argv]))
        previous_card = (previous_meta or {}).get("card")
        card["stages"] = training_stages(card, previous_card, teachers)
        save_classifier(clf, args.save, normalization=args.normalization, card=card)
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
