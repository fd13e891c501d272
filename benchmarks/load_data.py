"""load_fer2013 of the Kaggle zip and of the challenge CSV: seconds and peak memory.

Writes the challenge CSV (301 MB) from ../shared/data/fer2013.zip (or --data)
into a temporary folder, then loads each source in a fresh process and reports
wall seconds and peak RSS above the process's RSS after importing fercls. As a
baseline measured in the same run, ``pandas.read_csv`` of the CSV alone (no
parsing of the pixel strings) is timed the same way. Then the zip with
``cache_dir``: a first load that decodes and keeps a copy, and a second one,
in another fresh process, that reads the copy (``copy_speedup`` = the plain zip
load's seconds over the second's). Prints one JSON line.

    python benchmarks/load_data.py
"""

import argparse
import json
import os
import tempfile
from pathlib import Path

from child_process import run_child

from fercls.datasets import CACHE_ENV, fer2013_path

DEFAULT_DATA = fer2013_path(__file__)  # $FERCLS_FER2013, or ../shared/data/fer2013.zip

CHILD = """
import json, sys, time
import pandas as pd
import fercls

before = rss_mb()
start = time.perf_counter()
if sys.argv[2] == "read_csv":
    rows = len(pd.read_csv(sys.argv[1]))
else:
    cache_dir = sys.argv[3] if sys.argv[2] == "cached" else None
    rows = len(fercls.load_fer2013(sys.argv[1], cache_dir=cache_dir).target)
print(json.dumps({"seconds": round(time.perf_counter() - start, 2), "rows": rows,
                  "peak_extra_mb": round(rss_mb() - before)}))
"""


# A decoded copy kept by whoever runs this (the test suite sets one) must not
# speed up the loads measured without one.
ENV = {k: v for k, v in os.environ.items() if k != CACHE_ENV}


def measure(path, how, cache_dir=""):
    return run_child(CHILD, path, how, cache_dir, env=ENV)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    from fercls import load_fer2013

    with tempfile.TemporaryDirectory() as folder:
        csv = Path(folder) / "fer2013.csv"
        load_fer2013(args.data, as_frame=True).frame.to_csv(csv, index=False)
        results = {
            "csv_mb": round(csv.stat().st_size / 1e6),
            "zip": measure(args.data, "load_fer2013"),
            "csv": measure(csv, "load_fer2013"),
            "pandas_read_csv_only": measure(csv, "read_csv"),
            "zip_keeping_copy": measure(args.data, "cached", Path(folder) / "decoded"),
            "zip_from_copy": measure(args.data, "cached", Path(folder) / "decoded"),
        }
        copies = (Path(folder) / "decoded").glob("*.npz")
        results["copy_mb"] = round(sum(copy.stat().st_size for copy in copies) / 1e6)
    results["result_mb"] = round(results["zip"]["rows"] * 2304 / 1e6)
    results["copy_speedup"] = round(
        results["zip"]["seconds"] / results["zip_from_copy"]["seconds"], 1
    )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
