"""What the subcommands share: errors and exit statuses, signals, the options
several commands take, where output goes, and progress on stderr."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from pathlib import Path

import numpy as np

from .._io import check_output_path, write_atomic
from ..classifier import TEST_TIME_AUGMENTATIONS
from ..faces import DETECTORS

MODEL_HELP = (
    ".fercls file or saved model folder (default: the bundled model); a .joblib/.pkl "
    "file only with --allow-pickle"
)


TTA_HELP = (
    "test-time augmentation: average the probabilities of several views of each image: "
    "the image and its mirror (flip) or an 11/12 central zoom and its mirror (zoom_flip), "
    "twice the prediction time; or five 11/12 crops and their mirrors (ten_crop, for "
    "models trained with crop augmentation), ten times"
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


# The terminations received inside terminations_as_interrupts, so one that
# library code swallowed (a bare ``except:`` catches it too) is raised again.
_received: list[int] = []


def _raise_terminated(signum, frame):
    _received.append(signum)
    raise Terminated(signum)


def raise_if_terminated() -> None:
    """Raise :class:`Terminated` again if a termination arrived and was swallowed
    on its way up: called between training steps and before an output is saved."""
    if _received:
        raise Terminated(_received[-1])


def termination_check():
    """A Keras callback calling :func:`raise_if_terminated` after every batch."""
    from keras.callbacks import Callback

    class _TerminationCheck(Callback):
        def on_train_batch_end(self, batch, logs=None):
            raise_if_terminated()

        def on_epoch_end(self, epoch, logs=None):
            raise_if_terminated()

    return _TerminationCheck()


@contextlib.contextmanager
def terminations_as_interrupts():
    """SIGTERM and SIGHUP raise :class:`Terminated` inside the block (in the
    main thread, where Python delivers signals); the old handlers come back after."""
    wanted = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received.clear()
    previous = {signum: signal.signal(signum, _raise_terminated) for signum in wanted}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _received.clear()


def one_line(exc: BaseException) -> str:
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


def add_allow_pickle_option(command):
    command.add_argument(
        "--allow-pickle",
        action="store_true",
        help="let --model read a .joblib/.pkl file. Pickles run code when loaded: "
        "use this only for files you made or trust",
    )


def add_model_options(command) -> None:
    """``--model`` and ``--allow-pickle``: the commands that read a model."""
    command.add_argument("--model", type=Path, help=MODEL_HELP)
    add_allow_pickle_option(command)


def add_tta_option(command):
    command.add_argument("--tta", choices=TEST_TIME_AUGMENTATIONS, help=TTA_HELP)


def _output_format(text: str) -> str:
    """argparse type of ``--format``: ``table``, the earlier name of ``text``
    (which was not a table), still works."""
    return "text" if text == "table" else text


def add_format_option(command, choices) -> None:
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


def add_detector_option(command) -> None:
    command.add_argument(
        "--detector",
        choices=DETECTORS,
        default=DETECTORS[0],
        help="face detector: mtcnn (finds tilted faces, levels the eyes) or haar "
        "(OpenCV's frontal cascade: faster, upright faces only) (default: %(default)s)",
    )


def check_output(path: Path, option: str, *, kind, folder: bool = False, inputs=()) -> None:
    """Refuse an output path that is, holds or replaces an input, replaces a
    file or folder fercls did not write as this ``kind`` of output, or is of
    the wrong type or not writable (:func:`fercls._io.check_output_path`): bad
    usage (exit status 2), caught before any work. ``kind`` is required, so no
    output option can forget it (None only for a folder written into, not
    replaced)."""
    try:
        check_output_path(path, option, folder=folder, inputs=inputs, kind=kind)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def model_input(path):
    """The model a command reads: ``--model``, or the bundled model's folder."""
    if path is not None:
        return path
    from ..pretrained import bundled_model_folder

    return bundled_model_folder()


def load_model(path, *, tta=None, allow_pickle=False):
    """``fercls.pretrained.load_model``, with ``--tta`` set on its classifier."""
    from ..pretrained import load_model as read

    return read(path, allow_pickle=allow_pickle, test_time_augmentation=tta)


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


def warn_if_collapsed(metrics) -> None:
    from ..evaluation import collapse_warning

    warning = collapse_warning(metrics)
    if warning:
        print(f"fercls: warning: {warning}", file=sys.stderr)
