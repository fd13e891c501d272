"""Emotions in photos in one call: a path or an array in, the faces out."""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np

from .faces import FaceCropper, read_image, to_gray

__all__ = [
    "detect_emotions",
    "detect_emotions_batch",
    "annotate",
    "FACE_MODES",
]

#: How a photo's faces are found: ``"auto"`` takes an image of exactly the
#: model's input size (a 48×48 face crop, as in FER2013) as one face and runs
#: the face detector on anything else; ``"detect"`` always runs the detector;
#: ``"whole"`` takes the whole image as the face, whatever its size.
FACE_MODES = ("auto", "detect", "whole")


_BUNDLED_LOCK = threading.Lock()


def _bundled_model():
    """The bundled model, loaded once per process even when threads ask at once."""
    with _BUNDLED_LOCK:
        return _load_bundled_model()


@lru_cache(maxsize=1)
def _load_bundled_model():
    from .pretrained import load_pretrained

    return load_pretrained()


def detect_emotions(image, model=None, *, faces="auto", cropper=None) -> list[dict]:
    """Every face in a photo with its box, emotion and named probabilities.

    The one-call API for photos, like ``FER().detect_emotions(img)`` of the
    ``fer`` package: no training and no data needed.

    Parameters
    ----------
    image : path or array of shape (h, w), (h, w, 3) or (h, w, 4)
        A photo file, or pixels (RGB order for colour arrays; 16-bit and
        float arrays are scaled by their range).
    model : fitted classifier or pipeline taking flat 48×48 uint8 pixels, optional
        Default: the bundled model (:func:`fercls.load_pretrained`), loaded
        once per process.
    faces : {"auto", "detect", "whole"}, default="auto"
        ``"auto"``: an image of exactly 48×48 is taken as one face crop, any
        other image goes through the face detector. ``"detect"``: always
        detect. ``"whole"``: the whole image is the face.
    cropper : FaceCropper, optional
        The detector and cropping settings (default ``FaceCropper()``).

    Returns
    -------
    list of dict
        One per face, largest first: ``box`` ``[x, y, width, height]`` in
        pixels, ``emotion`` (the most probable name) and ``probabilities``
        (name → probability, in the model's ``classes_`` order). An empty list
        when no face was found.

    Examples
    --------
    >>> import numpy as np, fercls
    >>> faces = fercls.detect_emotions(np.full((48, 48), 128, dtype=np.uint8))
    >>> faces[0]["box"], faces[0]["emotion"]
    ([0, 0, 48, 48], 'neutral')
    >>> fercls.detect_emotions(np.zeros((300, 300), dtype=np.uint8))  # no face in it
    []
    """
    return detect_emotions_batch([image], model, faces=faces, cropper=cropper)[0]


def detect_emotions_batch(images, model=None, *, faces="auto", cropper=None) -> list[list[dict]]:
    """:func:`detect_emotions` for many photos, with one prediction call for
    all their faces instead of one per photo.

    Parameters
    ----------
    images : iterable of paths or arrays
        Photos as :func:`detect_emotions` takes them.
    model, faces, cropper
        As for :func:`detect_emotions`.

    Returns
    -------
    list of list of dict
        For each photo, in order, its faces as :func:`detect_emotions` returns them.

    Examples
    --------
    >>> import numpy as np
    >>> from fercls.photos import detect_emotions_batch
    >>> gray = np.full((48, 48), 128, dtype=np.uint8)
    >>> [len(found) for found in detect_emotions_batch([gray, np.zeros((300, 300), np.uint8)])]
    [1, 0]
    """
    model = _bundled_model() if model is None else model
    found = [face_crops(image, faces=faces, cropper=cropper) for image in images]
    crops = [image_crops for _, image_crops in found if image_crops is not None]
    if not crops:
        return [[] for _ in found]
    proba = model.predict_proba(np.concatenate(crops))
    results, start = [], 0
    for boxes, _ in found:
        results.append(label_faces(boxes, proba[start : start + len(boxes)], model))
        start += len(boxes)
    return results


def face_crops(image, *, faces="auto", cropper=None) -> tuple[list, np.ndarray | None]:
    """The face boxes of one image and their 48×48 crops as flat uint8 rows
    (None when no face is found)."""
    if faces not in FACE_MODES:
        raise ValueError(f"faces={faces!r}; expected one of {list(FACE_MODES)}")
    cropper = cropper or FaceCropper()
    image = read_image(image)
    height, width = image.shape[:2]
    size = tuple(cropper.size)
    if faces == "whole" or (faces == "auto" and (height, width) == size):
        gray = to_gray(image)
        if (height, width) != size:
            gray = _resize(gray, size)
        return [[0, 0, int(width), int(height)]], gray.reshape(1, -1)
    found = cropper.locate(image)
    boxes = [[int(round(v)) for v in face[:4]] for face in found]
    crops = cropper.crops(image, found).reshape(len(found), -1) if boxes else None
    return boxes, crops


def _resize(gray, size):
    """``gray`` resized to ``size`` (height, width): area averaging to shrink."""
    import cv2

    interpolation = cv2.INTER_AREA if gray.shape[0] > size[0] else cv2.INTER_LINEAR
    return cv2.resize(gray, size[::-1], interpolation=interpolation)


def class_names(model) -> list[str]:
    """The model's classes as emotion names, in ``classes_`` order (challenge
    ids 0..6 become their names)."""
    from .labels import class_names as names_of

    return names_of(model.classes_)


def label_faces(boxes, proba, model) -> list[dict]:
    """Boxes and their probability rows as ``detect_emotions`` dicts."""
    names = class_names(model)
    return [
        {
            "box": [int(v) for v in box],
            "emotion": names[int(row.argmax())],
            "probabilities": {n: round(float(p), 4) for n, p in zip(names, row, strict=True)},
        }
        for box, row in zip(boxes, proba, strict=True)
    ]


def annotate(image, faces) -> np.ndarray:
    """A copy of ``image`` as RGB uint8 with each face drawn on it: its box and
    its "emotion 87%" label, coloured by emotion.

    Parameters
    ----------
    image : path or array
        The photo, as :func:`detect_emotions` takes it.
    faces : list of dict
        Its faces, as :func:`detect_emotions` returns them.

    Examples
    --------
    >>> import numpy as np
    >>> from fercls.photos import annotate
    >>> face = {"box": [4, 10, 20, 20], "emotion": "happy", "probabilities": {"happy": 0.9}}
    >>> annotate(np.zeros((48, 48), np.uint8), [face]).shape
    (48, 48, 3)
    """
    import cv2

    from .drawing import Face, draw_faces

    image = read_image(image)
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR if image.ndim == 3 else cv2.COLOR_GRAY2BGR)
    draw_faces(bgr, [Face(tuple(f["box"]), f["emotion"], f["probabilities"]) for f in faces])
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
