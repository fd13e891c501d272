"""FERClassifier.fit across two worker processes (MultiWorkerMirroredStrategy on
localhost) against the same fit in one process, in the same run; prints one JSON line.

Each worker is this script started with ``--worker INDEX``: it sets its own
``TF_CONFIG`` (the two workers on 127.0.0.1), fits the same classifier on the
same FER2013 Training images and saves its weights, history and predictions.
The two workers must end with identical weights. The one-process fit uses
the same total number of threads (two workers with one thread each against
one process with two), so the ratio says what the second process costs or
gains on one machine; across hosts each worker brings its own cores.

    python benchmarks/multi_worker_fit.py            # vgg_small, 4,096 images, 2 epochs
    python benchmarks/multi_worker_fit.py --quick    # vgg_small, 256 images, 2 epochs, two
                                                     # workers only (the tests' smoke run)
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from fercls.datasets import fer2013_path

FULL = {"architecture": "vgg_small", "images": 4096, "epochs": 2, "test_images": 1000}
QUICK = {"architecture": "vgg_small", "images": 256, "epochs": 2, "test_images": 256}
TIMEOUT_SECONDS = 900


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=fer2013_path(__file__))
    parser.add_argument("--quick", action="store_true", help="a smoke run for the tests")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ports", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    if args.out is not None:
        fit_and_save(args.data, settings, args.out, args.worker, args.ports)
        return
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        two = run_processes(args, folder, workers=2)
        # The smoke run checks the two workers agree and learn; the comparison
        # with one process is the measurement, in the full run only.
        one = None if args.quick else run_processes(args, folder, workers=1)
    result = {
        "benchmark": "multi_worker_fit",
        **settings,
        "two_workers_seconds": round(float(two[0]["seconds"]), 2),
        "workers_identical": bool(np.array_equal(two[0]["weights"], two[1]["weights"])),
        "two_workers_accuracy": round(float(two[0]["accuracy"]), 4),
        "epochs_run": int(two[0]["n_iter"]),
        "two_workers_loss_by_epoch": [round(float(v), 4) for v in two[0]["loss"]],
    }
    if one is not None:
        result.update(
            one_process_seconds=round(float(one[0]["seconds"]), 2),
            two_workers_speedup=round(float(one[0]["seconds"] / two[0]["seconds"]), 2),
            one_process_accuracy=round(float(one[0]["accuracy"]), 4),
            one_process_loss_by_epoch=[round(float(v), 4) for v in one[0]["loss"]],
        )
    print(json.dumps(result))


def run_processes(args, folder, *, workers):
    """Start ``workers`` copies of this script (one thread each when two, two
    threads when one) and load what each saved."""
    ports = ",".join(str(p) for p in free_ports(workers))
    threads = str(2 // workers)
    env = {**os.environ, "TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": "1"}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    outs = [folder / f"{workers}-{i}.npz" for i in range(workers)]
    command = [sys.executable, __file__, "--data", str(args.data), "--ports", ports]
    command += ["--quick"] if args.quick else []
    processes = [
        subprocess.Popen(
            [*command, "--worker", str(i), "--out", str(out)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i, out in enumerate(outs)
    ]
    try:
        logs = [p.communicate(timeout=TIMEOUT_SECONDS)[0] for p in processes]
    finally:
        for p in processes:
            p.kill()
    for p, log in zip(processes, logs, strict=True):
        if p.returncode != 0:
            sys.exit(f"a worker failed (exit status {p.returncode}):\n{log[-3000:]}")
    return [dict(np.load(out)) for out in outs]


def free_ports(n):
    """``n`` ports free on localhost right now."""
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def fit_and_save(data_path, settings, out, worker, ports):
    """One worker: its TF_CONFIG, the fit, and what it learned, saved to ``out``."""
    ports = ports.split(",")
    if len(ports) > 1:
        cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
        os.environ["TF_CONFIG"] = json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": worker}}
        )
    import tensorflow as tf

    from fercls import EMOTIONS, FERClassifier, load_fer2013

    # Created before anything else touches TensorFlow's runtime, as it requires.
    strategy = tf.distribute.MultiWorkerMirroredStrategy() if len(ports) > 1 else None
    data = load_fer2013(data_path)
    train = np.flatnonzero(data.usage == "Training")[: settings["images"]]
    test = np.flatnonzero(data.usage == "PublicTest")[: settings["test_images"]]
    names = np.asarray(EMOTIONS)[data.target]

    def scaled(rows):  # only the rows used become float32, not all 35,887 images
        return data.data[rows].astype(np.float32) / 255

    clf = FERClassifier(
        settings["architecture"],
        max_iter=settings["epochs"],
        random_state=0,
        distribution=strategy,
    )
    start = time.perf_counter()
    clf.fit(scaled(train), names[train])
    seconds = time.perf_counter() - start
    np.savez(
        out,
        seconds=seconds,
        weights=np.concatenate([w.ravel() for w in clf.model_.get_weights()]),
        accuracy=clf.score(scaled(test), names[test]),
        n_iter=clf.n_iter_,
        loss=np.asarray(clf.history_["loss"]),
    )


if __name__ == "__main__":
    main()
