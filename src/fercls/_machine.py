"""The machine code runs on: CPU model and instruction-set flags, and the device
TensorFlow computes on. ``precision="auto"`` reads the flags; the scripts in
``benchmarks/`` and ``training/`` record all three beside their figures."""

from __future__ import annotations

import os
import platform
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")


def cpu_flags() -> set:
    """The CPU's instruction-set flags (``avx512_bf16``, ``amx_bf16``, …); empty
    where /proc/cpuinfo does not exist."""
    for line in _cpuinfo_lines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_name() -> str:
    """The CPU model, from /proc/cpuinfo where there is one."""
    for line in _cpuinfo_lines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "CPU"


def describe_device() -> str:
    """``"CPU: <model>, <n> cores"``, or the GPUs TensorFlow sees (starts TensorFlow)."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return "GPU: " + ", ".join(
            tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus
        )
    return f"CPU: {cpu_name()}, {os.cpu_count()} cores"


def _cpuinfo_lines() -> list[str]:
    try:
        return CPUINFO.read_text().splitlines()
    except OSError:
        return []
