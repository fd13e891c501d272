"""Grid search over a fercls pipeline on a Dask cluster.

Every candidate x fold is a task on a Dask worker; each worker limits
TensorFlow to its share of threads (fercls copies the OMP_NUM_THREADS that
Dask sets for workers into TensorFlow's pool sizes). Without --scheduler it
starts a LocalCluster of two single-threaded worker processes.

    python examples/distributed_search.py --quick
    python examples/distributed_search.py --scheduler tcp://scheduler:8786 --data fer2013.zip
"""

import argparse
from pathlib import Path

import joblib
import numpy as np
from dask.distributed import Client, LocalCluster
from imblearn.over_sampling import RandomOverSampler
from imblearn.pipeline import make_pipeline
from sklearn.model_selection import GridSearchCV

from fercls import FERClassifier, PixelNormalizer, PixelStringParser, load_fer2013
from fercls.datasets import fer2013_path

DEFAULT_DATA = fer2013_path(__file__)  # $FERCLS_FER2013, or ../shared/data/fer2013.zip


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scheduler", help="address of a running Dask scheduler")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--quick", action="store_true", help="600 images, 1 epoch: a smoke run")
    args = parser.parse_args()

    data = load_fer2013(args.data)
    train = np.flatnonzero(data.usage == "Training")[: 600 if args.quick else None]
    pipeline = make_pipeline(
        PixelStringParser(),
        RandomOverSampler(random_state=0),  # inside the pipeline: resamples training folds only
        PixelNormalizer(),
        FERClassifier("simple" if args.quick else "vgg_small", max_iter=1 if args.quick else 20),
    )
    grid = {"ferclassifier__learning_rate_init": [1e-3, 3e-4]}
    search = GridSearchCV(pipeline, grid, cv=2 if args.quick else 3)

    cluster = None if args.scheduler else LocalCluster(n_workers=2, threads_per_worker=1)
    with Client(args.scheduler or cluster) as client, joblib.parallel_backend("dask"):
        print(f"dashboard: {client.dashboard_link}")
        search.fit(data.data[train], data.target[train])
        threads = client.run(lambda: __import__("os").environ.get("TF_NUM_INTRAOP_THREADS"))
    if cluster is not None:
        cluster.close()
    print(f"TensorFlow intra-op threads per worker: {sorted(threads.values())}")
    for params, score in zip(
        search.cv_results_["params"], search.cv_results_["mean_test_score"], strict=True
    ):
        print(f"{params}: mean CV accuracy {score:.3f}")
    print(f"best: {search.best_params_}")


if __name__ == "__main__":
    main()
