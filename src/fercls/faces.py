"""Face detection and cropping for photos and video frames.

Two detectors, both offline:

- ``"mtcnn"`` (the default; the ``mtcnn`` package, weights inside its wheel)
  finds faces with five landmarks. MTCNN by itself finds heads tilted up to
  about 20 degrees, so the image is also searched turned by -40 and +40
  degrees (``tilts``). Each face is turned so its eyes are level and cropped
  with FER2013's framing, measured from the landmarks
  (``benchmarks/face_crop_margin.py --detector mtcnn``): the frame's side is
  set by the eye distance and the eye-to-mouth distance, its centre sits below
  the eyes. Tilted heads keep their framing.
- ``"haar"``: OpenCV's 2001 frontal-face cascade, which ships inside
  ``opencv-python-headless`` (4.x): faster, upright faces only, and more false
  faces. FER2013's own crops match its boxes (``benchmarks/face_crop_margin.py``:
  the median box covers 98.4 % of FER's frame, centred), so faces are cropped
  at the box, upright, with no margin.

Why MTCNN is the default is measured in ``benchmarks/hard_faces.py`` (see the
faces guide). Crops are grayscale, 48×48 by default.
"""

from __future__ import annotations

import io
import math
import warnings
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions

from ._images import pil_to_array, scale_to_uint8
from ._mtcnn import SMALLEST_FACE, detect_mtcnn

__all__ = [
    "FaceCropper",
    "read_image",
    "haar_cascade",
    "DETECTORS",
]

#: The face detectors :class:`FaceCropper` offers.
DETECTORS = ("mtcnn", "haar")

CASCADE = "haarcascade_frontalface_default.xml"
#: The cascade's detection window, in pixels: it finds no smaller face.
HAAR_WINDOW = 24
# The largest crop side FaceCropper makes (FER2013's is 48).
MAX_CROP_SIDE = 1024
# Refuse to decode photos above this many pixels (decompression bombs).
MAX_IMAGE_PIXELS = 64_000_000

# FER2013's framing in units of its frame side, measured with MTCNN's landmarks
# on 1,500 upscaled training images (benchmarks/face_crop_margin.py --detector
# mtcnn; benchmarks/results/face_framing.json): medians of the eye distance,
# the eye-midpoint-to-mouth-midpoint distance, and how far the frame's centre
# lies below the eye midpoint.
EYE_DISTANCE = 0.365
EYE_TO_MOUTH = 0.396
CENTRE_BELOW_EYES = 0.115


def _decode(file, name: str) -> np.ndarray:
    """Decode an image file (a path or a binary file object) with PIL, size-checked
    first, and turned upright as its EXIF orientation says (phones store photos
    sideways with an Orientation tag). Never cached: a file can change between calls."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        # PIL warns about huge images when opening; the size check below refuses them.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image_file = Image.open(file)
        with image_file as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise ValueError(
                    f"{name}: {image.width}x{image.height} is too large "
                    f"(limit {MAX_IMAGE_PIXELS:,} pixels)"
                )
            upright = ImageOps.exif_transpose(image)
            return pil_to_array(upright, gray=upright.mode in ("1", "L", "LA"))
    except UnidentifiedImageError:
        # PIL's own message names its file object ("<_io.BytesIO object at 0x…>").
        raise ValueError(
            f"{name}: not a readable image (no image format Pillow reads recognises it)"
        ) from None
    except (Image.DecompressionBombError, SyntaxError) as exc:
        raise ValueError(f"{name}: not a readable image ({exc})") from None
    except OSError as exc:
        raise ValueError(f"{name}: could not read image ({exc})") from None


def haar_cascade(name: str = CASCADE):
    """The OpenCV cascade classifier shipped with opencv-python-headless (cached;
    OpenCV objects do not pickle, so estimators never hold one)."""
    try:
        import cv2
    except ImportError as exc:  # pragma: no cover - dependency
        raise ImportError("face detection needs opencv-python-headless>=4.8,<5") from exc
    if not hasattr(cv2, "CascadeClassifier"):
        raise ImportError(
            f"OpenCV {cv2.__version__} has no Haar cascades (OpenCV 5 moved them out); "
            "install opencv-python-headless>=4.8,<5"
        )
    path = Path(cv2.data.haarcascades) / name  # type: ignore[attr-defined]
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise OSError(f"could not load the face cascade {path}")
    return cascade


def read_image(source, *, name=None) -> np.ndarray:
    """An image as a uint8 array: (h, w) grayscale or (h, w, 3) RGB.

    ``source`` is a path, the bytes of an encoded image file (PNG, JPEG, ...:
    what ``fercls predict -`` reads from stdin), or an array (grayscale, RGB or
    RGBA). Images deeper than 8 bits are scaled by their type's range, not
    clipped: 16-bit by 65535, floats in [0, 1] by 255 (see
    ``fercls._images.scale_to_uint8``). Files and bytes over
    ``MAX_IMAGE_PIXELS`` are refused before they are decoded. ``name`` is what
    error messages call bytes (default ``"image bytes"``).
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_dir():
            raise IsADirectoryError(f"{path}: is a folder; expected an image file")
        if not path.is_file():
            raise FileNotFoundError(f"no such image: {path}")
        if path.stat().st_size == 0:
            raise ValueError(f"{path}: empty file; expected an image")
        return _decode(path, str(path))
    if isinstance(source, (bytes, bytearray, memoryview)):
        if not len(source):
            raise ValueError(f"{name or 'image bytes'}: empty; expected the bytes of an image file")
        return _decode(io.BytesIO(bytes(source)), name or "image bytes")
    array = np.asarray(source)
    if array.ndim == 3 and array.shape[2] == 4:
        array = array[:, :, :3]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3):
        raise ValueError(
            f"expected an image of shape (h, w), (h, w, 3) or (h, w, 4), got {array.shape}"
        )
    if array.dtype.kind not in "biuf":
        raise ValueError(f"expected a numeric image array, got dtype {array.dtype}")
    if min(array.shape[:2]) < 1:
        raise ValueError(f"expected an image at least 1x1 pixels, got shape {array.shape}")
    return scale_to_uint8(array)


