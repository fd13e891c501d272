"""Export the bundled model to TFLite (float32 and int8) and check it on PrivateTest.

The exported model takes raw grayscale pixels 0-255 as float32 of shape
(1, 48, 48, 1) and outputs the seven probabilities in fercls.PROBABILITY_ORDER
(its labels are written beside it, in fer.tflite.labels.json).

    python examples/export_mobile.py --quick
"""

import argparse
from pathlib import Path

import numpy as np

from fercls import EMOTIONS, load_fer2013, load_pretrained
from fercls.datasets import fer2013_path
from fercls.export import TFLiteModel, export

DEFAULT_DATA = fer2013_path(__file__)  # $FERCLS_FER2013, or ../shared/data/fer2013.zip


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--output", type=Path, default=Path("."))
    parser.add_argument("--quick", action="store_true", help="check on 300 images")
    args = parser.parse_args()

    data = load_fer2013(args.data)
    private = np.flatnonzero(data.usage == "PrivateTest")[: 300 if args.quick else None]
    truth = np.asarray(EMOTIONS)[data.target[private]]
    model = load_pretrained()
    print(f"Keras model: accuracy {(model.predict(data.data[private]) == truth).mean():.4f}")
    for quantize in (None, "int8"):
        path = args.output / f"fer2013_{quantize or 'float32'}.tflite"
        export(
            model,
            path,
            format="tflite",
            quantize=quantize,
            representative_data=data.data[data.usage == "Training"],  # int8 calibration
        )
        predicted = TFLiteModel(path).predict(data.data[private])
        print(
            f"{path.name}: {path.stat().st_size / 1e6:.2f} MB, "
            f"accuracy {(predicted == truth).mean():.4f}"
        )


if __name__ == "__main__":
    main()
