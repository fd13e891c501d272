"""Temperature-scale a saved model folder on PublicTest; report calibration on PrivateTest.

Fits one temperature on FER2013 PublicTest (the selection split) by minimising
the negative log-likelihood, bakes it into the network's final layer
(``fercls.calibrate_temperature``: predictions unchanged), and measures the
expected calibration error (15 bins) on PrivateTest before and after. With
``--write``, saves the calibrated weights into the folder and records the
figures in its card (``fercls.json``) under ``calibration``. Prints one JSON line.

    python training/calibrate.py runs/stage5 --write
    python training/calibrate.py src/fercls/models/fer2013_vgg_small   # measure only
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from fercls.datasets import fer2013_path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = fer2013_path(__file__)  # $FERCLS_FER2013, or ../shared/data/fer2013.zip


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="a saved model folder (fercls.json + weights)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--write", action="store_true", help="save the calibrated model")
    args = parser.parse_args(argv)

    from sklearn.metrics import log_loss

    from fercls import calibrate_temperature, load_fer2013
    from fercls.evaluation import expected_calibration_error
    from fercls.persistence import read_card
    from fercls.pretrained import load_classifier, load_pipeline, save_classifier

    if not args.data.exists():
        sys.exit(f"FER2013 data not found at {args.data}; pass --data")
    data = load_fer2013(args.data)
    names = np.asarray(data.target_names)[data.target]
    public, private = data.usage == "PublicTest", data.usage == "PrivateTest"
    model = load_pipeline(args.model)
    classes = model.classes_
    card = read_card(args.model)
    if "calibration" in card:
        sys.exit(f"{args.model} is already calibrated (temperature {card['calibration']})")

    def figures(split):
        proba = model.predict_proba(data.data[split])
        return {
            "ece": round(expected_calibration_error(names[split], proba, classes), 4),
            "nll": round(float(log_loss(names[split], proba, labels=classes)), 4),
            "accuracy": round(float((classes[proba.argmax(1)] == names[split]).mean()), 4),
        }

    before = {"public": figures(public), "private": figures(private)}
    temperature = calibrate_temperature(model, data.data[public], names[public])
    after = {"public": figures(public), "private": figures(private)}
    result = {
        "benchmark": "calibrate",
        "model": str(args.model),
        "temperature": round(temperature, 4),
        "fitted_on": "PublicTest",
        "before": before,
        "after": after,
    }
    if args.write:
        classifier, metadata = load_classifier(args.model)
        classifier.model_ = model[-1].model_
        card = {**metadata.get("card", {}), "calibration": result}
        save_classifier(classifier, args.model, normalization=metadata["normalization"], card=card)
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
