"""What a new network's ``FERClassifier.fit`` costs before training, with fercls
building the training variables first against Keras building them inside the
traced train step, in the same run; prints one JSON line.

Without a distribution strategy, Keras creates the optimizer's (and the loss's
and metrics') variables while it traces the train step, and TensorFlow traces a
function that created variables a second time. fercls builds them before
``fit`` (``fercls._training.build_training_state``). The baseline is the same
fit with that step switched off. Each round fits a fresh classifier once each
way, alternating, on 128 random 48×48 images for one epoch, so the time is
almost all start-up (network, tracing); the medians over the rounds and their
ratio are printed, with how often Keras traced the train step each way.

    python benchmarks/fit_startup.py [--rounds 5]
"""

import argparse
import json
import time

import numpy as np

ARCHITECTURES = ("simple", "vgg_small")


def one_fit(architecture, images, labels, *, build_first):
    """Seconds of one fit of a new classifier, and how often the train step was traced."""
    from keras.src.backend.tensorflow.trainer import TensorFlowTrainer

    from fercls import FERClassifier, _training

    traced = []
    train_step = TensorFlowTrainer.train_step

    def counted(self, data):
        traced.append(1)
        return train_step(self, data)

    build = _training.build_training_state
    TensorFlowTrainer.train_step = counted
    if not build_first:
        _training.build_training_state = lambda model, sample: None
    try:
        clf = FERClassifier(architecture, max_iter=1, augment=False, random_state=0)
        start = time.perf_counter()
        clf.fit(images, labels)
        return time.perf_counter() - start, len(traced)
    finally:
        TensorFlowTrainer.train_step = train_step
        _training.build_training_state = build


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    images = rng.random((128, 48, 48), dtype=np.float32)
    labels = np.arange(128) % 7
    results = {}
    for architecture in ARCHITECTURES:
        one_fit(architecture, images, labels, build_first=True)  # warm-up: TensorFlow's first use
        seconds = {True: [], False: []}
        traces = {}
        for _ in range(args.rounds):
            for build_first in (False, True):
                elapsed, traces[build_first] = one_fit(
                    architecture, images, labels, build_first=build_first
                )
                seconds[build_first].append(elapsed)
        fercls_s, keras_s = np.median(seconds[True]), np.median(seconds[False])
        results[architecture] = {
            "keras_builds_in_trace_s": round(float(keras_s), 2),
            "fercls_builds_first_s": round(float(fercls_s), 2),
            "speedup": round(float(keras_s / fercls_s), 2),
            "traces_keras_builds_in_trace": traces[False],
            "traces_fercls_builds_first": traces[True],
        }
    print(
        json.dumps(
            {
                "benchmark": "fit_startup",
                "images": len(images),
                "epochs": 1,
                "rounds": args.rounds,
                **results,
            }
        )
    )


if __name__ == "__main__":
    main()
