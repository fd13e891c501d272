"""Quickstart: load FER2013, train a classifier in a pipeline, score it on PrivateTest.

python examples/quickstart.py --quick          # 1,000 images, 2 epochs: a smoke run
python examples/quickstart.py --data fer2013.zip
"""

import argparse
from pathlib import Path

import numpy as np
from sklearn.pipeline import make_pipeline

from fercls import FERClassifier, PixelNormalizer, load_fer2013
from fercls.datasets import fer2013_path

DEFAULT_DATA = fer2013_path(__file__)  # $FERCLS_FER2013, or ../shared/data/fer2013.zip


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()

    data = load_fer2013(args.data)  # the Kaggle zip, its folder, or the challenge CSV
    names = np.asarray(data.target_names)[data.target]
    train = np.flatnonzero(data.usage == "Training")[: 1000 if args.quick else None]
    private = data.usage == "PrivateTest"

    model = make_pipeline(
        PixelNormalizer(),  # uint8 -> float32 in [0, 1]
        FERClassifier(
            "simple" if args.quick else "vgg_small",
            max_iter=2 if args.quick else 30,
            random_state=0,
        ),
    )
    model.fit(data.data[train], names[train])
    print(f"trained on {len(train)} images")
    print(f"PrivateTest accuracy: {model.score(data.data[private], names[private]):.3f}")
    print("first five predictions:", model.predict(data.data[private][:5]).tolist())


if __name__ == "__main__":
    main()
