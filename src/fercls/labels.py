"""The seven FER2013 emotions and the mapping between challenge ids and names."""

from __future__ import annotations

import numpy as np

__all__ = [
    "EMOTIONS",
    "PROBABILITY_ORDER",
    "emotion_ids",
    "emotion_names",
    "class_names",
]

#: Emotion names in the order of the FER2013 challenge ids 0..6 (``EMOTIONS[id]``).
#: Not the order of probability columns: those follow a model's ``classes_``.
EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

#: The one order of every fercls output that carries probabilities for the seven
#: emotions by name: ``predict_proba`` columns (scikit-learn sorts ``classes_``),
#: the CLI's JSON and CSV, ``metrics.json``, and the exported networks' outputs.
#: ``dict(zip(fercls.PROBABILITY_ORDER, load_pretrained().predict_proba(X)[0]))``
#: is right; ``zip(fercls.EMOTIONS, ...)`` is not.
PROBABILITY_ORDER: tuple[str, ...] = tuple(sorted(EMOTIONS))

_NAME_TO_ID = {name: i for i, name in enumerate(EMOTIONS)}


def emotion_ids(names) -> np.ndarray:
    """Map emotion names (case-insensitive) to challenge ids 0..6.

    Parameters
    ----------
    names : iterable of str
        Emotion names such as ``"happy"``.

    Returns
    -------
    ndarray of int64

    Examples
    --------
    >>> emotion_ids(["happy", "Angry"]).tolist()
    [3, 0]
    """
    ids = []
    for row, name in enumerate(names):
        key = str(name).strip().lower()
        if key not in _NAME_TO_ID:
            raise ValueError(
                f"row {row}: unknown emotion {name!r}; expected one of {', '.join(EMOTIONS)}"
            )
        ids.append(_NAME_TO_ID[key])
    return np.asarray(ids, dtype=np.int64)


def emotion_names(ids) -> np.ndarray:
    """Map challenge ids 0..6 to emotion names.

    Examples
    --------
    >>> emotion_names([3, 6]).tolist()
    ['happy', 'neutral']
    """
    ids = np.asarray(ids)
    if ids.size and (not np.issubdtype(ids.dtype, np.integer) or ids.min() < 0 or ids.max() > 6):
        raise ValueError(f"emotion ids must be integers 0..6, got {ids!r}")
    return np.asarray(EMOTIONS, dtype=object)[ids]


def class_names(classes) -> list[str]:
    """A model's ``classes_`` as emotion names, in their order: challenge ids
    0..6 become names, names stay as they are.

    Examples
    --------
    >>> class_names([0, 3]), class_names(["happy", "sad"])
    (['angry', 'happy'], ['happy', 'sad'])
    """
    return [EMOTIONS[int(c)] if isinstance(c, (int, np.integer)) else str(c) for c in classes]