def to_gray(image: np.ndarray) -> np.ndarray:
    import cv2

    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


class FaceCropper(TransformerMixin, BaseEstimator):
    """Detect faces in photos and return 48×48 grayscale crops as flat uint8 rows.

    The output is the same flat ``(n, 2304)`` uint8 form that
    :func:`fercls.load_fer2013` returns, so ``make_pipeline(FaceCropper(),
    PixelNormalizer(), classifier)`` or the pretrained model work on photos.

    Policy: :meth:`transform` keeps the **largest** face of each image (one row
    per image, as a transformer must). With no face, ``on_missing="raise"``
    raises a ``ValueError`` naming the image, and ``"whole"`` uses the whole
    image instead. :meth:`detect` returns every face's box, for photos with
    several faces, and :meth:`locate` their landmarks too.

    Parameters
    ----------
    size : tuple of (int, int), default=(48, 48)
        Output crop size (height, width): two ints from 1 to 1024.
    detector : {"mtcnn", "haar"}, default="mtcnn"
        ``"mtcnn"`` finds faces with eye and mouth landmarks, so tilted heads
        are found and turned upright; ``"haar"`` is OpenCV's frontal-face
        cascade: faster, upright faces only, no landmarks.
    align : bool, default=True
        Turn each face so its eyes are level and frame it by its landmarks
        (``"mtcnn"`` only; Haar crops are always upright boxes).
    tilts : tuple of float, default=(-40, 40)
        Head tilts, in degrees, searched for besides upright (``"mtcnn"``
        only): MTCNN by itself finds heads tilted up to about 20°, so the
        image is searched once more turned by each angle. ``()`` searches
        upright only, about 3× faster.
    margin : float, default=0.0
        Extra border around the face's frame, as a fraction of its size on
        each side. 0 matches FER2013's framing (measured, see module docs).
    min_confidence : float, default=0.9
        MTCNN's face score below which a candidate is dropped; larger gives
        fewer false faces.
    scale_factor : float, default=1.1
        Haar detector scale step; smaller finds more faces, slower.
    min_neighbors : int, default=5
        Haar detector strictness; larger gives fewer false positives.
    min_face : float, default=0.05
        Smallest face, as a fraction of the image's shorter side (and at least
        24 px for Haar, the cascade's window, or 20 px for MTCNN).
    on_missing : {"raise", "whole"}, default="raise"
        What :meth:`transform` does with an image without a face.

    Examples
    --------
    >>> from skimage import data  # doctest: +SKIP
    >>> cropper = FaceCropper()  # doctest: +SKIP
    >>> cropper.detect(data.astronaut()).shape  # doctest: +SKIP
    (1, 4)
    >>> cropper.transform([data.astronaut()]).shape  # doctest: +SKIP
    (1, 2304)
    """

    _parameter_constraints = {
        "size": [tuple, list],
        "detector": [StrOptions(set(DETECTORS))],
        "align": ["boolean"],
        "tilts": [tuple, list],
        "margin": [Interval(Real, 0, 1, closed="both")],
        "min_confidence": [Interval(Real, 0, 1, closed="both")],
        "scale_factor": [Interval(Real, 1, None, closed="neither")],
        "min_neighbors": [Interval(Integral, 0, None, closed="left")],
        "min_face": [Interval(Real, 0, 1, closed="both")],
        "on_missing": [StrOptions({"raise", "whole"})],
    }

    def __init__(
        self,
        size=(48, 48),
        detector="mtcnn",
        align=True,
        tilts=(-40, 40),
        margin=0.0,
        min_confidence=0.9,
        scale_factor=1.1,
        min_neighbors=5,
        min_face=0.05,
        on_missing="raise",
    ):
        self.size = size
        self.detector = detector
        self.align = align
        self.tilts = tilts
        self.margin = margin
        self.min_confidence = min_confidence
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_face = min_face
        self.on_missing = on_missing

    def fit(self, X=None, y=None):
        """Validate the parameters; nothing is learned.

        Returns
        -------
        self : FaceCropper
        """
        self._validate_params()
        return self

    def _validate_params(self):
        super()._validate_params()
        size = self.size
        if len(size) != 2 or not all(
            isinstance(v, (int, np.integer))
            and not isinstance(v, (bool, np.bool_))
            and 1 <= v <= MAX_CROP_SIDE
            for v in size
        ):
            raise ValueError(
                f"The 'size' parameter of FaceCropper must be two ints from 1 to "
                f"{MAX_CROP_SIDE} (height, width). Got {size!r} instead."
            )
        if not all(
            isinstance(v, Real) and not isinstance(v, (bool, np.bool_)) and -90 <= v <= 90
            for v in self.tilts
        ):
            raise ValueError(
                "The 'tilts' parameter of FaceCropper must be angles in degrees from -90 "
                f"to 90, e.g. (-40, 40). Got {self.tilts!r} instead."
            )

    def locate(self, image) -> np.ndarray:
        """Every face in one image with its landmarks, largest first.

        Parameters
        ----------
        image : path or array of shape (h, w), (h, w, 3) or (h, w, 4)

        Returns
        -------
        ndarray of shape (n_faces, 14), float
            ``x, y, width, height`` of the box, then x, y of the left eye,
            right eye, nose, left and right mouth corner (image-left first).
            The landmarks are NaN for the Haar detector. A row can be passed
            to :meth:`crop`.
        """
        image = read_image(image)
        if self.detector == "haar":
            boxes = self._haar_boxes(to_gray(image))
            faces = np.hstack([boxes, np.full((len(boxes), 10), np.nan)])
        else:
            rgb = image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)
            smallest = self._smallest_face(image.shape, SMALLEST_FACE)
            faces = detect_mtcnn(rgb, smallest, self.min_confidence, tuple(self.tilts))
        return faces[np.argsort(-faces[:, 2] * faces[:, 3], kind="stable")]

    def detect(self, image) -> np.ndarray:
        """Boxes of every face in one image, largest first.

        Parameters
        ----------
        image : path or array of shape (h, w), (h, w, 3) or (h, w, 4)

        Returns
        -------
        ndarray of shape (n_faces, 4), int
            ``x, y, width, height`` per face, in pixels.
        """
        return np.rint(self.locate(image)[:, :4]).astype(np.int64)

    def _smallest_face(self, shape, floor: int) -> int:
        """Side of the smallest face to report: ``min_face`` of the image's shorter
        side, but never below what the detector can see (``floor``)."""
        return max(floor, int(self.min_face * min(shape[:2])))

    def _haar_boxes(self, gray) -> np.ndarray:
        smallest = self._smallest_face(gray.shape, HAAR_WINDOW)
        # No histogram equalisation: measured, it finds no more FER2013 faces
        # (304 vs 309 of 400) and loses faces on mostly flat backgrounds.
        boxes = haar_cascade().detectMultiScale(
            gray,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(smallest, smallest),
        )
        return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)

    def crop(self, image, face) -> np.ndarray:
        """The grayscale face, framed and resized to ``size``.

        ``face`` is a box ``x, y, width, height`` (cropped as it is, plus
        ``margin``) or a row of :meth:`locate` with landmarks (turned so the
        eyes are level and framed as FER2013 is, when ``align`` is on). Parts
        of the frame outside the image are filled by replicating the edge, so
        faces at the border keep their framing.

        Returns
        -------
        ndarray of shape ``size``, uint8
        """
        return self.crops(image, [face])[0]

    def crops(self, image, faces) -> np.ndarray:
        """:meth:`crop` of several faces of one image, which is read and turned
        gray once.

        Returns
        -------
        ndarray of shape ``(n_faces, *size)``, uint8
        """
        gray = to_gray(read_image(image))
        if not len(faces):
            return np.zeros((0, *self.size), np.uint8)
        return np.stack([self._crop_gray(gray, face) for face in faces])

    def _crop_gray(self, gray, face) -> np.ndarray:
        face = np.asarray(face, dtype=np.float64).reshape(-1)
        if self.align and len(face) == 14 and np.isfinite(face[4:]).all():
            return self._aligned_crop(gray, face[4:].reshape(5, 2))
        return self._box_crop(gray, face[:4])

    def _box_crop(self, gray, box) -> np.ndarray:
        import cv2

        x, y, w, h = (int(round(v)) for v in box)
        dx, dy = int(round(w * self.margin)), int(round(h * self.margin))
        top, left = y - dy, x - dx
        bottom, right = y + h + dy, x + w + dx
        pad = max(0, -top, -left, bottom - gray.shape[0], right - gray.shape[1])
        if pad:
            gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        face = gray[top + pad : bottom + pad, left + pad : right + pad]
        height, width = self.size
        interpolation = cv2.INTER_AREA if face.shape[0] > height else cv2.INTER_LINEAR
        return cv2.resize(face, (width, height), interpolation=interpolation)

    def _aligned_crop(self, gray, landmarks) -> np.ndarray:
        """Rotate about the frame's centre so the eyes are level, and frame the
        face as FER2013 does (constants measured, see module docs)."""
        import cv2

        left_eye, right_eye = landmarks[0], landmarks[1]
        eyes = (left_eye + right_eye) / 2
        mouth = (landmarks[3] + landmarks[4]) / 2
        dx, dy = right_eye - left_eye
        angle = math.degrees(math.atan2(dy, dx))
        # Two estimates of the frame's side, averaged: the eye distance shrinks
        # when the head turns, the eye-to-mouth distance when it nods.
        side = (math.hypot(dx, dy) / EYE_DISTANCE + np.linalg.norm(mouth - eyes) / EYE_TO_MOUTH) / 2
        side *= 1 + 2 * self.margin
        down = np.array([-math.sin(math.radians(angle)), math.cos(math.radians(angle))])
        centre = eyes + CENTRE_BELOW_EYES * side * down
        height, width = self.size
        # Shrink a big face first with area averaging (warpAffine's bilinear
        # sampling would alias), then rotate and scale what is left.
        shrink = min(1.0, 2 * max(height, width) / max(side, 1.0))
        if shrink < 1.0:
            gray = cv2.resize(gray, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
            centre, side = centre * shrink, side * shrink
        matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, 1.0)
        matrix[:, 2] += np.array([side, side]) / 2 - centre
        matrix[0] *= width / side
        matrix[1] *= height / side
        return cv2.warpAffine(
            gray, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )

    def transform(self, X) -> np.ndarray:
        """Crop the largest face of each image.

        Parameters
        ----------
        X : sequence of images (paths or arrays), or an array of shape
            (n, h, w) (grayscale) or (n, h, w, 3) (RGB)

        Returns
        -------
        ndarray of shape (n_images, size[0] * size[1]), uint8
        """
        self._validate_params()
        images = list(X) if not isinstance(X, (str, Path)) else [X]
        if not images:
            raise ValueError("expected at least one image, got none")
        rows = []
        for index, source in enumerate(images):
            image = read_image(source)
            found = self.locate(image)
            if len(found):
                face = self.crop(image, found[0])
            elif self.on_missing == "whole":
                face = self.crop(image, (0, 0, image.shape[1], image.shape[0]))
            else:
                name = source if isinstance(source, (str, Path)) else f"image {index}"
                raise ValueError(
                    f"{name}: no face found; pass on_missing='whole' to use the whole image"
                )
            rows.append(face.reshape(-1))
        return np.stack(rows)

    def get_feature_names_out(self, input_features=None):
        """``pixel0`` … ``pixel{h*w-1}``, like :class:`PixelStringParser`."""
        return np.asarray([f"pixel{i}" for i in range(self.size[0] * self.size[1])], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        return tags
