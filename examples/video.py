"""Emotions in a video, frame by frame, with the bundled model.

Without --input it first writes a 3-second clip that pans across scikit-image's
astronaut photo, so the example runs anywhere. Faces are detected in every
frame, classified, smoothed over 5 frames and drawn; the annotated video goes
to --output.

    python examples/video.py --quick
    python examples/video.py --input interview.mp4 --output interview-annotated.mp4
"""

import argparse
from pathlib import Path

import cv2
import numpy as np

from fercls import load_pretrained
from fercls.video import annotate_video


def panning_clip(path: Path, frames: int) -> Path:
    from skimage import data

    photo = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 15, (320, 320))
    for x in np.linspace(0, 150, frames).astype(int):
        writer.write(cv2.resize(photo[0:360, x : x + 360], (320, 320)))
    writer.release()
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", type=Path, help="a video file (default: a generated clip)")
    parser.add_argument("--output", type=Path, default=Path("annotated.mp4"))
    parser.add_argument("--quick", action="store_true", help="a 15-frame clip")
    args = parser.parse_args()

    source = args.input or panning_clip(Path("astronaut-pan.mp4"), 15 if args.quick else 45)
    counts = {}

    def tally(index, faces):
        for face in faces:
            counts[face.emotion] = counts.get(face.emotion, 0) + 1

    stats = annotate_video(source, load_pretrained(), output=args.output, on_frame=tally)
    print(f"{stats['frames']} frames at {stats['fps']:.1f} frames/s, {stats['faces']} faces")
    print("emotions over all frames:", counts)
    print(f"annotated video in {args.output}")


if __name__ == "__main__":
    main()
