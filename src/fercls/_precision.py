"""Compute precision: what ``precision="auto"`` means here, and building under a policy."""

from __future__ import annotations

from contextlib import contextmanager

from ._machine import cpu_flags
from ._startup import import_keras


def resolve_precision(precision: str) -> str:
    """``"auto"``: ``"mixed_bfloat16"`` where the CPU computes bfloat16 natively
    (``avx512_bf16`` or ``amx_bf16``) and no GPU is visible, else ``"float32"``.
    Any other value is returned as it is."""
    if precision != "auto":
        return precision
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return "float32"
    return "mixed_bfloat16" if cpu_flags() & {"avx512_bf16", "amx_bf16"} else "float32"


@contextmanager
def dtype_policy(name):
    """Build layers under Keras's global dtype policy ``name``, then restore it."""
    keras = import_keras()
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
