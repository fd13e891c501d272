"""Grid search over a pipeline that oversamples rare emotions inside each training fold.

RandomOverSampler sits inside an imbalanced-learn pipeline, so it resamples only
the data each fold trains on; the validation fold keeps FER2013's real class
mix. GridSearchCV with a classifier uses stratified folds.

    python examples/grid_search_oversampling.py --quick
"""

import argparse
from pathlib import Path

import numpy as np
from imblearn.over_sampling import RandomOverSampler
from imblearn.pipeline import make_pipeline
from sklearn.model_selection import GridSearchCV

from fercls import FERClassifier, PixelNormalizer, PixelStringParser, load_fer2013
from fercls.datasets import fer2013_path

DEFAULT_DATA = fer2013_path(__file__)  # $FERCLS_FER2013, or ../shared/data/fer2013.zip


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()

    frame = load_fer2013(args.data, as_frame=True).frame  # the challenge CSV's columns
    train = frame[frame.Usage == "Training"].iloc[: 600 if args.quick else None]
    pipeline = make_pipeline(
        PixelStringParser(),  # "70 80 82 ..." -> (n, 2304) uint8
        RandomOverSampler(random_state=0),  # fit-time only, inside each training fold
        PixelNormalizer(),
        FERClassifier("simple", max_iter=1 if args.quick else 15, random_state=0),
    )
    grid = {
        "ferclassifier__learning_rate_init": [1e-3, 3e-3],
        "ferclassifier__label_smoothing": [0.0, 0.1],
    }
    search = GridSearchCV(pipeline, grid, cv=2 if args.quick else 3, scoring="f1_macro")
    search.fit(train.pixels, train.emotion)
    results = search.cv_results_
    for params, score in zip(results["params"], results["mean_test_score"], strict=True):
        print(f"{params}: macro-F1 {score:.3f}")
    print("best:", search.best_params_)
    counts = np.bincount(
        search.best_estimator_[1].fit_resample(
            search.best_estimator_[0].transform(train.pixels), train.emotion
        )[1]
    )
    print("class counts the final model trained on (after oversampling):", counts.tolist())


if __name__ == "__main__":
    main()
