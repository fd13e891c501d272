"""Prediction over Dask partitions on a LocalCluster of two workers against one
process's predict, in the same run; prints one JSON line.

All 3,589 PrivateTest images (repeated --repeat times) are predicted by the
bundled model: once with ``model.predict`` in this process (one TensorFlow
thread), once with ``fercls.distributed.predict_partitions`` on a LocalCluster
of two single-threaded worker processes (the model shipped to each once;
cluster start-up and the workers' first call are excluded, as a long-lived
cluster pays them once). The predictions must be identical.

    python benchmarks/dask_predict.py [--repeat 4] [--chunk 2048]
"""

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from fercls.datasets import fer2013_path

DEFAULT_DATA = fer2013_path(__file__)  # $FERCLS_FER2013, or ../shared/data/fer2013.zip


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeat", type=int, default=4)
    parser.add_argument("--chunk", type=int, default=2048)
    args = parser.parse_args()
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    import dask.array as da
    from dask.distributed import Client, LocalCluster

    from fercls import load_fer2013, load_pretrained
    from fercls.distributed import predict_partitions

    data = load_fer2013(args.data)
    pixels = np.tile(data.data[data.usage == "PrivateTest"], (args.repeat, 1))
    model = load_pretrained(with_parser=False)
    model.predict(pixels[:10])  # warm-up
    start = time.perf_counter()
    expected = model.predict(pixels)
    one_process = time.perf_counter() - start
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster),
    ):
        lazy = da.from_array(pixels, chunks=(args.chunk, pixels.shape[1]))
        predict_partitions(model, lazy[: 2 * args.chunk]).compute()  # each worker's first call
        start = time.perf_counter()
        predicted = predict_partitions(model, lazy).compute()
        two_workers = time.perf_counter() - start
    print(
        json.dumps(
            {
                "benchmark": "dask_predict",
                "images": len(pixels),
                "chunk": args.chunk,
                "one_process_seconds": round(one_process, 2),
                "two_workers_seconds": round(two_workers, 2),
                "speedup": round(one_process / two_workers, 2),
                "identical": bool((predicted == expected).all()),
            }
        )
    )


if __name__ == "__main__":
    main()
