"""Follow faces between two video frames without running the face detector.

A slow detector (MTCNN) runs only every few frames; in between, each face's
patch from the previous frame is looked for near its last place in the new
one (normalised cross-correlation on a downscaled grayscale copy) and its box
and landmarks move by the shift found. A face whose patch no longer matches is
dropped until the next detection.
"""

from __future__ import annotations

import numpy as np

# The template's longer side after downscaling: big enough to match a face,
# small enough that matching costs well under a millisecond.
TEMPLATE_SIDE = 32
# Look for the face this far around its last box, as a fraction of its size:
# at 25 frames/s a face rarely moves half its width between frames.
SEARCH_MARGIN = 0.5
# Below this correlation the patch is taken as lost (occluded, left the frame).
MIN_SCORE = 0.4


def follow_faces(previous_gray: np.ndarray, gray: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """The rows of ``faces`` (``x, y, w, h`` then landmarks, as
    ``FaceCropper.locate`` returns them) moved from ``previous_gray`` to
    ``gray``; faces that cannot be matched are left out."""
    faces = np.asarray(faces, dtype=np.float64)
    moved = [row for row in (_follow_one(previous_gray, gray, f) for f in faces) if row is not None]
    return np.asarray(moved, dtype=np.float64).reshape(-1, faces.shape[1])


def _follow_one(previous_gray, gray, face):
    import cv2

    height, width = gray.shape
    x, y, w, h = (int(round(v)) for v in face[:4])
    x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    dx, dy = int(w * SEARCH_MARGIN), int(h * SEARCH_MARGIN)
    sx0, sy0 = max(0, x0 - dx), max(0, y0 - dy)
    sx1, sy1 = min(width, x1 + dx), min(height, y1 + dy)
    scale = min(1.0, TEMPLATE_SIDE / max(x1 - x0, y1 - y0))
    template = _shrink(previous_gray[y0:y1, x0:x1], scale)
    window = _shrink(gray[sy0:sy1, sx0:sx1], scale)
    too_big = any(t > s for t, s in zip(template.shape, window.shape, strict=True))
    if too_big or template.std() < 1 or window.std() < 1:
        return None  # a flat patch matches anywhere, and nothing matches a flat window
    scores = cv2.matchTemplate(window, template, cv2.TM_CCOEFF_NORMED)
    _, best, _, (mx, my) = cv2.minMaxLoc(scores)
    if best < MIN_SCORE:
        return None
    shift = np.array([sx0 + mx / scale - x0, sy0 + my / scale - y0])
    moved = np.array(face, dtype=np.float64)
    moved[0:2] += shift
    moved[4::2] += shift[0]
    moved[5::2] += shift[1]
    return moved


def _shrink(patch, scale):
    import cv2

    if scale >= 1.0:
        return patch
    size = (max(1, round(patch.shape[1] * scale)), max(1, round(patch.shape[0] * scale)))
    return cv2.resize(patch, size, interpolation=cv2.INTER_AREA)
