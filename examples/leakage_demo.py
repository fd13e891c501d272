"""Why oversampling before the split inflates accuracy, measured on FER2013.

Wrong: RandomOverSampler on the whole data set, then a train/test split. The
copies of each rare-class image land on both sides, so the test set is partly
the training set, and the score measures memory, not recognition.
Right: split first, then oversample inside the pipeline (training data only).

Both runs use the same images, network and budget; the only difference is
where the sampler sits. The script also counts how many "test" images of the
wrong protocol are byte-identical copies of a training image.

    python examples/leakage_demo.py --quick
"""

import argparse
from pathlib import Path

import numpy as np
from imblearn.over_sampling import RandomOverSampler
from imblearn.pipeline import make_pipeline
from sklearn.model_selection import train_test_split

from fercls import FERClassifier, PixelNormalizer, load_fer2013
from fercls.datasets import duplicate_groups, fer2013_path

DEFAULT_DATA = fer2013_path(__file__)  # $FERCLS_FER2013, or ../shared/data/fer2013.zip


def classifier(args):
    # No augmentation: like the tutorials that report the inflated numbers, the
    # network is trained until it fits its training images.
    return FERClassifier(args.architecture, max_iter=args.epochs, augment=False, random_state=0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--n", type=int, default=2000, help="Training images used")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--architecture", default="vgg_small")
    parser.add_argument("--quick", action="store_true", help="800 images, 2 epochs, simple")
    args = parser.parse_args()
    if args.quick:
        args.n, args.epochs, args.architecture = 800, 2, "simple"

    data = load_fer2013(args.data)
    rows = np.flatnonzero(data.usage == "Training")[: args.n]
    X, y = data.data[rows], data.target[rows]

    # Wrong: oversample everything, then split.
    X_over, y_over = RandomOverSampler(random_state=0).fit_resample(X, y)
    X_tr, X_te, y_tr, y_te = train_test_split(
        X_over, y_over, test_size=0.2, stratify=y_over, random_state=0
    )
    groups = duplicate_groups(np.concatenate([X_tr, X_te]))
    copies = np.isin(groups[len(X_tr) :], groups[: len(X_tr)]).mean()
    wrong = make_pipeline(PixelNormalizer(), classifier(args)).fit(X_tr, y_tr)
    wrong_score = wrong.score(X_te, y_te)

    # Right: split, then oversample inside the pipeline.
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)
    right = make_pipeline(
        RandomOverSampler(random_state=0), PixelNormalizer(), classifier(args)
    ).fit(X_tr, y_tr)
    right_score = right.score(X_te, y_te)

    print(f"{len(rows)} FER2013 Training images, {args.architecture}, {args.epochs} epochs")
    print(
        f"oversample, then split:  accuracy {wrong_score:.3f}  "
        f"({copies:.0%} of its test images are copies of training images)"
    )
    print(f"split, then oversample:  accuracy {right_score:.3f}")
    print(f"inflation: {100 * (wrong_score - right_score):+.1f} points")


if __name__ == "__main__":
    main()
