"""GridSearchCV(n_jobs=2) vs n_jobs=1 on this machine, with and without fercls' thread rule.

Fits the same grid (4 candidates x 2 folds = 8 fits of a small pipeline on
--n FER2013 Training images, --epochs epochs each) three ways, each in a fresh
process so TensorFlow starts with that setting:

- ``n_jobs=1``: one process, TensorFlow's default pools (the baseline);
- ``n_jobs=2``: joblib workers, fercls copies joblib's OMP_NUM_THREADS share
  into TensorFlow's pools (the rule, see ``fercls._threads``);
- ``n_jobs=2, no rule``: TF_NUM_INTRAOP/INTEROP_THREADS=0 (TensorFlow's
  machine-wide default in every worker: oversubscribed).

Prints one JSON line with the wall times and their ratios to the baseline.

    python benchmarks/grid_search_jobs.py [--n 2048] [--epochs 2] [--architecture vgg_small]
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from fercls.datasets import fer2013_path

DEFAULT_DATA = fer2013_path(__file__)  # $FERCLS_FER2013, or ../shared/data/fer2013.zip

WORKER = """
import json, sys, time
import numpy as np
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from fercls import FERClassifier, PixelNormalizer, load_fer2013

data_path, n, epochs, n_jobs, architecture = sys.argv[1], *map(int, sys.argv[2:5]), sys.argv[5]
data = load_fer2013(data_path)
rows = np.flatnonzero(data.usage == "Training")[:n]
pipe = make_pipeline(
    PixelNormalizer(), FERClassifier(architecture, max_iter=epochs, augment=False, random_state=0)
)
grid = {"ferclassifier__learning_rate_init": [1e-3, 3e-3], "ferclassifier__batch_size": [32, 64]}
start = time.perf_counter()
GridSearchCV(pipe, grid, cv=2, n_jobs=n_jobs).fit(data.data[rows], data.target[rows])
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def run(args, n_jobs, extra_env):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_NUM_", "OMP_NUM"))}
    env.update(extra_env, TF_CPP_MIN_LOG_LEVEL="3")
    argv = [sys.executable, "-c", WORKER, str(args.data), str(args.n), str(args.epochs)]
    out = subprocess.run(
        [*argv, str(n_jobs), args.architecture], env=env, capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])["seconds"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--n", type=int, default=2048)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--architecture", default="vgg_small")
    args = parser.parse_args()
    serial = run(args, 1, {})
    with_rule = run(args, 2, {})
    without_rule = run(args, 2, {"TF_NUM_INTRAOP_THREADS": "0", "TF_NUM_INTEROP_THREADS": "0"})
    print(
        json.dumps(
            {
                "fits": 8,
                "architecture": args.architecture,
                "images_per_fit": args.n // 2,
                "epochs": args.epochs,
                "cores": os.cpu_count(),
                "n_jobs_1_s": round(serial, 1),
                "n_jobs_2_rule_s": round(with_rule, 1),
                "n_jobs_2_no_rule_s": round(without_rule, 1),
                "speedup_n_jobs_2_rule": round(serial / with_rule, 2),
                "speedup_n_jobs_2_no_rule": round(serial / without_rule, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
