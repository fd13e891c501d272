"""Traced inference and the retracing warning fercls expects from itself."""

from __future__ import annotations

import contextvars
import logging
from contextlib import contextmanager

_RETRACING_EXPECTED = contextvars.ContextVar("fercls_retracing_expected", default=False)


class _ExpectedRetracingFilter(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warning while fercls
    itself is training or predicting: every new network (each fold of a grid
    search) traces its own functions once, which is what the warning counts.
    The same warning from the user's own code still shows."""

    def filter(self, record):
        return not (_RETRACING_EXPECTED.get() and "tf.function retracing" in record.getMessage())


_RETRACING_FILTER = _ExpectedRetracingFilter()


@contextmanager
def expected_retracing():
    logger = logging.getLogger("tensorflow")
    if _RETRACING_FILTER not in logger.filters:
        logger.addFilter(_RETRACING_FILTER)
    token = _RETRACING_EXPECTED.set(True)
    try:
        yield
    finally:
        _RETRACING_EXPECTED.reset(token)


def traced_forward(model):
    """The model's inference pass as a tf.function, traced once per model.

    Calling a Keras model eagerly dispatches every layer from Python: 23 ms for
    one image through vgg_small here, against 2.8 ms traced. The function is
    cached on the Keras model (it is not part of what Keras saves or pickles),
    so predicting leaves the estimator's own state untouched.
    """
    forward = getattr(model, "_fercls_forward", None)
    if forward is None:
        import tensorflow as tf

        spec = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)
        forward = tf.function(lambda x: model(x, training=False), input_signature=[spec])
        model._fercls_forward = forward
    return forward
