"""TFLite and ONNX export of the bundled model: size, single-image latency and accuracy.

Exports the pretrained pipeline as float32, float16 and int8 TFLite (int8
calibrated on 500 FER2013 Training images) and as ONNX (when the onnx extra is
installed), runs each with its runtime (the TFLite interpreter, onnxruntime;
one thread) on all 3,589 PrivateTest images, and prints one JSON
line: file size, p50 single-image latency over --calls calls, PrivateTest
accuracy (all images, and those not byte-identical to a training image) and
agreement with the float Keras model. The Keras pipeline's own single-image
p50 is measured in the same run as the baseline for the latency ratios.

    python benchmarks/export_tflite.py [--data ../shared/data/fer2013.zip] [--calls 200]
"""

import argparse
import json
import platform
import tempfile
from pathlib import Path

import numpy as np
from predict_latency import timings

from fercls.datasets import fer2013_path

DEFAULT_DATA = fer2013_path(__file__)  # $FERCLS_FER2013, or ../shared/data/fer2013.zip


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()

    from fercls import EMOTIONS, load_fer2013, load_pretrained
    from fercls.datasets import overlaps_training
    from fercls.export import TFLiteModel, export

    data = load_fer2013(args.data)
    private = data.usage == "PrivateTest"
    unique = private & ~overlaps_training(data)
    truth = np.asarray(EMOTIONS)[data.target]
    pipeline = load_pretrained()
    keras_predictions = pipeline.predict(data.data[private])
    one = data.data[private][:1]
    baseline = timings(lambda: pipeline.predict_proba(one), args.calls)
    results = {
        "keras_pipeline": {
            "accuracy": round(float((keras_predictions == truth[private]).mean()), 4),
            "single_image": baseline,
        }
    }
    with tempfile.TemporaryDirectory() as folder:
        for quantize in (None, "float16", "int8"):
            name = quantize or "float32"
            path = Path(folder) / f"{name}.tflite"
            export(
                pipeline,
                path,
                format="tflite",
                quantize=quantize,
                representative_data=data.data[data.usage == "Training"],
            )
            results[f"tflite_{name}"] = measure(
                TFLiteModel(path), path, data, private, unique, truth,
                keras_predictions, one, baseline, args.calls,
            )  # fmt: skip
        try:
            import tf2onnx  # noqa: F401
        except ImportError:
            pass  # pip install "fercls[onnx]" to measure ONNX too
        else:
            from fercls.export import ONNXModel

            path = Path(folder) / "fer.onnx"
            export(pipeline, path, format="onnx")
            results["onnx"] = measure(ONNXModel(path), path, data, private, unique, truth,
                                      keras_predictions, one, baseline, args.calls)  # fmt: skip
    results["images"] = int(private.sum())
    results["machine"] = f"{platform.processor() or platform.machine()}, {platform.system()}"
    print(json.dumps(results))


def measure(model, path, data, private, unique, truth, keras_predictions, one, baseline, calls):
    """Size, accuracy, agreement with Keras and single-image latency of an exported model."""
    predicted = model.predict(data.data[private])
    single = timings(lambda: model.predict_proba(one), calls)
    return {
        "size_mb": round(path.stat().st_size / 1e6, 2),
        "accuracy": round(float((predicted == truth[private]).mean()), 4),
        "accuracy_not_in_training": round(
            float((predicted[unique[private]] == truth[unique]).mean()), 4
        ),
        "agreement_with_keras": round(float((predicted == keras_predictions).mean()), 4),
        "single_image": single,
        "speedup_vs_keras_pipeline": round(baseline["p50_ms"] / single["p50_ms"], 1),
    }


if __name__ == "__main__":
    main()
