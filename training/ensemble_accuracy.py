"""An ensemble of saved models, measured on FER2013 beside its members; prints one JSON line.

The ensemble averages the members' probabilities as they load (calibrated where the
folder holds a temperature: ``training/calibrate.py --write``). For each member and
for the ensemble: PublicTest accuracy (the split an ensemble is chosen on) and, on
PrivateTest, accuracy, macro-F1 and the accuracy on the images not byte-identical
to a training image. It answers the model card's distillation question: is an
ensemble of the networks trained along the way worth distilling into one?

    python training/ensemble_accuracy.py src/fercls/models/fer2013_vgg_small runs/vgg45/model
    python training/ensemble_accuracy.py A B C --tta flip   # every member with flip views
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from tta_accuracy import evaluation_splits, rounded

from fercls.classifier import TEST_TIME_AUGMENTATIONS
from fercls.datasets import fer2013_path

DEFAULT_DATA = fer2013_path(__file__)  # $FERCLS_FER2013, or ../shared/data/fer2013.zip


def split_probabilities(pipeline, splits):
    """``{split: probabilities}`` of one fitted pipeline on each split's raw pixels."""
    return {name: pipeline.predict_proba(pixels) for name, (pixels, _) in splits.items()}


def figures(probabilities, classes, splits, unseen):
    """Accuracy on each split, macro-F1 and unseen-image accuracy on PrivateTest."""
    from sklearn.metrics import accuracy_score, f1_score

    predicted = {name: classes[p.argmax(axis=1)] for name, p in probabilities.items()}
    truth = splits["PrivateTest"][1]
    private = predicted["PrivateTest"]
    return {
        "public_accuracy": rounded(
            accuracy_score(splits["PublicTest"][1], predicted["PublicTest"])
        ),
        "private_accuracy": rounded(accuracy_score(truth, private)),
        "private_macro_f1": rounded(f1_score(truth, private, average="macro")),
        "private_unseen_accuracy": rounded(accuracy_score(truth[unseen], private[unseen])),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "models", type=Path, nargs="+", help="folders saved by fer2013_accuracy.py --save"
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--tta", choices=TEST_TIME_AUGMENTATIONS, help="every member predicts with these views"
    )
    args = parser.parse_args(argv)

    from fercls import load_fer2013
    from fercls.pretrained import load_pipeline

    if not args.data.exists():
        sys.exit(f"FER2013 data not found at {args.data}; pass --data")
    public, private, unseen = evaluation_splits(load_fer2013(args.data))
    splits = {"PublicTest": public, "PrivateTest": private}

    members, total, classes = [], None, None
    for folder in args.models:
        pipeline = load_pipeline(folder, with_parser=False, test_time_augmentation=args.tta)
        member_classes = np.asarray(pipeline.classes_)
        if classes is not None and not np.array_equal(member_classes, classes):
            sys.exit(f"{folder} has classes {list(member_classes)}; the others {list(classes)}")
        classes = member_classes
        probabilities = split_probabilities(pipeline, splits)
        members.append({"model": str(folder), **figures(probabilities, classes, splits, unseen)})
        total = probabilities if total is None else {s: total[s] + probabilities[s] for s in total}
    result = {
        "benchmark": "ensemble_accuracy",
        "test_time_augmentation": args.tta,
        "members": members,
        "ensemble": figures(total, classes, splits, unseen),
    }
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
