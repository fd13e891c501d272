"""Single-image latency of a candidate model against the bundled one, in one run.

A larger network may replace the bundled ``vgg_small`` only if its single-image
``predict_proba`` (the whole pipeline: parse, normalise, network) takes at most
twice as long. The two models are called alternately, one image per call, so
both see the same machine load; the ratio of the medians is the figure. Runs
once with one TensorFlow thread and once with the default (all cores), each in
a fresh process because TensorFlow fixes its thread pools at start. Prints one
JSON line.

    python benchmarks/student_latency.py [--candidate training/teachers/vgg_crop_seed1_stretch2]
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DEFAULT_CANDIDATE = Path(__file__).parents[1] / "training/teachers/vgg_crop_seed1_stretch2"


def alternating_medians(calls, candidate):
    """Median milliseconds of each model, calls alternating between them."""
    from fercls.pretrained import load_pipeline, load_pretrained

    models = {"bundled": load_pretrained(), "candidate": load_pipeline(candidate)}
    pixels = np.random.default_rng(0).integers(0, 256, (1, 48 * 48), dtype=np.uint8)
    for model in models.values():
        for _ in range(10):  # warm-up: tracing, allocator
            model.predict_proba(pixels)
    samples = {name: [] for name in models}
    for _ in range(calls):
        for name, model in models.items():
            start = time.perf_counter()
            model.predict_proba(pixels)
            samples[name].append(time.perf_counter() - start)
    return {name: 1000 * float(np.median(s)) for name, s in samples.items()}


def measured_in_fresh_process(threads, calls, candidate):
    env = dict(os.environ)
    env.pop("TF_NUM_INTRAOP_THREADS", None)
    if threads:
        env["TF_NUM_INTRAOP_THREADS"] = env["OMP_NUM_THREADS"] = str(threads)
    command = [sys.executable, __file__, "--child", "--calls", str(calls)]
    output = subprocess.run(
        [*command, "--candidate", str(candidate)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    medians = json.loads(output.strip().splitlines()[-1])
    return {
        "bundled_p50_ms": round(medians["bundled"], 2),
        "candidate_p50_ms": round(medians["candidate"], 2),
        "ratio": round(medians["candidate"] / medians["bundled"], 2),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidate", type=Path, default=DEFAULT_CANDIDATE)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(alternating_medians(args.calls, args.candidate)))
        return
    from fercls._machine import cpu_name
    from fercls.persistence import read_card

    card = read_card(args.candidate)
    print(
        json.dumps(
            {
                "benchmark": "student_latency",
                "cpu": cpu_name(),
                "candidate": args.candidate.name,
                "candidate_architecture": card.get("architecture"),
                "calls": args.calls,
                "one_thread": measured_in_fresh_process(1, args.calls, args.candidate),
                "all_cores": measured_in_fresh_process(None, args.calls, args.candidate),
            }
        )
    )


if __name__ == "__main__":
    main()
