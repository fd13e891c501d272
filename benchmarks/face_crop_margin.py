"""Measure where a face detector puts its box and landmarks inside FER2013's frame.

FaceCropper should crop photos the way FER2013 was cropped. Running the
detector on (upscaled, edge-padded) FER2013 training images shows the box it
finds relative to FER's own 48x48 frame; for Haar the frame-to-box ratio is the
margin FaceCropper needs. For MTCNN the landmarks give the framing that does
not depend on the head's tilt: the eye distance, the eye-to-mouth distance and
the frame centre's offset below the eyes, all in units of the frame's side
(``fercls.faces.EYE_DISTANCE``, ``EYE_TO_MOUTH``, ``CENTRE_BELOW_EYES``).
Prints one JSON line.

    python benchmarks/face_crop_margin.py [--n 1500] [--detector mtcnn]

Measured 2026-12-05 with ``--detector mtcnn`` (1,500 random training images):
see ``benchmarks/results/face_framing.json``.

Measured 2026-11-22 (1,500 random training images, 1,220 detected): median box
x, y, w, h = 0.005, 0.005, 0.984, 0.984 of the frame, centre (0.500, 0.500),
IQR of the width 0.13 -> margin 0.008 per side, i.e. none: FaceCropper's
default margin is 0.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from fercls import load_fer2013
from fercls.datasets import fer2013_path
from fercls.faces import FaceCropper, haar_cascade

DEFAULT_DATA = fer2013_path(__file__)  # $FERCLS_FER2013, or ../shared/data/fer2013.zip


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--n", type=int, default=1500)
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--detector", choices=["haar", "mtcnn"], default="haar")
    args = parser.parse_args()
    if args.detector == "mtcnn":
        print(json.dumps(mtcnn_framing(args)))
        return
    import cv2

    data = load_fer2013(args.data)
    rows = np.random.default_rng(0).choice(
        np.flatnonzero(data.usage == "Training"), args.n, replace=False
    )
    side = 48 * args.scale
    pad = side // 2
    cascade = haar_cascade()
    boxes = []
    for row in rows:
        image = cv2.resize(data.images[row], (side, side), interpolation=cv2.INTER_CUBIC)
        # Edge padding lets the detector return a box larger than the frame.
        padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        found = cascade.detectMultiScale(
            padded, scaleFactor=1.05, minNeighbors=5, minSize=(side // 3,) * 2
        )
        if len(found):
            x, y, w, h = max(found, key=lambda b: b[2] * b[3])
            boxes.append(((x - pad) / side, (y - pad) / side, w / side, h / side))
    boxes = np.asarray(boxes)
    median = np.median(boxes, axis=0)
    width = median[2]
    print(
        json.dumps(
            {
                "benchmark": "face_crop_margin",
                "detector": "haar",
                "images": int(args.n),
                "detected": int(len(boxes)),
                "median_box_xywh": np.round(median, 3).tolist(),
                "box_width_iqr": round(
                    float(np.subtract(*np.percentile(boxes[:, 2], [75, 25]))), 3
                ),
                "box_centre": [
                    round(float(np.median(boxes[:, 0] + boxes[:, 2] / 2)), 3),
                    round(float(np.median(boxes[:, 1] + boxes[:, 3] / 2)), 3),
                ],
                "margin_per_side": round(float((1 / width - 1) / 2), 3),
            }
        )
    )


def mtcnn_framing(args) -> dict:
    """Medians (and quartiles) of MTCNN's landmarks in units of FER's frame."""
    import cv2

    data = load_fer2013(args.data)
    rows = np.random.default_rng(0).choice(
        np.flatnonzero(data.usage == "Training"), args.n, replace=False
    )
    side = 48 * args.scale
    pad = side // 2
    cropper = FaceCropper(detector="mtcnn", min_face=0.0, min_confidence=0.0)
    measures = []
    for row in rows:
        image = cv2.resize(data.images[row], (side, side), interpolation=cv2.INTER_CUBIC)
        padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        found = cropper.locate(padded)
        if not len(found):
            continue
        points = (found[0, 4:].reshape(5, 2) - pad) / side
        eyes = (points[0] + points[1]) / 2
        mouth = (points[3] + points[4]) / 2
        measures.append(
            (
                np.linalg.norm(points[1] - points[0]),
                np.linalg.norm(mouth - eyes),
                0.5 - eyes[1],
                eyes[0],
            )
        )
    measures = np.asarray(measures)
    quartiles = np.percentile(measures, [25, 50, 75], axis=0).round(3)
    names = ["eye_distance", "eye_to_mouth", "centre_below_eyes", "eyes_x"]
    return {
        "benchmark": "face_crop_margin",
        "detector": "mtcnn",
        "images": int(args.n),
        "detected": int(len(measures)),
        "median": dict(zip(names, quartiles[1].tolist(), strict=True)),
        "quartiles": {n: [q[0], q[2]] for n, q in zip(names, quartiles.T.tolist(), strict=True)},
    }


if __name__ == "__main__":
    main()
