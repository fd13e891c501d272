"""Draw faces on a picture: a box and an "emotion 87%" label per face, coloured by emotion.

Shared by photos (:func:`fercls.photos.annotate`) and video
(:func:`fercls.video.annotate_video`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Face", "draw_faces", "label_place"]

_COLOURS = {  # BGR, for OpenCV drawing
    "angry": (40, 40, 220),
    "disgust": (40, 140, 40),
    "fear": (160, 60, 160),
    "happy": (40, 200, 240),
    "sad": (200, 120, 40),
    "surprise": (40, 160, 255),
    "neutral": (200, 200, 200),
}


# The label's font scale, smallest and largest (OpenCV's Hershey font; 0.3 is
# about 7 pixels high, the smallest that reads).
LABEL_SCALE = (0.3, 1.2)
_FONT = 0  # cv2.FONT_HERSHEY_SIMPLEX, without importing OpenCV here


@dataclass
class Face:
    """One detected face: its box, predicted emotion and probabilities."""

    box: tuple
    emotion: str
    probabilities: dict


def draw_faces(frame_bgr: np.ndarray, faces: list[Face], caption: str | None = None) -> np.ndarray:
    """Draw boxes and 'emotion 87%' labels on a BGR frame (in place) and return it.

    Each label is sized to its box and kept inside the picture: above the box
    where there is room, else inside its top edge, shifted left at the right
    border and shrunk when the picture is narrower than the label.
    """
    import cv2

    for face in faces:
        x, y, w, h = face.box
        colour = _COLOURS.get(face.emotion, (0, 255, 0))
        cv2.rectangle(frame_bgr, (x, y), (x + w, y + h), colour, max(1, min(w, h) // 60))
        label = f"{face.emotion} {face.probabilities[face.emotion]:.0%}"
        _draw_label(frame_bgr, label, face.box, colour)
    if caption:
        cv2.putText(
            frame_bgr,
            caption,
            (8, 22),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.6,
            (255, 255, 255),
            2,
            cv2.LINE_AA,
        )
        cv2.putText(
            frame_bgr, caption, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA
        )
    return frame_bgr


def _draw_label(frame_bgr, label, box, colour) -> None:
    import cv2

    left, top, right, bottom, scale, thickness = label_place(label, box, frame_bgr.shape)
    cv2.rectangle(frame_bgr, (left, top), (right, bottom), colour, -1)
    (_, text_height), _ = cv2.getTextSize(label, _FONT, scale, thickness)
    baseline = (left + 2, top + text_height + 2)
    cv2.putText(frame_bgr, label, baseline, _FONT, scale, (0, 0, 0), thickness, cv2.LINE_AA)


def label_place(label: str, box, shape) -> tuple:
    """Where a face's label goes: ``left, top, right, bottom`` of its
    background in pixels, its font scale and thickness. As wide as the box
    within readable bounds, never wider than the picture; above the box where
    there is room, else inside its top edge; always inside the picture."""
    import cv2

    height, width = shape[:2]
    x, y, w, _ = box
    (unit_width, _), _ = cv2.getTextSize(label, _FONT, 1.0, 1)
    scale = min(max(w / unit_width, LABEL_SCALE[0]), LABEL_SCALE[1], (width - 5) / unit_width)
    thickness = 2 if scale >= 0.9 else 1
    (text_width, text_height), base = cv2.getTextSize(label, _FONT, scale, thickness)
    if text_width + 5 > width:  # the font's widths do not scale exactly
        scale *= (width - 5) / text_width
        (text_width, text_height), base = cv2.getTextSize(label, _FONT, scale, thickness)
    label_width, label_height = text_width + 4, text_height + base + 4
    top = y - label_height if y >= label_height else max(0, y)
    top = max(0, min(top, height - 1 - label_height))
    left = max(0, min(x, width - 1 - label_width))
    return left, top, left + label_width, top + label_height, scale, thickness
