"""Training throughput of float32 against mixed_bfloat16, as a ratio measured in one run.

Builds the same network twice (``vgg_small`` by default, with fercls' in-model
augmentation) and times ``train_on_batch`` on random 48x48 batches, alternating
the two precisions round by round, so whatever else the machine is doing
weighs on both alike. Prints one JSON line with images/s for each and their
ratio, and whether the CPU reports ``avx512_bf16`` or ``amx_bf16``.

    python benchmarks/precision_throughput.py [--architecture vgg_small] [--rounds 4]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from fercls._machine import cpu_flags


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--architecture", default="vgg_small")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per round")
    args = parser.parse_args(argv)

    from fercls.architectures import build_network, import_keras

    import_keras()  # sets TensorFlow's log level before it starts
    rng = np.random.default_rng(0)
    x = rng.random((args.batch_size, 48, 48, 1), dtype=np.float32)
    y = np.eye(7, dtype=np.float32)[rng.integers(0, 7, args.batch_size)]
    models = {}
    for precision in ("float32", "mixed_bfloat16"):
        model = build_network(
            args.architecture, (48, 48, 1), 7, augment=True, seed=0, precision=precision
        )
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        for _ in range(3):  # warm-up: tracing and oneDNN kernel selection
            model.train_on_batch(x, y)
        models[precision] = model
    seconds = dict.fromkeys(models, 0.0)
    for _ in range(args.rounds):
        for precision, model in models.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                model.train_on_batch(x, y)
            seconds[precision] += time.perf_counter() - start
    images = args.rounds * args.steps * args.batch_size
    rate = {p: round(images / s, 1) for p, s in seconds.items()}
    flags = cpu_flags()
    result = {
        "benchmark": "precision_throughput",
        "architecture": args.architecture,
        "images_per_second": rate,
        "bfloat16_speedup": round(rate["mixed_bfloat16"] / rate["float32"], 2),
        "cpu_bf16": sorted(flags & {"avx512_bf16", "amx_bf16"}),
    }
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
