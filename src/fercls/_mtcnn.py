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


def detect_mtcnn(
    rgb: np.ndarray, smallest: int, min_confidence: float, tilts: tuple = ()
) -> np.ndarray:
    """Faces in an RGB uint8 image as rows of ``x, y, w, h`` followed by the
    five landmarks (left eye, right eye, nose, mouth left, mouth right; x, y
    each, image-left first), in the image's pixels.

    MTCNN finds heads tilted up to about 20 degrees; each angle in ``tilts``
    searches the image once more, turned by that angle, and its faces are
    turned back. A face found in several searches is kept from the one where
    it looked most upright, where MTCNN's box and landmarks are most accurate.

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
    found = [_search(small, 0.0, min_confidence)]
    found += [_search(small, float(angle), min_confidence) for angle in tilts if angle]
    rows = _most_upright_of_overlapping(np.concatenate(found))[:, :14] / scale
    keep = np.minimum(rows[:, 2], rows[:, 3]) >= smallest
    return rows[keep]


def _search(rgb, angle, min_confidence) -> np.ndarray:
    """Faces in ``rgb`` turned by ``angle`` degrees (on a canvas large enough
    to hold all of it), in ``rgb``'s pixels, with a 15th column: how far the
    eye line was from level in the searched image, in degrees."""
    import cv2

    matrix = None
    image = rgb
    if angle:
        height, width = rgb.shape[:2]
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
        cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
        size = (int(np.ceil(width * cos + height * sin)), int(np.ceil(width * sin + height * cos)))
        matrix[:, 2] += (np.array(size) - (width, height)) / 2
        image = cv2.warpAffine(rgb, matrix, size, flags=cv2.INTER_LINEAR)
    with _LOCK:  # one detector per process; its Keras stages are not shared across threads
        faces = _detector().detect_faces(image, min_face_size=SMALLEST_FACE)
    rows = np.asarray(
        [
            [
                *face["box"],
                *(v for name in _LANDMARKS for v in face["keypoints"][name]),
                0.0,
            ]
            for face in faces
            if face["confidence"] >= min_confidence
        ],
        dtype=np.float64,
    ).reshape(-1, 15)
    eyes = rows[:, 6:8] - rows[:, 4:6]
    rows[:, 14] = np.abs(np.degrees(np.arctan2(eyes[:, 1], eyes[:, 0])))
    if matrix is not None and len(rows):
        back = cv2.invertAffineTransform(matrix)
        centres = rows[:, 0:2] + rows[:, 2:4] / 2
        rows[:, 0:2] = _apply(back, centres) - rows[:, 2:4] / 2
        for column in range(4, 14, 2):
            rows[:, column : column + 2] = _apply(back, rows[:, column : column + 2])
        rows = _left_eye_first(rows)
    return rows


def _apply(matrix, points):
    return points @ matrix[:, :2].T + matrix[:, 2]


def _left_eye_first(rows):
    """Turned back by a large angle, the eye MTCNN called left can be the
    image-right one: keep the image-left eye (and mouth corner) first."""
    swap = rows[:, 4] > rows[:, 6]
    for a, b in ((4, 6), (5, 7), (10, 12), (11, 13)):
        rows[swap, a], rows[swap, b] = rows[swap, b], rows[swap, a].copy()
    return rows


def _most_upright_of_overlapping(rows, overlap=0.3) -> np.ndarray:
    """Rows from the most level eye line up, dropping any whose box overlaps a
    row kept before it (IoU > overlap)."""
    rows = rows[np.argsort(rows[:, 14], kind="stable")]
    kept: list[np.ndarray] = []
    for row in rows:
        if all(_iou(row[:4], other[:4]) <= overlap for other in kept):
            kept.append(row)
    return np.asarray(kept, dtype=np.float64).reshape(-1, 15)


def _iou(a, b) -> float:
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)
