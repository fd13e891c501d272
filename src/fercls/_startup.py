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

import os
import re
import sys
import tempfile
import threading

from ._threads import share_threads_with_tensorflow

# glog-formatted INFO/WARNING lines ("I0000 00:00:...  file.cc:12] ...") and the
# ERROR lines that only report a missing GPU.
_NOISE = re.compile(
    rb"^(?:"
    rb"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|[IW]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] .*"
    rb"|E\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] .*(?:cuInit|CUDA|cuda|GPU).*"
    rb"|To enable the following instructions: .* rebuild TensorFlow with the appropriate"
    rb" compiler flags\."
    rb")\r?$"
)

# What TensorFlow Lite's converter prints from C++ on every quantised conversion.
CONVERTER_NOISE = re.compile(
    rb"^(?:fully_quantize: \d+, inference_type: .*|[IW]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] .*)\r?$"
)

_LOCK = threading.Lock()


def start_tensorflow(log_level: str = "2") -> None:
    """Import TensorFlow (once) with the settings it reads when it starts.

    Inside joblib/Dask workers the thread share applies (``fercls._threads``).
    Unless ``TF_CPP_MIN_LOG_LEVEL`` is set, it becomes ``log_level`` (``"2"``:
    TensorFlow's warnings and errors; the CLI asks for ``"3"``) and the
    start-up lines are kept off stderr.
    """
    with _LOCK:
        if "tensorflow" in sys.modules:  # started already, by us or the user
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


class stderr_without:
    """Descriptor 2 goes to a temporary file inside the block; afterwards its
    lines come back to stderr, except those ``noise`` (a bytes pattern) matches:
    the known start-up lines by default."""

    def __init__(self, noise=_NOISE):
        self.noise = noise

    def __enter__(self):
        sys.stderr.flush()
        self._saved = os.dup(2)
        self._capture = tempfile.TemporaryFile()
        os.dup2(self._capture.fileno(), 2)
        return self

    def __exit__(self, *exc_info):
        try:
            sys.stderr.flush()
        finally:
            os.dup2(self._saved, 2)
            os.close(self._saved)
        self._capture.seek(0)
        lines = self._capture.read().splitlines(True)
        kept = [line for line in lines if not self.noise.match(line.rstrip(b"\n"))]
        self._capture.close()
        if kept:
            os.write(2, b"".join(kept))
        return False


def _is_noise(line: bytes) -> bool:
    return _NOISE.match(line.rstrip(b"\n")) is not None
