"""FERClassifier.fit vs keras.Model.fit of the same network on the same arrays; batch prediction.

For each architecture: builds the network with the same builder and seed,
compiles it identically (Adam, categorical cross-entropy, accuracy), and trains
--epochs epochs on the first --n FER2013 Training images (normalised float32)
both ways: ``FERClassifier.fit`` and plain ``model.fit(x, y_onehot,
batch_size=64, shuffle=True)``. Seconds per epoch are the median over epochs
2..E (epoch 1 includes tracing). Then batch prediction of all PrivateTest
images: ``FERClassifier.predict_proba`` vs ``model.predict(batch_size=256)``.
Runs alternate (Keras, fercls, Keras, fercls) so drift on a shared machine hits
both. Prints one JSON line; overhead_pct > 0 means fercls is slower.

    python benchmarks/fit_overhead.py [--n 4096] [--epochs 4] [--architectures simple vgg_small]
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

from fercls.datasets import fer2013_path

DEFAULT_DATA = fer2013_path(__file__)  # $FERCLS_FER2013, or ../shared/data/fer2013.zip


def epoch_times():
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.start)

    return EpochTimer()


def keras_fit(classifier, X, y, epochs):
    """The same network and compile settings, trained by plain Keras."""
    classifier.classes_ = np.unique(y)
    classifier.image_shape_ = (48, 48)
    model = classifier._build_model(seed=0)
    timer = epoch_times()
    targets = np.eye(7, dtype=np.float32)[y]
    model.fit(
        X.reshape(-1, 48, 48, 1),
        targets,
        batch_size=classifier.batch_size,
        epochs=epochs,
        shuffle=True,
        callbacks=[timer],
        verbose=0,
    )
    return model, float(np.median(timer.seconds[1:]))


def fercls_fit(classifier, X, y):
    timer = epoch_times()
    classifier.fit(X, y, callbacks=[timer])
    return float(np.median(timer.seconds[1:]))


def median_time(call, repeats=3):
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return float(np.median(samples))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--architectures", nargs="+", default=["simple", "vgg_small"])
    args = parser.parse_args()
    from fercls import FERClassifier, PixelNormalizer, load_fer2013

    data = load_fer2013(args.data)
    train = np.flatnonzero(data.usage == "Training")[: args.n]
    X = PixelNormalizer().fit_transform(data.data[train])
    y = data.target[train]
    private = PixelNormalizer().fit_transform(data.data[data.usage == "PrivateTest"])
    results = {"images": len(train), "epochs": args.epochs}
    for name in args.architectures:

        def make(name=name):
            return FERClassifier(name, max_iter=args.epochs, random_state=0, augment=True)

        keras_model, keras_s = keras_fit(make(), X, y, args.epochs)
        classifier = make()
        fercls_s = fercls_fit(classifier, X, y)
        keras_model2, keras_s2 = keras_fit(make(), X, y, args.epochs)
        fercls_s2 = fercls_fit(make(), X, y)
        keras_epoch = float(np.mean([keras_s, keras_s2]))
        fercls_epoch = float(np.mean([fercls_s, fercls_s2]))
        images = private.reshape(-1, 48, 48, 1)
        keras_predict = median_time(
            lambda m=keras_model, x=images: m.predict(x, batch_size=256, verbose=0)
        )
        fercls_predict = median_time(lambda c=classifier: c.predict_proba(private))
        results[name] = {
            "keras_s_per_epoch": round(keras_epoch, 2),
            "fercls_s_per_epoch": round(fercls_epoch, 2),
            "fit_overhead_pct": round(100 * (fercls_epoch / keras_epoch - 1), 1),
            "fercls_train_images_per_s": round(len(train) / fercls_epoch),
            "predict_images": len(private),
            "keras_predict_s": round(keras_predict, 2),
            "fercls_predict_proba_s": round(fercls_predict, 2),
            "predict_overhead_pct": round(100 * (fercls_predict / keras_predict - 1), 1),
        }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
