"""Frames per second of fercls.video on 640x480 frames with one face, for each
face detector and detection interval, as ratios against today's Haar path
(Haar on every frame) measured in the same run; prints one JSON line.

The frames hold scikit-image's astronaut face moving across a plain
background; the model is the bundled pretrained one. Each setting also
reports the milliseconds per frame spent finding faces (detecting, and
following between detections) and classifying them.

    python benchmarks/video_fps.py [--frames 200]
"""

import argparse
import json

import numpy as np

# (name, FaceCropper options, detect_every): the baseline (the Haar path of
# fercls 0.x: detection on every frame) first, the default settings last.
SETTINGS = [
    ("haar", {"detector": "haar"}, 1),
    ("haar", {"detector": "haar"}, 5),
    ("mtcnn upright", {"tilts": ()}, 1),
    ("mtcnn upright", {"tilts": ()}, 5),
    ("mtcnn with tilts", {}, 1),
    ("mtcnn with tilts", {}, 5),
    ("mtcnn with tilts (default)", {}, 10),
]


class MovingFace:
    """A capture whose frames show a face moving 7 pixels per frame."""

    def __init__(self, face):
        self.face = face
        self.i = 0

    def read(self):
        frame = np.full((480, 640, 3), 60, np.uint8)
        x = 50 + (7 * self.i) % 350
        frame[100 : 100 + self.face.shape[0], x : x + self.face.shape[1]] = self.face
        self.i += 1
        return True, frame

    def release(self):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=200)
    args = parser.parse_args()
    import cv2
    from skimage import data

    from fercls import load_pretrained
    from fercls.faces import FaceCropper
    from fercls.video import annotate_video

    face = cv2.cvtColor(data.astronaut()[20:260, 120:340], cv2.COLOR_RGB2BGR)
    model = load_pretrained(with_parser=False)
    results = []
    for name, options, every in SETTINGS:
        cropper = FaceCropper(**options)

        def play(frames, cropper=cropper, every=every):
            """A fresh moving face through annotate_video, as from a camera."""
            capture = MovingFace(face)
            return annotate_video(
                0, model, capture=capture, cropper=cropper, detect_every=every, max_frames=frames
            )

        play(12)  # warm-up: the first frames trace the networks
        stats = play(args.frames)
        frames = stats["frames"]
        results.append(
            {
                "detector": name,
                "detect_every": every,
                "fps": stats["fps"],
                "faces_per_frame": round(stats["faces"] / frames, 3),
                "ms_per_frame_finding": round(1000 * stats["detect_seconds"] / frames, 2),
                "ms_per_frame_classification": round(1000 * stats["classify_seconds"] / frames, 2),
            }
        )
    baseline = results[0]["fps"]
    for row in results:
        row["fps_ratio_to_haar_every_frame"] = round(row["fps"] / baseline, 2)
    print(
        json.dumps(
            {
                "benchmark": "video_fps",
                "frame_size": [640, 480],
                "frames": args.frames,
                "settings": results,
            }
        )
    )


if __name__ == "__main__":
    main()
