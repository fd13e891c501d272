"""``fercls train``: train on Training, keep the best PublicTest epoch, save."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._io import OutputFile, write_atomic
from .._recipe import protocol_params
from ..labels import EMOTIONS
from ._shared import (
    CommandError,
    check_output,
    positive_int,
    raise_if_terminated,
    termination_check,
    warn_if_collapsed,
)

#: The one recipe (shared with training/fer2013_accuracy.py) gives the defaults.
_RECIPE = protocol_params()
#: --augment's choices: the estimator's augment values, "none" for False.
_AUGMENT = {"crop": "crop", "warp": "warp", "none": False}
#: A .joblib output (a pickle, protocol 2 or later): replaced only by another.
_JOBLIB_FILE = OutputFile("a joblib pickle", lambda _, head: head[:1] == b"\x80")


def add_parser(commands, common) -> None:
    train = commands.add_parser(
        "train",
        parents=[common],
        help="train a model on the Training split",
        description="Train on Training, validate on PublicTest (best "
        "epoch kept), save the fitted pipeline atomically.",
    )
    train.add_argument("data", type=Path)
    train.add_argument(
        "--architecture",
        default=_RECIPE["architecture"],
        help="vgg, vgg_small or simple (default: %(default)s)",
    )
    train.add_argument(
        "--max-iter",
        type=positive_int,
        default=_RECIPE["max_iter"],
        help="epochs (default: %(default)s)",
    )
    train.add_argument("--batch-size", type=positive_int, default=_RECIPE["batch_size"])
    train.add_argument("--learning-rate-init", type=float, default=_RECIPE["learning_rate_init"])
    train.add_argument(
        "--augment",
        choices=list(_AUGMENT),
        default=_RECIPE["augment"],
        help="training augmentation: crop (random 44-pixel crops, flips and erasing) or "
        "warp (flips, rotations, zooms, shifts) (default: %(default)s)",
    )
    train.add_argument(
        "--init",
        metavar="MODEL",
        help="start from a saved model's weights instead of random ones: 'pretrained' "
        "(the bundled model; with --architecture vgg_small), a saved model folder or "
        "a .fercls archive",
    )
    train.add_argument(
        "--oversample", action="store_true", help="RandomOverSampler inside the pipeline"
    )
    train.add_argument("--class-weight", choices=["balanced"], default=None)
    train.add_argument(
        "--precision",
        choices=["float32", "mixed_bfloat16", "auto"],
        default=_RECIPE["precision"],
        help="compute precision; auto: bfloat16 where the CPU has native BF16 "
        "(default: %(default)s)",
    )
    train.add_argument(
        "--train-limit", type=positive_int, help="train on the first N training images only"
    )
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--output",
        type=Path,
        default=Path("model.fercls"),
        help="where to save the fitted pipeline: .fercls (safe to share; default: "
        "%(default)s) or .joblib (pickle: runs code when loaded)",
    )
    train.add_argument(
        "--checkpoint",
        type=Path,
        help="save the classifier here after every epoch; rerunning the same command "
        "resumes from it",
    )
    train.add_argument(
        "--report", type=Path, help="also write an evaluation report on PublicTest here"
    )
    train.set_defaults(run=run)


def run(args) -> int:
    from .._containers import MODEL_ARCHIVE
    from ..datasets import load_fer2013
    from ..evaluation import REPORT_FOLDER

    # Every output is checked before hours of training, and none may be an input.
    inputs = [args.data] + ([Path(args.init)] if args.init and args.init != "pretrained" else [])
    output_kind = _JOBLIB_FILE if args.output.suffix == ".joblib" else MODEL_ARCHIVE
    check_output(args.output, "--output", inputs=inputs, kind=output_kind)
    if args.checkpoint:
        check_output(
            args.checkpoint, "--checkpoint", inputs=[*inputs, args.output], kind=MODEL_ARCHIVE
        )
    if args.report:
        check_output(
            args.report,
            "--report",
            folder=True,
            inputs=[*inputs, args.output, args.checkpoint],
            kind=REPORT_FOLDER,
        )
    data = load_fer2013(args.data)
    names = np.asarray(EMOTIONS)[data.target]
    train_rows = np.flatnonzero(np.asarray(data.usage) == "Training")[: args.train_limit]
    public = np.asarray(data.usage) == "PublicTest"
    public_pixels, public_names = data.data[public], names[public]
    if not len(train_rows):
        raise CommandError(f"{args.data}: no Training images")
    unseen = sorted(set(public_names) - set(names[train_rows]))
    if unseen:
        limit = f"the first {args.train_limit} " if args.train_limit else ""
        hint = "; raise --train-limit" if args.train_limit else ""
        raise CommandError(
            f"{args.data}: {limit}Training images hold no {', '.join(unseen)}, which "
            f"PublicTest (the validation data) holds{hint}"
        )
    pipeline = _training_pipeline(args)
    fit_params = _fit_params(args, public_pixels, public_names)
    pipeline.fit(data.data[train_rows], names[train_rows], **fit_params)
    _save_pipeline(pipeline, args.output)
    print(f"saved {args.output}")
    if args.report and not len(public_pixels):
        raise CommandError(f"{args.data}: no PublicTest images to report on")
    if len(public_pixels):
        _summarize_training(args, pipeline, public_pixels, public_names)
    return 0


def _summarize_training(args, pipeline, public_pixels, public_names) -> None:
    """PublicTest accuracy of the kept epoch (and the report); a warning on
    stderr if the model answers one class for nearly everything."""
    from ..evaluation import evaluate, make_report

    if args.report:
        title = f"fercls train: PublicTest ({args.data.name})"
        metrics = make_report(pipeline, public_pixels, public_names, args.report, title=title)
    else:
        metrics = evaluate(pipeline, public_pixels, public_names)
    classifier = pipeline[-1]
    best = classifier.best_iteration_ or classifier.n_iter_
    kept = f" (epoch {best} of {classifier.n_iter_})"
    where = f"; report in {args.report}" if args.report else ""
    print(f"PublicTest accuracy {metrics['accuracy']:.4f}{kept}{where}")
    warn_if_collapsed(metrics)


def _training_pipeline(args):
    """parser → [oversampler →] normaliser → classifier, from the options."""
    from imblearn.over_sampling import RandomOverSampler
    from imblearn.pipeline import make_pipeline

    from .. import FERClassifier, PixelNormalizer, PixelStringParser

    steps = [PixelStringParser()]
    if args.oversample:
        steps.append(RandomOverSampler(random_state=args.seed))
    steps += [
        PixelNormalizer(),
        FERClassifier(
            **protocol_params(
                architecture=args.architecture,
                max_iter=args.max_iter,
                batch_size=args.batch_size,
                learning_rate_init=args.learning_rate_init,
                augment=_AUGMENT[args.augment],
                class_weight=args.class_weight,
                precision=args.precision,
                random_state=args.seed,
                init=args.init,
            )
        ),
    ]
    return make_pipeline(*steps)


def _fit_params(args, public_pixels, public_names) -> dict:
    """PublicTest as validation data (if any), the checkpoint, a time estimate on a terminal."""
    from .. import PixelNormalizer

    fit_params: dict[str, object] = {}
    if len(public_pixels):
        validation = (PixelNormalizer().fit_transform(public_pixels), public_names)
        fit_params["ferclassifier__validation_data"] = validation
    if args.checkpoint:
        fit_params["ferclassifier__checkpoint"] = args.checkpoint
    callbacks = [termination_check()]
    if not args.quiet:
        from .._training import TrainingProgress

        callbacks.append(TrainingProgress(prefix="fercls train", validation="PublicTest"))
    fit_params["ferclassifier__callbacks"] = callbacks
    return fit_params


def _save_pipeline(pipeline, path: Path) -> None:
    """A .joblib file if asked for by name (trusted use); a .fercls archive otherwise."""
    raise_if_terminated()  # a stop that some library code swallowed saves nothing
    if path.suffix == ".joblib":
        import joblib

        write_atomic(path, lambda temporary: joblib.dump(pipeline, temporary))
    else:
        from ..persistence import save

        save(pipeline, path)
