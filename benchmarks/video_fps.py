"""Frames per second of fercls.video on 640x480 frames with one face; prints one JSON line.

The frames hold scikit-image's astronaut face moving across a plain
background; the model is the bundled pretrained one. Reports the share of
time spent in face detection (OpenCV Haar cascade) and in classification.

    python benchmarks/video_fps.py [--frames 200]
"""

import argparse
import json

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=200)
    args = parser.parse_args()
    import cv2
    from skimage import data

    from fercls import load_pretrained
    from fercls.video import annotate_video

    face = cv2.cvtColor(data.astronaut()[20:260, 120:340], cv2.COLOR_RGB2BGR)

    class Frames:
        def __init__(self):
            self.i = 0

        def read(self):
            frame = np.full((480, 640, 3), 60, np.uint8)
            x = 50 + (7 * self.i) % 350
            frame[100 : 100 + face.shape[0], x : x + face.shape[1]] = face
            self.i += 1
            return True, frame

        def release(self):
            pass

    model = load_pretrained(with_parser=False)
    annotate_video(0, model, capture=Frames(), max_frames=5)  # warm-up: Keras tracing
    stats = annotate_video(0, model, capture=Frames(), max_frames=args.frames)
    busy = stats["detect_seconds"] + stats["classify_seconds"]
    print(
        json.dumps(
            {
                "benchmark": "video_fps",
                "frame_size": [640, 480],
                "frames": stats["frames"],
                "fps": stats["fps"],
                "detection_share": round(stats["detect_seconds"] / busy, 3),
                "classification_share": round(stats["classify_seconds"] / busy, 3),
                "ms_per_frame_detection": round(
                    1000 * stats["detect_seconds"] / stats["frames"], 2
                ),
                "ms_per_frame_classification": round(
                    1000 * stats["classify_seconds"] / stats["frames"], 2
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
