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
from pathlib import Path

from child_process import run_child

DEFAULT_CANDIDATE = Path(__file__).parents[1] / "training/teachers/vgg_crop_seed1_stretch2"

# Both are unset for "all cores": fercls copies OMP_NUM_THREADS into TensorFlow's pool.
THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS")
# Median milliseconds of each model, one image per call, calls alternating.
CHILD = """
import json, sys, time
import numpy as np
from fercls.pretrained import load_pipeline, load_pretrained

calls, candidate = int(sys.argv[1]), sys.argv[2]
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
print(json.dumps({name: 1000 * float(np.median(s)) for name, s in samples.items()}))
"""


def measured_in_fresh_process(threads, calls, candidate):
    """Both models' medians with ``threads`` TensorFlow threads (None: all cores)."""
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    if threads:
        env["TF_NUM_INTRAOP_THREADS"] = env["OMP_NUM_THREADS"] = str(threads)
    medians = run_child(CHILD, calls, candidate, env=env)
    return {
        "bundled_p50_ms": round(medians["bundled"], 2),
        "candidate_p50_ms": round(medians["candidate"], 2),
        "ratio": round(medians["candidate"] / medians["bundled"], 2),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidate", type=Path, default=DEFAULT_CANDIDATE)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
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
