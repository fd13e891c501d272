"""TensorFlow started without its start-up chatter on stderr.

On a machine without a GPU, the first ``import tensorflow`` and its first device
probe print up to ten lines from C++ straight to file descriptor 2: absl's
"log messages before InitializeLog" notice, oneDNN and CPU-feature notes, and
``E0000 ... failed call to cuInit``, which reads as a failure but only means
"no GPU". ``TF_CPP_MIN_LOG_LEVEL`` cannot silence the first ones (they are
written before TensorFlow reads it), so the descriptor itself is captured while
TensorFlow starts, those known lines are dropped, and every other line (a
Python warning, a real error, another thread's output) is written back.

A user who has set ``TF_CPP_MIN_LOG_LEVEL`` has chosen TensorFlow's logging
themselves: then nothing is captured and nothing is changed.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading

from ._threads import share_threads_with_tensorflow

# glog-formatted INFO/WARNING lines: "I0000 00:00:1796475729.5  25273 port.cc:153] ...".
_GLOG_INFO = rb"[IW]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] .*"

# TensorFlow's start-up lines: the absl notice, INFO/WARNING lines, the ERROR
# lines that only report a missing GPU, and the CPU-feature note's second line.
_NOISE = re.compile(
    rb"^(?:"
    rb"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|" + _GLOG_INFO + rb""
    rb"|E\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] .*(?:cuInit|CUDA|cuda|GPU).*"
    rb"|To enable the following instructions: .* rebuild TensorFlow with the appropriate"
    rb" compiler flags\."
    rb")\r?$"
)

# What TensorFlow Lite's converter prints from C++ on every quantised conversion.
CONVERTER_NOISE = re.compile(
    rb"^(?:fully_quantize: \d+, inference_type: .*|" + _GLOG_INFO + rb")\r?$"
)

_LOCK = threading.Lock()


def import_keras():
    """Import Keras on first use, so ``import fercls`` stays framework-free and fast.

    TensorFlow starts first, quietly and with its thread share.
    """
    start_tensorflow()
    import keras

    return keras


def start_tensorflow(log_level: str = "2") -> None:
    """Import TensorFlow (once) with the settings it reads when it starts.

    Inside joblib/Dask workers the thread share applies (``fercls._threads``).
    Unless ``TF_CPP_MIN_LOG_LEVEL`` is set, it becomes ``log_level`` (``"2"``:
    TensorFlow's warnings and errors; the CLI asks for ``"3"``) and the
    start-up lines are kept off stderr.
    """
    if "tensorflow" in sys.modules:  # started already, by us or the user: no lock needed
        return
    with _LOCK:
        if "tensorflow" in sys.modules:  # another thread started it meanwhile
            return
        share_threads_with_tensorflow()
        if "TF_CPP_MIN_LOG_LEVEL" in os.environ:
            _import_and_probe()
            return
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = log_level
        with stderr_without():
            _import_and_probe()


def _import_and_probe() -> None:
    import tensorflow as tf

    tf.config.list_physical_devices()  # the CUDA probe prints here, not later


@contextlib.contextmanager
def stderr_without(noise=_NOISE):
    """Descriptor 2 goes to a temporary file inside the block; afterwards its
    lines come back to stderr, except those ``noise`` (a bytes pattern) matches:
    the known start-up lines by default."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().splitlines(True) if not _is_noise(line, noise)]
            if kept:
                os.write(2, b"".join(kept))


def _is_noise(line: bytes, noise=_NOISE) -> bool:
    return noise.match(line.rstrip(b"\n")) is not None
