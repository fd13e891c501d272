"""The one training recipe that ``fercls train`` and ``training/fer2013_accuracy.py``
share, so a change to a default cannot leave one of them behind.

It is the estimator's own defaults with two changes that a run under FER2013's
protocol (train on Training, select on PublicTest) calls for: the CPU-sized
``vgg_small`` network, and a cosine decay of the learning rate over the run,
whose length (epochs, or minutes in the script's budget mode) is known before
it starts. ``FERClassifier`` itself keeps ``"adaptive"``, which suits fits of
unknown length.
"""

from __future__ import annotations

from .classifier import FERClassifier

#: What a protocol run changes from ``FERClassifier()``'s defaults.
PROTOCOL_CHANGES = {"architecture": "vgg_small", "learning_rate": "cosine"}


def protocol_params(**overrides) -> dict:
    """``FERClassifier`` parameters of a protocol run: the estimator's defaults,
    :data:`PROTOCOL_CHANGES`, then ``overrides``."""
    return {**FERClassifier().get_params(), **PROTOCOL_CHANGES, **overrides}
