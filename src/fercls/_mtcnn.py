"""Faces and their five landmarks from MTCNN (the ``mtcnn`` package, MIT licence).

MTCNN's weights ship inside its wheel, so nothing is downloaded. Two things of
``mtcnn`` 1.0.0 are worked around here:

- It looks for its weight files (joblib pickles) in the current directory
  before its own assets, so a ``pnet.lz4`` planted in the working directory
  would be unpickled. The stages are given the absolute paths of the installed
  assets instead.
- With ``min_face_size`` above ~20 its image pyramid shrinks the image below
  PNet's 12-pixel window and the whole call returns no face (measured: the
  astronaut's face is found with 20, lost with 24 or more). So detection
  always runs with 20, on an image shrunk until the smallest wanted face is
  20 pixels, which finds the same faces faster.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np

# MTCNN's smallest reliable face with its default pyramid (see the module docs).
SMALLEST_FACE = 20
_LANDMARKS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _detector():
    from ._startup import start_tensorflow

    start_tensorflow()
    try:
        from importlib.resources import files

        from mtcnn import MTCNN
        from mtcnn.stages import StageONet, StagePNet, StageRNet
    except ImportError as exc:  # pragma: no cover - dependency
        raise ImportError('detector="mtcnn" needs the mtcnn package (pip install mtcnn)') from exc
    weights = files("mtcnn.assets.weights")
    stages = [
        stage(weights=str(weights / name))
        for stage, name in (
            (StagePNet, "pnet.lz4"),
            (StageRNet, "rnet.lz4"),
            (StageONet, "onet.lz4"),
        )
    ]
    return MTCNN(stages=stages)


def detect_mtcnn(rgb: np.ndarray, smallest: int, min_confidence: float) -> np.ndarray:
    """Faces in an RGB uint8 image as rows of ``x, y, w, h`` followed by the
    five landmarks (left eye, right eye, nose, mouth left, mouth right; x, y
    each, image-left first), in the image's pixels.

    Returns
    -------
    ndarray of shape (n_faces, 14), float64
    """
    import cv2

    scale = min(1.0, SMALLEST_FACE / max(smallest, 1))
    small = rgb
    if scale < 1.0:
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    with _LOCK:  # one detector per process; its Keras stages are not shared across threads
        found = _detector().detect_faces(small, min_face_size=SMALLEST_FACE)
    listed = [
        [*face["box"], *(v for name in _LANDMARKS for v in face["keypoints"][name])]
        for face in found
        if face["confidence"] >= min_confidence
    ]
    rows = np.asarray(listed, dtype=np.float64).reshape(-1, 14) / scale
    keep = np.minimum(rows[:, 2], rows[:, 3]) >= smallest
    return rows[keep]
