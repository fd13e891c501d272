"""The ``fercls`` command: info, train, evaluate and predict.

Each subcommand has ``--help``. Failures print one line, ``fercls: error: …``,
to stderr and exit with status 1 (2 for bad command-line usage).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import re
import signal
import sys
import threading
import traceback
from pathlib import Path

import numpy as np

from ._images import files_in
from ._io import check_output_path, short_reason, write_atomic
from .classifier import TEST_TIME_AUGMENTATIONS
from .export import FORMATS as EXPORT_FORMATS
from .faces import DETECTORS, FaceCropper
from .labels import EMOTIONS, emotion_names
from .video import DETECT_EVERY

__all__ = [
    "main",
    "build_parser",
    "reference_markdown",
]

SPLITS = ("Training", "PublicTest", "PrivateTest")
MODEL_HELP = (
    ".fercls file or saved model folder (default: the bundled model); a .joblib/.pkl "
    "file only with --allow-pickle"
)


def add_allow_pickle_option(command):
    command.add_argument(
        "--allow-pickle",
        action="store_true",
        help="let --model read a .joblib/.pkl file. Pickles run code when loaded: "
        "use this only for files you made or trust",
    )


class CommandError(Exception):
    """An error to report as one line and exit status 1."""


class UsageError(Exception):
    """A wrong combination of options: reported like argparse's own, exit status 2."""


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the program is, so every cleanup that
    Ctrl-C runs (temporary files, half-written outputs) runs for these too."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_terminated(signum, frame):
    raise Terminated(signum)


