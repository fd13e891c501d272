"""Single-image predict_proba latency of the bundled model, vs calling Keras directly.

Prints one JSON line with p50/p90 in milliseconds over --calls single-image
calls for: the whole pretrained pipeline (parse + normalise + network), the
same with ``test_time_augmentation="zoom_flip"`` (two views in one forward pass),
FERClassifier.predict_proba on normalised pixels, the Keras model called
eagerly, and keras.Model.predict. Ratios are against Model.predict, measured
in the same run.

    python benchmarks/predict_latency.py [--calls 200]
"""

import argparse
import json
import time

import numpy as np


def timings(call, calls):
    for _ in range(5):  # warm-up: tracing, allocator
        call()
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return {
        "p50_ms": round(1000 * float(np.median(samples)), 2),
        "p90_ms": round(1000 * float(np.percentile(samples, 90)), 2),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    from fercls import load_pretrained

    pipeline = load_pretrained()
    augmented = load_pretrained(test_time_augmentation="zoom_flip")
    classifier = pipeline[-1]
    pixels = np.random.default_rng(0).integers(0, 256, (1, 2304), dtype=np.uint8)
    normalised = pipeline[:-1].transform(pixels)
    images = normalised.reshape(1, 48, 48, 1)
    model = classifier.model_
    results = {
        "pipeline_predict_proba": timings(lambda: pipeline.predict_proba(pixels), args.calls),
        "pipeline_predict_proba_zoom_flip": timings(
            lambda: augmented.predict_proba(pixels), args.calls
        ),
        "classifier_predict_proba": timings(
            lambda: classifier.predict_proba(normalised), args.calls
        ),
        "keras_model_eager_call": timings(
            lambda: np.asarray(model(images, training=False)), args.calls
        ),
        "keras_model_predict": timings(lambda: model.predict(images, verbose=0), args.calls),
    }
    reference = results["keras_model_predict"]["p50_ms"]
    print(
        json.dumps(
            {
                "benchmark": "predict_latency",
                "calls": args.calls,
                **results,
                "speedup_vs_model_predict": {
                    k: round(reference / v["p50_ms"], 1) for k, v in results.items()
                },
            }
        )
    )


if __name__ == "__main__":
    main()
