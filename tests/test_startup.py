"""TensorFlow starts without its start-up lines on stderr (fercls._startup)."""

import os
import subprocess
import sys

import pytest

from fercls._startup import CONVERTER_NOISE, _is_noise, stderr_without

# Lines TensorFlow 2.21 printed at start-up on a machine without a GPU.
START_UP_LINES = [
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    b"I0000 00:00:1796475729.500499   25273 port.cc:153] oneDNN custom operations are on. "
    b"You may see slightly different numerical results.",
    b"I0000 00:00:1796475729.500945   25273 cudart_stub.cc:31] Could not find cuda drivers "
    b"on your machine, GPU will not be used.",
    b"I0000 00:00:1796475729.616683   25273 cpu_feature_guard.cc:227] This TensorFlow binary "
    b"is optimized to use available CPU instructions in performance-critical operations.",
    b"To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild "
    b"TensorFlow with the appropriate compiler flags.",
    b"E0000 00:00:1796475733.585581   25273 cuda_platform.cc:52] failed call to cuInit: "
    b"INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
]


@pytest.mark.parametrize("line", START_UP_LINES)
def test_start_up_lines_are_noise(line):
    assert _is_noise(line + b"\n")


@pytest.mark.parametrize(
    "line",
    [
        b"E0000 00:00:1796475733.585581   25273 op_kernel.cc:1830] OP_REQUIRES failed: OOM",
        b"/x/keras/src/layers/core.py:12: UserWarning: Do not pass an `input_shape`",
        b"Traceback (most recent call last):",
    ],
)
def test_other_lines_are_kept(line):
    assert not _is_noise(line + b"\n")


def test_captured_lines_other_than_noise_come_back(capfd):
    with stderr_without():
        os.write(2, START_UP_LINES[0] + b"\n")
        os.write(2, b"a warning of the user's own\n")
        os.write(2, START_UP_LINES[-1] + b"\n")
    assert capfd.readouterr().err == "a warning of the user's own\n"


PREDICT_ON_A_PHOTO = """
import numpy as np, fercls
from skimage import data
print(fercls.detect_emotions(data.astronaut())[0]["emotion"])
"""


def _fresh_python(code, **env):
    environ = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow  # starts a Python process that imports TensorFlow
def test_a_fresh_python_prints_nothing_on_stderr():
    done = _fresh_python(PREDICT_ON_A_PHOTO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "happy"
    assert done.stderr == ""


@pytest.mark.slow  # starts a Python process that imports TensorFlow
def test_a_log_level_the_user_set_is_left_alone():
    code = "import os, fercls; fercls.load_pretrained(); print(os.environ['TF_CPP_MIN_LOG_LEVEL'])"
    done = _fresh_python(code, TF_CPP_MIN_LOG_LEVEL="0")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"
    # TensorFlow 2.21 prints its start-up lines at level 0: nothing was captured.
    assert "I0000" in done.stderr or "WARNING: All log messages" in done.stderr, done.stderr


def test_the_converters_quantization_line_is_dropped(capfd):
    with stderr_without(CONVERTER_NOISE):
        os.write(
            2,
            b"fully_quantize: 0, inference_type: 6, input_inference_type: FLOAT32, "
            b"output_inference_type: FLOAT32\n",
        )
        os.write(2, b"a real problem\n")
    assert capfd.readouterr().err == "a real problem\n"
