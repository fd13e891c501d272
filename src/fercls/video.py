"""Emotions in video files and webcam streams: detect, classify, smooth, annotate.

from fercls import load_pretrained
from fercls.video import annotate_video
stats = annotate_video("clip.mp4", load_pretrained(), output="annotated.mp4")
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._follow import follow_faces
from ._io import OutputFile, finish_sibling, unique_sibling
from .drawing import Face, draw_faces, label_place
from .faces import FaceCropper, read_image, to_gray
from .labels import class_names as _class_names

__all__ = [
    "annotate_video",
    "faces_in_image",
    "draw_faces",
    "Face",
    "ProbabilitySmoother",
    "check_video_output",
    "label_place",
    "VIDEO_SUFFIXES",
    "DETECT_EVERY",
]

#: Run the face detector on every this many frames by default and follow the
#: faces in between (see :func:`annotate_video`).
DETECT_EVERY = 10

#: The file types the annotated video can be written as (mp4v codec).
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv")


def _is_video(_path, head: bytes) -> bool:
    """MP4/MOV (an ISO "ftyp" box), AVI (RIFF) or Matroska (EBML) by their first bytes."""
    return (
        head[4:8] == b"ftyp"
        or (head[:4] == b"RIFF" and head[8:12] == b"AVI ")
        or head[:4] == b"\x1aE\xdf\xa3"
    )


#: An annotated video: an existing file is replaced only if it is a video.
VIDEO_FILE = OutputFile("a video", _is_video)


def check_video_output(output) -> None:
    """Refuse an output name OpenCV cannot write a video to, before any work."""
    suffix = Path(output).suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise ValueError(
            f"{output}: cannot write a video as {suffix or 'a file without a suffix'}; "
            f"name it {', '.join(VIDEO_SUFFIXES)}"
        )


def faces_in_image(image, model, cropper=None) -> list[Face]:
    """Every face in one image with its emotion, largest first.

    Parameters
    ----------
    image : path or array (grayscale, RGB or RGBA)
    model : fitted classifier or pipeline taking flat 48×48 uint8 pixels
    cropper : FaceCropper, optional
    """
    cropper = cropper or FaceCropper()
    image = read_image(image)
    return classify_faces(image, cropper.locate(image), model, cropper)


def classify_faces(image, located, model, cropper, names=None) -> list[Face]:
    """Crop each face of ``image`` (rows of ``FaceCropper.locate``, or boxes)
    and classify the crops in one batch."""
    if not len(located):
        return []
    names = names or _class_names(model.classes_)
    crops = cropper.crops(image, located).reshape(len(located), -1)
    proba = model.predict_proba(crops)
    return [
        Face(
            tuple(int(round(v)) for v in face[:4]),
            names[int(p.argmax())],
            dict(zip(names, p, strict=True)),
        )
        for face, p in zip(located, proba, strict=True)
    ]


def _iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    return inter / float(aw * ah + bw * bh - inter) if inter else 0.0


@dataclass
class _Track:
    box: tuple
    history: deque


@dataclass
class ProbabilitySmoother:
    """Average each face's probabilities over its last ``window`` frames.

    Faces are followed from frame to frame by box overlap (IoU ≥ 0.3); a face
    that appears starts a new history, one that disappears is dropped.
    """

    window: int = 5
    tracks: list = field(default_factory=list)

    def update(self, faces: list[Face]) -> list[Face]:
        if self.window <= 1:
            return faces
        remaining = list(self.tracks)
        updated, smoothed = [], []
        for face in faces:
            best = max(remaining, key=lambda t: _iou(t.box, face.box), default=None)
            if best is not None and _iou(best.box, face.box) >= 0.3:
                remaining.remove(best)
                track = _Track(face.box, best.history)
            else:
                track = _Track(face.box, deque(maxlen=self.window))
            track.history.append(np.asarray(list(face.probabilities.values())))
            mean = np.mean(track.history, axis=0)
            names = list(face.probabilities)
            smoothed.append(
                Face(face.box, names[int(mean.argmax())], dict(zip(names, mean, strict=True)))
            )
            updated.append(track)
        self.tracks = updated
        return smoothed


def open_capture(source):
    """An OpenCV capture for a file path or a webcam index."""
    import cv2

    capture = cv2.VideoCapture(int(source) if str(source).isdigit() else str(source))
    if not capture.isOpened():
        kind = "webcam" if str(source).isdigit() else "video file"
        raise OSError(f"could not open {kind} {source}")
    return capture


def annotate_video(
    source,
    model,
    *,
    output=None,
    show=False,
    smoothing=5,
    max_frames=None,
    cropper=None,
    fps=None,
    capture=None,
    on_frame=None,
    detect_every=DETECT_EVERY,
) -> dict:
    """Find and classify faces in every frame; write and/or show the annotated video.

    The face detector runs on every ``detect_every``-th frame; in between,
    each face is followed from the previous frame by matching its patch near
    its last place (:mod:`fercls._follow`), which costs a fraction of a
    detection and keeps video real-time with the slower MTCNN detector.

    Parameters
    ----------
    source : path or int
        A video file, or a webcam index.
    model : fitted classifier or pipeline taking flat 48×48 uint8 pixels
    output : path, optional
        Write the annotated video here (mp4v codec; written to a temporary
        file and renamed when complete).
    show : bool
        Show a live window (needs an OpenCV build with GUI support; the
        headless wheel has none, so use ``output`` there).
    smoothing : int
        Average probabilities over this many frames per face (1 = off).
    max_frames : int, optional
        Stop after this many frames (a webcam otherwise runs until 'q' or Ctrl-C).
    capture : object with ``read()`` and ``release()``, optional
        Use this instead of opening ``source`` (for tests or custom cameras).
    on_frame : callable(index, faces), optional
        Called with each frame's faces (after smoothing).
    detect_every : int, default=10
        Run the face detector on every this many frames (1 = every frame) and
        follow the faces in between. New faces appear at the next detection.

    Returns
    -------
    dict
        ``frames``, ``faces`` (total faces over all frames), ``detections``
        (frames the detector ran on), ``seconds``, ``fps``, and the seconds
        spent finding faces (``detect_seconds``: detecting and following) and
        classifying them (``classify_seconds``).
    """
    import cv2

    if (
        isinstance(detect_every, bool)
        or not isinstance(detect_every, (int, np.integer))
        or detect_every < 1
    ):
        raise ValueError(
            f"detect_every must be an int >= 1 (1 = every frame), got {detect_every!r}"
        )
    if output is not None:
        check_video_output(output)
    capture = capture or open_capture(source)
    cropper = cropper or FaceCropper()
    smoother = ProbabilitySmoother(window=smoothing)
    names = _class_names(model.classes_)
    writer = temporary = None
    stats = {
        "frames": 0,
        "faces": 0,
        "detections": 0,
        "detect_seconds": 0.0,
        "classify_seconds": 0.0,
    }
    located, previous_gray = np.empty((0, 14)), np.empty((0, 0), np.uint8)
    start = time.perf_counter()
    try:
        while max_frames is None or stats["frames"] < max_frames:
            ok, frame = capture.read()
            if not ok or frame is None:
                break
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if frame.ndim == 3 else frame
            gray = to_gray(rgb)
            t0 = time.perf_counter()
            if int(stats["frames"]) % int(detect_every) == 0:
                located = cropper.locate(rgb)
                stats["detections"] += 1
            elif len(located):
                located = follow_faces(previous_gray, gray, located)
            previous_gray = gray
            t1 = time.perf_counter()
            faces = classify_faces(rgb, located, model, cropper, names)
            t2 = time.perf_counter()
            faces = smoother.update(faces)
            stats["detect_seconds"] += t1 - t0
            stats["classify_seconds"] += t2 - t1
            stats["frames"] += 1
            stats["faces"] += len(faces)
            if on_frame:
                on_frame(stats["frames"] - 1, faces)
            if output is None and not show:
                continue
            elapsed = time.perf_counter() - start
            canvas = frame if frame.ndim == 3 else cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
            draw_faces(canvas, faces, caption=f"{stats['frames'] / elapsed:.1f} fps")
            if output is not None:
                if writer is None:
                    writer, temporary = _open_writer(
                        output, canvas.shape, fps or _capture_fps(capture)
                    )
                writer.write(canvas)
            if show:
                try:
                    cv2.imshow("fercls", canvas)
                    if cv2.waitKey(1) & 0xFF == ord("q"):
                        break
                except cv2.error:
                    raise OSError(
                        "this OpenCV build cannot open windows (headless); "
                        "use --output to write the annotated video instead"
                    ) from None
    except BaseException:
        if writer is not None:
            writer.release()
        if temporary is not None:
            temporary.unlink(missing_ok=True)  # never leave half a video behind
        raise
    finally:
        capture.release()
    if writer is not None:
        writer.release()
    if temporary is not None:
        finish_sibling(temporary, output)
    seconds = time.perf_counter() - start
    stats.update(
        seconds=round(seconds, 3), fps=round(stats["frames"] / seconds, 2) if seconds else 0.0
    )
    if not stats["frames"]:
        raise ValueError(f"{source}: no frames could be read")
    return stats


def _capture_fps(capture) -> float:
    import cv2

    fps = capture.get(cv2.CAP_PROP_FPS) if hasattr(capture, "get") else 0
    return fps if fps and fps > 0 else 25.0


def _open_writer(output, shape, fps):
    import cv2

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    # A unique name: two runs writing the same output never share a temporary.
    temporary = unique_sibling(output, suffix=output.suffix)
    writer = cv2.VideoWriter(
        str(temporary), cv2.VideoWriter_fourcc(*"mp4v"), fps, (shape[1], shape[0])
    )
    if not writer.isOpened():
        temporary.unlink(missing_ok=True)
        raise OSError(f"could not open {output} for writing (mp4v codec)")
    return writer, temporary