@contextlib.contextmanager
def terminations_as_interrupts():
    """SIGTERM and SIGHUP raise :class:`Terminated` inside the block (in the
    main thread, where Python delivers signals); the old handlers come back after."""
    wanted = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _raise_terminated) for signum in wanted}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def main(argv=None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # The subcommand's own usage, not the top level's, and the option meant.
        command = args.command_parsers.get(getattr(args, "command", None), parser)
        command.error(_unrecognized(unknown, command))
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    with terminations_as_interrupts():
        return _run(parser, args)


def _run(parser: argparse.ArgumentParser, args) -> int:
    Progress.enabled = not args.quiet
    try:
        if not args.verbose and args.command in NEEDS_TENSORFLOW:
            quiet_tensorflow()
        return args.run(args) or 0
    except UsageError as exc:
        parser.exit(2, f"fercls {args.command}: error: {exc}\n")
    except (CommandError, ValueError, FileNotFoundError, OSError) as exc:
        if args.verbose:
            traceback.print_exc()
        print(f"fercls: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except Terminated as exc:
        print(f"fercls: stopped by {exc}", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("fercls: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug of ours or a library's: still one line, details on -v
        if args.verbose:
            traceback.print_exc()
        print(
            f"fercls: error: unexpected {short_reason(exc)} (rerun with -v for the traceback)",
            file=sys.stderr,
        )
        return 1


NEEDS_TENSORFLOW = {"train", "evaluate", "predict", "video", "export"}


def quiet_tensorflow() -> None:
    """Start TensorFlow without its start-up lines, and keep its later logging
    (C++ and Python) to errors that matter, unless the user chose its log level."""
    from ._startup import start_tensorflow

    start_tensorflow(log_level="3")
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:  # pragma: no cover - absl ships with TensorFlow
        pass


def _unrecognized(unknown: list[str], command: argparse.ArgumentParser) -> str:
    """'unrecognized arguments: --formt (did you mean --format?)'."""
    import difflib

    # The options as the help lists them (argparse has no public list of them).
    known = sorted(set(re.findall(r"(?<![\w-])--?[A-Za-z][\w-]*", command.format_help())))
    hints = []
    for word in unknown:
        option = word.split("=", 1)[0]
        close = difflib.get_close_matches(option, known, n=1) if option.startswith("-") else []
        hints.append(f"{word} (did you mean {close[0]}?)" if close else word)
    return f"unrecognized arguments: {' '.join(hints)}"


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose "invalid choice" errors suggest the closest
    choice (Python 3.14's suggest_on_error, for the versions we support)."""

    def error(self, message):  # type: ignore[override]
        import difflib

        found = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if found:
            choices = re.findall(r"'([^']*)'", found.group(2))
            close = difflib.get_close_matches(found.group(1), choices, n=1)
            if close:
                message += f"; did you mean '{close[0]}'?"
        super().error(message)


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    return lines[0] if len(lines) == 1 else f"{lines[0]} (…)"


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``fercls`` parser: one subcommand per ``_add_*`` function below."""
    from ._version import __version__

    parser = _Parser(prog="fercls", description="Facial emotion recognition on FER2013-style data.")
    parser.add_argument("--version", action="version", version=f"fercls {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    parser.set_defaults(verbose=False, quiet=False, command_parsers=commands.choices)
    common = _Parser(add_help=False)  # options every subcommand has
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show TensorFlow's own messages and, on failure, the traceback",
    )
    common.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress on stderr (errors are still shown)",
    )
    for add_command in COMMANDS:
        add_command(commands, common)
    return parser


def add_model_options(command) -> None:
    """``--model`` and ``--allow-pickle``: the commands that read a model."""
    command.add_argument("--model", type=Path, help=MODEL_HELP)
    add_allow_pickle_option(command)


def _output_format(text: str) -> str:
    """argparse type of ``--format``: ``table``, the earlier name of ``text``
    (which was not a table), still works."""
    return "text" if text == "table" else text


def _add_format_option(command, choices) -> None:
    command.add_argument(
        "--format",
        type=_output_format,
        choices=choices,
        default="text",
        help="text: lines for people (default); "
        + ("json or csv" if "csv" in choices else "json")
        + ": for programs",
    )


def add_stdout_option(command, what: str) -> None:
    """``-o/--output FILE``, for the commands that otherwise print ``what``."""
    command.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help=f"write the {what} here, not stdout"
    )


def _add_info(commands, common) -> None:
    info = commands.add_parser(
        "info",
        parents=[common],
        help="counts, blank images and duplicates of a data set",
        description="Counts per split and class, blank images and "
        "duplicate groups of a FER2013 source (CSV, folder or zip).",
    )
    info.add_argument(
        "data", type=Path, help="fer2013.csv[.gz], the Kaggle image folder, or its zip"
    )
    _add_format_option(info, ["text", "json"])
    add_stdout_option(info, "summary")
    info.set_defaults(run=run_info)


def _add_train(commands, common) -> None:
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
        default="vgg_small",
        help="vgg, vgg_small or simple (default: %(default)s)",
    )
    train.add_argument(
        "--max-iter", type=positive_int, default=30, help="epochs (default: %(default)s)"
    )
    train.add_argument("--batch-size", type=positive_int, default=64)
    train.add_argument("--learning-rate-init", type=float, default=1e-3)
    train.add_argument(
        "--oversample", action="store_true", help="RandomOverSampler inside the pipeline"
    )
    train.add_argument("--class-weight", choices=["balanced"], default=None)
    train.add_argument(
        "--precision",
        choices=["float32", "mixed_bfloat16", "auto"],
        default="float32",
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
    train.set_defaults(run=run_train)


def _add_evaluate(commands, common) -> None:
    evaluate = commands.add_parser(
        "evaluate",
        parents=[common],
        help="evaluate a model on one split",
        description="Metrics of a model on one split; with --report, "
        "a folder of metrics, plots and index.html.",
    )
    evaluate.add_argument("data", type=Path)
    add_model_options(evaluate)
    evaluate.add_argument("--split", choices=SPLITS, default="PrivateTest")
    evaluate.add_argument("--report", type=Path, help="write the report folder here")
    _add_format_option(evaluate, ["text", "json"])
    add_stdout_option(evaluate, "metrics")
    add_tta_option(evaluate)
    evaluate.set_defaults(run=run_evaluate)


def _add_predict(commands, common) -> None:
    predict = commands.add_parser(
        "predict",
        parents=[common],
        help="emotions of the faces in image files",
        description="Emotion and probabilities of every face in each image. A 48x48 "
        "image is taken as a face crop (FER2013's form); in any other image the faces "
        "are found with the face detector (--detector). A file that cannot be read is reported and "
        "the others are still predicted; the exit status is then 1.",
    )
    predict.add_argument(
        "images",
        nargs="+",
        metavar="IMAGE_OR_DIR",
        help="image files, folders of them, or - for one image on stdin",
    )
    add_model_options(predict)
    _add_format_option(predict, ["text", "json", "csv"])
    add_stdout_option(predict, "results")
    add_tta_option(predict)
    faces = predict.add_mutually_exclusive_group()
    faces.add_argument(
        "--detect-faces",
        action="store_true",
        help="run the face detector on every image, 48x48 crops included",
    )
    faces.add_argument(
        "--whole-image",
        action="store_true",
        help="take each whole image as the face (grayscale, resized to 48x48); no detection",
    )
    _add_detector_option(predict)
    predict.add_argument(
        "--annotate",
        type=Path,
        metavar="DIR",
        help="write a copy of each image with boxes and labels here (NAME.annotated.png)",
    )
    predict.set_defaults(run=run_predict)


def _add_video(commands, common) -> None:
    video = commands.add_parser(
        "video",
        parents=[common],
        help="emotions in a video file or webcam stream",
        description="Find and classify faces in every frame; write "
        "an annotated video and/or show a live window. The face detector runs on "
        "every --detect-every frames and the faces are followed in between.",
    )
    source = video.add_mutually_exclusive_group(required=True)
    source.add_argument("input", nargs="?", type=Path, help="video file")
    source.add_argument("--webcam", type=int, metavar="INDEX", help="webcam index (e.g. 0)")
    video.add_argument("--output", type=Path, help="write the annotated video here (.mp4)")
    video.add_argument("--show", action="store_true", help="show a live window (needs a display)")
    add_model_options(video)
    video.add_argument(
        "--smoothing", type=positive_int, default=5, help="frames to average (default: %(default)s)"
    )
    video.add_argument("--max-frames", type=positive_int, help="stop after this many frames")
    _add_detector_option(video)
    video.add_argument(
        "--detect-every",
        type=positive_int,
        default=DETECT_EVERY,
        metavar="N",
        help="run the face detector on every N-th frame and follow the faces in between; "
        "1 = every frame (default: %(default)s)",
    )
    video.set_defaults(run=run_video)


def _add_detector_option(command) -> None:
    command.add_argument(
        "--detector",
        choices=DETECTORS,
        default=DETECTORS[0],
        help="face detector: mtcnn (finds tilted faces, levels the eyes) or haar "
        "(OpenCV's frontal cascade: faster, upright faces only) (default: %(default)s)",
    )


def _add_export(commands, common) -> None:
    export = commands.add_parser(
        "export",
        parents=[common],
        help="export a model for serving or phones (Keras, HDF5, SavedModel, TFLite, ONNX)",
        description="Write the model as a standalone network: raw grayscale "
        "pixels 0-255, float32 of shape (n, 48, 48, 1), in; the seven "
        "probabilities out, in the model's classes_ order (its labels in OUTPUT.labels.json).",
    )
    add_model_options(export)
    export.add_argument(
        "--format",
        choices=EXPORT_FORMATS,
        required=True,
        help="onnx needs pip install 'fercls[onnx]'",
    )
    export.add_argument(
        "--quantize", choices=["float16", "int8"], help="TFLite only: smaller, faster weights"
    )
    export.add_argument(
        "--data",
        type=Path,
        help="FER2013 source whose Training images calibrate --quantize int8",
    )
    export.add_argument("--output", type=Path, required=True)
    export.set_defaults(run=run_export)


#: The subcommands, in the order ``fercls --help`` lists them.
COMMANDS = (_add_info, _add_train, _add_evaluate, _add_predict, _add_video, _add_export)


# --------------------------------------------------------------------- info
def run_info(args) -> int:
    from .datasets import load_fer2013, summarize

    if args.output:
        check_output(args.output, "-o/--output", inputs=[args.data])
    with Progress("loading the data"):
        summary = {"source": str(args.data), **summarize(load_fer2013(args.data))}
    if args.format == "json":
        emit(args, json.dumps(summary, indent=2) + "\n")
        return 0
    counts = summary["counts"]
    splits = list(counts)
    width = max(len(e) for e in EMOTIONS)
    lines = [f"{args.data}: {summary['images']} images"]
    lines.append(f"{'':{width}} " + " ".join(f"{s:>11}" for s in splits))
    for e in EMOTIONS:
        lines.append(f"{e:{width}} " + " ".join(f"{counts[s][e]:>11}" for s in splits))
    lines.append(f"{'total':{width}} " + " ".join(f"{sum(counts[s].values()):>11}" for s in splits))
    lines.append(f"blank (uniform) images: {summary['blank_images']}")
    lines.append(
        f"duplicate groups: {summary['duplicate_groups']} ({summary['duplicated_images']} images), "
        f"{summary['duplicate_groups_spanning_training_and_test']} spanning Training and test, "
        f"{summary['duplicate_groups_with_conflicting_labels']} with conflicting labels"
    )
    for s, n in summary["test_images_identical_to_training"].items():
        lines.append(f"{s} images identical to a Training image: {n}")
    emit(args, "\n".join(lines) + "\n")
    return 0


# -------------------------------------------------------------------- train
def check_output(path: Path, option: str, *, folder: bool = False, inputs=(), kind=None) -> None:
    """Refuse an output path that is, holds or replaces an input, replaces a
    folder fercls did not write, or is of the wrong kind or not writable
    (:func:`fercls._io.check_output_path`): bad usage (exit status 2), caught
    before any work."""
    try:
        check_output_path(path, option, folder=folder, inputs=inputs, kind=kind)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def model_input(path):
    """The model a command reads: ``--model``, or the bundled model's folder."""
    if path is not None:
        return path
    from .pretrained import bundled_model_folder

    return bundled_model_folder()


def run_train(args) -> int:
    from .datasets import load_fer2013
    from .evaluation import REPORT_FOLDER

    # Every output is checked before hours of training, and none may be an input.
    check_output(args.output, "--output", inputs=[args.data])
    if args.checkpoint:
        check_output(args.checkpoint, "--checkpoint", inputs=[args.data, args.output])
    if args.report:
        check_output(
            args.report,
            "--report",
            folder=True,
            inputs=[args.data, args.output, args.checkpoint],
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
    from .evaluation import evaluate, make_report

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
    _warn_if_collapsed(metrics)


def _warn_if_collapsed(metrics) -> None:
    from .evaluation import collapse_warning

    warning = collapse_warning(metrics)
    if warning:
        print(f"fercls: warning: {warning}", file=sys.stderr)


def _training_pipeline(args):
    """parser → [oversampler →] normaliser → classifier, from the options."""
    from imblearn.over_sampling import RandomOverSampler
    from imblearn.pipeline import make_pipeline

    from . import FERClassifier, PixelNormalizer, PixelStringParser

    steps = [PixelStringParser()]
    if args.oversample:
        steps.append(RandomOverSampler(random_state=args.seed))
    steps += [
        PixelNormalizer(),
        FERClassifier(
            architecture=args.architecture,
            max_iter=args.max_iter,
            batch_size=args.batch_size,
            learning_rate_init=args.learning_rate_init,
            learning_rate="cosine",
            class_weight=args.class_weight,
            precision=args.precision,
            random_state=args.seed,
        ),
    ]
    return make_pipeline(*steps)


def _fit_params(args, public_pixels, public_names) -> dict:
    """PublicTest as validation data (if any), the checkpoint, a time estimate on a terminal."""
    from . import PixelNormalizer

    fit_params: dict[str, object] = {}
    if len(public_pixels):
        validation = (PixelNormalizer().fit_transform(public_pixels), public_names)
        fit_params["ferclassifier__validation_data"] = validation
    if args.checkpoint:
        fit_params["ferclassifier__checkpoint"] = args.checkpoint
    if not args.quiet:
        from ._training import TrainingProgress

        progress = TrainingProgress(prefix="fercls train", validation="PublicTest")
        fit_params["ferclassifier__callbacks"] = [progress]
    return fit_params


def _save_pipeline(pipeline, path: Path) -> None:
    """A .joblib file if asked for by name (trusted use); a .fercls archive otherwise."""
    if path.suffix == ".joblib":
        import joblib

        write_atomic(path, lambda temporary: joblib.dump(pipeline, temporary))
    else:
        from .persistence import save

        save(pipeline, path)


# ----------------------------------------------------------------- evaluate
TTA_HELP = (
    "test-time augmentation: average the probabilities of several views of each image: "
    "the image and its mirror (flip) or an 11/12 central zoom and its mirror (zoom_flip), "
    "twice the prediction time; or five 11/12 crops and their mirrors (ten_crop, for "
    "models trained with crop augmentation), ten times"
)


def add_tta_option(command):
    command.add_argument("--tta", choices=TEST_TIME_AUGMENTATIONS, help=TTA_HELP)


def load_model(path, *, tta=None, allow_pickle=False):
    """``fercls.pretrained.load_model``, with ``--tta`` set on its classifier."""
    from .pretrained import load_model as read

    return read(path, allow_pickle=allow_pickle, test_time_augmentation=tta)


def run_evaluate(args) -> int:
    from .datasets import load_fer2013
    from .evaluation import REPORT_FOLDER, evaluate, make_report

    model_path = model_input(args.model)
    if args.output:
        check_output(args.output, "-o/--output", inputs=[args.data, model_path])
    if args.report:
        check_output(
            args.report,
            "--report",
            folder=True,
            inputs=[args.data, model_path, args.output],
            kind=REPORT_FOLDER,
        )
    with Progress("loading the data"):
        data = load_fer2013(args.data)
    rows = np.asarray(data.usage) == args.split
    if not rows.any():
        raise CommandError(
            f"{args.data}: no {args.split} images (splits here: {sorted(set(data.usage))})"
        )
    model = load_model(args.model, tta=args.tta, allow_pickle=args.allow_pickle)
    X, y = data.data[rows], _labels_for(model, data.target[rows])
    proba = predict_with_progress(model, X, f"{args.split}")
    if args.report:
        title = f"fercls evaluate: {args.split} ({args.data.name})"
        metrics = make_report(model, X, y, args.report, title=title, proba=proba)
    else:
        metrics = evaluate(model, X, y, proba=proba)
    _warn_if_collapsed(metrics)
    if args.format == "json":
        emit(args, json.dumps({"split": args.split, **metrics}, indent=2) + "\n")
        return 0
    lines = [
        f"{args.split}: {metrics['n']} images, accuracy {metrics['accuracy']:.4f}, "
        f"macro-F1 {metrics['macro_f1']:.4f}, ECE {metrics['ece']:.4f}"
    ]
    for label, m in metrics["per_class"].items():
        lines.append(
            f"  {label:>9}: precision {m['precision']:.3f} recall {m['recall']:.3f} "
            f"f1 {m['f1']:.3f} (n={m['support']})"
        )
    if args.report:
        lines.append(f"report: {args.report / 'index.html'}")
    emit(args, "\n".join(lines) + "\n")
    return 0


def emit(args, text: str) -> None:
    """Command output to ``-o FILE`` (atomically) or to stdout."""
    if getattr(args, "output", None):
        write_atomic(args.output, lambda path: Path(path).write_text(text))
    else:
        sys.stdout.write(text)


class Progress:
    """'what...' on stderr while a step runs, only when stderr is a terminal
    (and not with ``-q``, which sets ``enabled`` to False)."""

    enabled = True

    def __init__(self, what: str):
        self.what = what
        self.shown = Progress.enabled and sys.stderr.isatty()

    def __enter__(self):
        if self.shown:
            sys.stderr.write(f"{self.what}...")
            sys.stderr.flush()
        return self

    def update(self, text: str) -> None:
        if self.shown:
            sys.stderr.write(f"\r{self.what}: {text}\x1b[K")
            sys.stderr.flush()

    def __exit__(self, *exc):
        if self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def predict_with_progress(model, X, what: str, chunk: int = 512) -> np.ndarray:
    """``model.predict_proba(X)``, in chunks with a count on a terminal."""
    if not sys.stderr.isatty() or len(X) <= chunk:
        return model.predict_proba(X)
    parts = []
    with Progress(f"predicting {what}") as progress:
        for start in range(0, len(X), chunk):
            parts.append(model.predict_proba(X[start : start + chunk]))
            progress.update(f"{min(start + chunk, len(X))}/{len(X)} images")
    return np.concatenate(parts)


def _labels_for(model, ids):
    """Ids 0..6 as the model's label type: names if it predicts names."""
    classes = np.asarray(model.classes_)
    return emotion_names(ids).astype(str) if classes.dtype.kind in "UO" else ids


# ------------------------------------------------------------------ predict
STDIN = "-"


def collect_images(paths) -> list:
    """Image files from paths and folders (``-``: an image on stdin), in order.

    Files in a folder that are not images by their suffix are skipped, and
    a line on stderr says how many and which kinds."""
    files: list[Path | str] = []
    skipped: list[Path] = []
    for path in paths:
        if str(path) == STDIN:
            files.append(STDIN)
            continue
        path = Path(path)
        if path.is_dir():
            images, others = files_in(path)
            files.extend(images)
            skipped.extend(others)
        elif path.exists():
            files.append(path)
        else:
            raise FileNotFoundError(f"no such image or folder: {path}")
    if files.count(STDIN) > 1:
        raise UsageError("'-' (stdin) can be given only once")
    if skipped and Progress.enabled:
        kinds = sorted({p.suffix.lower() or p.name for p in skipped})
        shown = ", ".join(kinds[:6]) + (", …" if len(kinds) > 6 else "")
        s = "s" * (len(skipped) != 1)
        print(
            f"fercls: skipped {len(skipped)} file{s} that are not images ({shown})", file=sys.stderr
        )
    return files


def _read_input_image(source):
    """The image at a path, or the image piped to stdin for ``-``."""
    from .faces import read_image

    if source != STDIN:
        return read_image(source)
    data = sys.stdin.buffer.read(MAX_STDIN_BYTES + 1)
    if len(data) > MAX_STDIN_BYTES:
        raise ValueError(f"stdin: more than {MAX_STDIN_BYTES:,} bytes; not an image")
    return read_image(data, name="stdin")


MAX_STDIN_BYTES = 256 * 1024**2


def _annotation_names(files, folder: Path, inputs=()) -> dict:
    """One annotated file per input, never two inputs onto one name, and never
    the name of an input (or of another output) in ``inputs``."""
    taken = {Path(os.path.abspath(p)) for p in inputs}
    names: dict = {}
    for source in files:
        stem = "stdin" if source == STDIN else Path(source).stem
        name, n = folder / f"{stem}.annotated.png", 1
        while Path(os.path.abspath(name)) in taken:
            n += 1
            name = folder / f"{stem}-{n}.annotated.png"
        taken.add(Path(os.path.abspath(name)))
        names[source] = name
    return names


def run_predict(args) -> int:
    from .photos import class_names, detect_emotions_batch

    if args.annotate and args.whole_image:
        raise UsageError("--annotate draws detected faces; it cannot be used with --whole-image")
    files = collect_images(args.images)
    inputs = [f for f in files if f != STDIN] + [model_input(args.model)]
    if args.output:
        check_output(args.output, "-o/--output", inputs=inputs)
    annotated = {}
    if args.annotate:
        check_output(args.annotate, "--annotate", folder=True)
        annotated = _annotation_names(files, args.annotate, [*inputs, args.output or ""])
        for name in annotated.values():
            check_output(name, "--annotate", inputs=inputs)
    mode = "whole" if args.whole_image else "detect" if args.detect_faces else "auto"
    model = load_model(args.model, tta=args.tta, allow_pickle=args.allow_pickle)
    cropper = FaceCropper(detector=args.detector)
    results: list[dict] = []
    errors = 0
    # Photos are decoded a batch at a time and dropped once predicted (and
    # annotated): a folder of large photos never sits in memory whole.
    for batch in _decoded_batches(files):
        images = {source: item for source, item in batch if isinstance(item, np.ndarray)}
        faces = detect_emotions_batch(images.values(), model, faces=mode, cropper=cropper)
        found = dict(zip(images, faces, strict=True))
        for source, item in batch:
            name = STDIN if source == STDIN else str(source)
            if not isinstance(item, np.ndarray):
                errors += 1
                results.append({"file": name, "error": item})
                continue
            result: dict = {"file": name, "faces": found[source]}
            if args.annotate:
                _write_annotated(annotated[source], item, found[source])
                result["annotated"] = str(annotated[source])
            results.append(result)
    text = _format_predictions(results, args.format, class_names(model))
    if args.output:
        write_atomic(args.output, lambda path: Path(path).write_text(text))
        print(f"fercls: wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    _list_written([r["annotated"] for r in results if "annotated" in r], args.annotate)
    return 1 if errors else 0


def _list_written(paths, folder, most: int = 5) -> None:
    """Where the annotated images went, on stderr: each path, or a count beyond ``most``."""
    if len(paths) > most:
        print(f"fercls: wrote {len(paths)} annotated images in {folder}", file=sys.stderr)
        return
    for path in paths:
        print(f"fercls: wrote {path}", file=sys.stderr)


#: Decoded pixels (all channels) a batch of photos may hold before it is
#: predicted and released: about 150 MB as uint8.
BATCH_PIXELS = 150_000_000


def _decoded_batches(files, budget: int | None = None):
    """``(source, image)`` pairs in batches of at most ``budget`` pixels (one
    larger photo makes a batch of its own); a file that cannot be read is
    reported on stderr and comes as ``(source, message)``, and the others go on."""
    budget = BATCH_PIXELS if budget is None else budget
    batch: list = []
    pixels = 0
    for source in files:
        try:
            image = _read_input_image(source)
        except (ValueError, OSError) as exc:
            from .video import VIDEO_SUFFIXES

            message = _one_line(exc)
            if source != STDIN and Path(source).suffix.lower() in VIDEO_SUFFIXES:
                message = (
                    f"{source}: a video, not an image; for videos use "
                    f"`fercls video {source} --output annotated.mp4`"
                )
            print(f"fercls: error: {message}", file=sys.stderr)
            batch.append((source, message))
            continue
        if batch and pixels + image.size > budget:
            yield batch
            batch, pixels = [], 0
        batch.append((source, image))
        pixels += image.size
    if batch:
        yield batch


def _format_predictions(results, form: str, names) -> str:
    if form == "json":
        # Strict JSON: a NaN would make the file unreadable to other parsers
        # (models whose probabilities are not finite are refused at load).
        return json.dumps(results, indent=2, allow_nan=False) + "\n"
    out = io.StringIO()
    if form == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["file", "x", "y", "width", "height", "emotion", *names, "error"])
        for r in results:
            if "error" in r:
                writer.writerow([r["file"], *[""] * (5 + len(names)), r["error"]])
            elif not r["faces"]:
                writer.writerow([r["file"], *[""] * (5 + len(names)), "no face found"])
            for f in r.get("faces", []):
                probabilities = [f["probabilities"][n] for n in names]
                writer.writerow([r["file"], *f["box"], f["emotion"], *probabilities, ""])
        return out.getvalue()
    for r in results:
        if "error" in r:
            continue  # reported once, on stderr, when the file was read
        if not r["faces"]:
            out.write(f"{r['file']}: no face found\n")
        for f in r.get("faces", []):
            x, y, w, h = f["box"]
            top = ", ".join(
                f"{n} {p:.0%}"
                for n, p in sorted(f["probabilities"].items(), key=lambda kv: -kv[1])[:3]
            )
            out.write(f"{r['file']}: face at x={x} y={y} {w}x{h}: {f['emotion']} ({top})\n")
    return out.getvalue()


def _write_annotated(path: Path, image, faces) -> None:
    import cv2

    from .photos import annotate

    ok, encoded = cv2.imencode(".png", cv2.cvtColor(annotate(image, faces), cv2.COLOR_RGB2BGR))
    if not ok:
        raise CommandError(f"could not encode {path}")
    write_atomic(path, lambda temporary: Path(temporary).write_bytes(encoded.tobytes()))


def run_video(args) -> int:
    from .video import annotate_video, check_video_output

    if args.output is None and not args.show:
        raise CommandError("nothing to do: pass --output FILE and/or --show")
    if args.input is not None and not args.input.exists():
        raise FileNotFoundError(f"no such video: {args.input}")
    if args.output is not None:
        try:
            check_video_output(args.output)
        except ValueError as exc:
            raise UsageError(f"--output {exc}") from None
        check_output(args.output, "--output", inputs=[args.input, model_input(args.model)])
    source = args.webcam if args.webcam is not None else args.input
    stats = annotate_video(
        source,
        load_model(args.model, allow_pickle=args.allow_pickle),
        output=args.output,
        show=args.show,
        smoothing=args.smoothing,
        max_frames=args.max_frames,
        cropper=FaceCropper(detector=args.detector),
        detect_every=args.detect_every,
    )
    print(
        f"{stats['frames']} frames, {stats['faces']} faces, {stats['fps']:.1f} frames/s "
        f"(detection {stats['detect_seconds']:.1f} s, "
        f"classification {stats['classify_seconds']:.1f} s)"
    )
    if args.output:
        print(f"saved {args.output}")
    return 0


# ------------------------------------------------------------------- export
def run_export(args) -> int:
    from .export import SAVED_MODEL_FOLDER, export, labels_path

    if args.quantize and args.format != "tflite":
        raise UsageError(f"--quantize applies to --format tflite, not {args.format}")
    inputs = [model_input(args.model), args.data]
    if args.format == "saved_model":
        check_output(args.output, "--output", folder=True, inputs=inputs, kind=SAVED_MODEL_FOLDER)
    else:
        check_output(args.output, "--output", inputs=inputs)
        check_output(labels_path(args.output), "--output's labels file", inputs=inputs)
    representative = None
    if args.quantize == "int8":
        if args.data is None:
            raise CommandError("--quantize int8 needs --data: FER2013 images to calibrate on")
        from .datasets import load_fer2013

        data = load_fer2013(args.data)
        representative = data.data[np.asarray(data.usage) == "Training"]
        if not len(representative):
            raise CommandError(f"{args.data}: no Training images to calibrate on")
    labels = export(
        load_model(args.model, allow_pickle=args.allow_pickle),
        args.output,
        format=args.format,
        quantize=args.quantize,
        representative_data=representative,
    )
    size = sum(f.stat().st_size for f in _files(args.output))
    print(f"saved {args.output} ({size / 1e6:.1f} MB); outputs: {', '.join(map(str, labels))}")
    return 0


def _files(path: Path):
    return [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]


def reference_markdown() -> str:
    """The CLI reference page (``docs/cli.md``), generated from the parser itself,
    so every option the code accepts is documented and nothing else is."""
    # argparse wraps usage at the terminal's width; the page must not depend on it.
    width, os.environ["COLUMNS"] = os.environ.get("COLUMNS"), "100"
    try:
        parser = build_parser()
        return _reference(parser)
    finally:
        if width is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = width


def _reference(parser) -> str:
    commands = next(
        a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
    )  # argparse has no public accessor for subcommands
    helps = {c.dest: c.help for c in commands._choices_actions}
    lines = [
        "# Command line",
        "",
        "*Generated from the argument parser by `fercls.cli.reference_markdown()`; "
        "`tests/test_cli_reference.py` fails if this page and the code disagree.*",
        "",
        "`fercls` has one subcommand per job; each has `--help`. A failure prints one",
        "`fercls: error: …` line on stderr and exits with status 1; a usage error",
        "exits with status 2. TensorFlow's start-up messages are hidden unless `-v`.",
        "",
    ]
    for name, sub in commands.choices.items():
        lines += [f"## `fercls {name}`", "", f"{helps.get(name, '')}.", ""]
        if sub.description:
            lines += [sub.description, ""]
        lines += ["```text", sub.format_usage().strip(), "```", ""]
        lines += ["| option | meaning |", "|---|---|"]
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            names = ", ".join(f"`{o}`" for o in action.option_strings) or f"`{action.dest}`"
            text = (action.help or "") % {"default": action.default} if action.help else ""
            if action.choices:
                text += f" Choices: {', '.join(f'`{c}`' for c in action.choices)}."
            text = text.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {names} | {text.strip()} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
