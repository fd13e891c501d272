"""Export: standalone networks taking raw 0-255 pixels, outputs in classes_ order,
with their labels written beside them."""

import json

import numpy as np
import pytest
from helpers import make_faces
from sklearn.pipeline import make_pipeline

import fercls
from fercls import EMOTIONS, FERClassifier, PixelNormalizer
from fercls.cli import main
from fercls.export import TFLiteModel, export, read_labels


@pytest.fixture(scope="module")
def faces():
    images, labels = make_faces(n_per_class=6, size=48, n_classes=7)
    # Names sort alphabetically in classes_, so exporting must reorder the columns.
    return images.reshape(len(images), -1), np.asarray(EMOTIONS)[labels]


def _fit(faces, method):
    X, y = faces
    classifier = FERClassifier("simple", max_iter=1, augment=False, random_state=0)
    return make_pipeline(PixelNormalizer(method=method), classifier).fit(X, y)


@pytest.fixture(scope="module")
def pipeline(faces):
    return _fit(faces, "scale")


def expected(pipeline, X):
    """The pipeline's probabilities: exports keep its column order."""
    return pipeline.predict_proba(X)


@pytest.mark.parametrize("method", ["scale", "standardize"])
def test_tflite_takes_raw_pixels_and_matches_the_pipeline(faces, tmp_path, method):
    X, _ = faces
    pipeline = _fit(faces, method)
    labels = export(pipeline, tmp_path / "m.tflite", format="tflite")
    assert labels == list(fercls.PROBABILITY_ORDER) == pipeline.classes_.tolist()
    assert json.loads((tmp_path / "m.tflite.labels.json").read_text()) == labels
    model = TFLiteModel(tmp_path / "m.tflite")  # reads the labels written beside it
    assert tuple(model.input_["shape"]) == (1, 48, 48, 1)
    np.testing.assert_allclose(model.predict_proba(X), expected(pipeline, X), atol=1e-5)
    assert (model.predict(X) == pipeline.predict(X)).all()


def test_quantised_tflite_is_smaller_and_close(pipeline, faces, tmp_path):
    X, _ = faces
    export(pipeline, tmp_path / "f32.tflite", format="tflite")
    export(pipeline, tmp_path / "f16.tflite", format="tflite", quantize="float16")
    export(
        pipeline, tmp_path / "i8.tflite", format="tflite", quantize="int8", representative_data=X
    )
    sizes = {p: (tmp_path / f"{p}.tflite").stat().st_size for p in ("f32", "f16", "i8")}
    assert sizes["i8"] < sizes["f16"] < sizes["f32"]
    reference = expected(pipeline, X)
    np.testing.assert_allclose(
        TFLiteModel(tmp_path / "f16.tflite").predict_proba(X), reference, atol=1e-2
    )
    np.testing.assert_allclose(
        TFLiteModel(tmp_path / "i8.tflite").predict_proba(X), reference, atol=0.1
    )


def test_keras_h5_and_saved_model_load_without_fercls_code(pipeline, faces, tmp_path):
    import keras
    import tensorflow as tf

    X, _ = faces
    images = X.reshape(-1, 48, 48, 1).astype(np.float32)
    reference = expected(pipeline, X)
    export(pipeline, tmp_path / "m.keras", format="keras")
    assert read_labels(tmp_path / "m.keras") == pipeline.classes_.tolist()
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(loaded.predict(images, verbose=0), reference, atol=1e-5)
    export(pipeline, tmp_path / "m.h5", format="h5")
    assert keras.saving.load_model(tmp_path / "m.h5").output_shape == (None, 7)
    export(pipeline, tmp_path / "saved", format="saved_model")
    assert json.loads((tmp_path / "saved" / "labels.json").read_text()) == list(
        fercls.PROBABILITY_ORDER
    )
    served = tf.saved_model.load(str(tmp_path / "saved"))
    np.testing.assert_allclose(served.serve(images).numpy(), reference, atol=1e-5)


def test_a_saved_and_loaded_model_exports_as_h5(pipeline, faces, tmp_path):
    # Keras's HDF5 writer failed on a network read back from a .keras file
    # ("cannot pickle 'module' object"), so `fercls train` then
    # `fercls export --format h5` failed on every model a user trained.
    import keras

    X, _ = faces
    fercls.save(pipeline, tmp_path / "m.fercls")
    loaded = fercls.load(tmp_path / "m.fercls")
    export(loaded, tmp_path / "m.h5", format="h5")
    network = keras.saving.load_model(tmp_path / "m.h5")
    images = X.reshape(-1, 48, 48, 1).astype(np.float32)
    np.testing.assert_allclose(network.predict(images, verbose=0), expected(pipeline, X), atol=1e-5)


def test_bare_classifier_with_integer_ids_exports_in_its_classes_order(faces, tmp_path):
    X, y = faces
    ids = np.asarray([EMOTIONS.index(name) for name in y])
    classifier = FERClassifier("simple", max_iter=1, augment=False, random_state=0)
    classifier.fit(X / 255.0, ids)
    labels = export(classifier, tmp_path / "m.tflite", format="tflite")
    assert labels == list(range(7)) == classifier.classes_.tolist()
    np.testing.assert_allclose(
        TFLiteModel(tmp_path / "m.tflite").predict_proba(X),
        classifier.predict_proba(X / 255.0),
        atol=1e-5,
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(format="coreml"), "format='coreml'"),
        (dict(format="onnx"), "needs a path ending in .onnx"),
        (dict(format="keras", quantize="int8"), "applies to format='tflite' only"),
        (dict(format="tflite", quantize="int4"), "quantize='int4'"),
        (dict(format="tflite", quantize="int8"), "needs representative_data"),
        (dict(format="keras"), "needs a path ending in .keras"),
    ],
)
def test_bad_export_requests_are_refused(pipeline, tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        export(pipeline, tmp_path / "m.bin", **kwargs)
    assert not list(tmp_path.iterdir())


def test_unfitted_or_foreign_models_are_refused(tmp_path):
    from sklearn.exceptions import NotFittedError
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(NotFittedError):
        export(FERClassifier(), tmp_path / "m.keras")
    with pytest.raises(TypeError, match="LogisticRegression"):
        export(LogisticRegression(), tmp_path / "m.keras")


def test_cli_exports_a_saved_model(pipeline, tmp_path, capsys):
    fercls.save(pipeline, tmp_path / "m.fercls")
    argv = ["export", "--model", tmp_path / "m.fercls", "--format", "tflite"]
    assert main([str(a) for a in [*argv, "--output", tmp_path / "m.tflite"]]) == 0
    assert "outputs: angry, disgust, fear, happy, neutral, sad, surprise" in capsys.readouterr().out
    assert main([str(a) for a in [*argv, "--quantize", "int8", "--output", tmp_path / "q"]]) == 1
    assert not (tmp_path / "q.labels.json").exists()
    assert "--quantize int8 needs --data" in capsys.readouterr().err


def test_onnx_takes_raw_pixels_and_runs_in_onnxruntime_without_tensorflow(
    pipeline, faces, tmp_path
):
    pytest.importorskip("tf2onnx", reason="the onnx extra is not installed")
    import subprocess
    import sys

    X, _ = faces
    labels = export(pipeline, tmp_path / "m.onnx", format="onnx")
    assert labels == pipeline.classes_.tolist() == read_labels(tmp_path / "m.onnx")
    np.save(tmp_path / "X.npy", X)
    # A fresh process that never imports TensorFlow runs the file.
    script = (
        "import sys, numpy as np; from fercls.export import ONNXModel; "
        f"m = ONNXModel({str(tmp_path / 'm.onnx')!r}); "
        f"p = m.predict_proba(np.load({str(tmp_path / 'X.npy')!r})); "
        "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'; "
        f"np.save({str(tmp_path / 'p.npy')!r}, p); print(list(m.predict(np.load("
        f"{str(tmp_path / 'X.npy')!r}))[:3]))"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""  # onnxruntime's start-up notes are silenced
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), expected(pipeline, X), atol=1e-5)
    assert eval(run.stdout) == pipeline.predict(X)[:3].tolist()


def test_a_bfloat16_network_exports_to_onnx_in_float32(faces, tmp_path):
    pytest.importorskip("tf2onnx", reason="the onnx extra is not installed")
    from fercls.export import ONNXModel

    X, y = faces
    classifier = FERClassifier("simple", max_iter=1, precision="mixed_bfloat16", random_state=0)
    classifier.fit(X / 255.0, y)
    export(classifier, tmp_path / "b.onnx", format="onnx")
    onnx = ONNXModel(tmp_path / "b.onnx").predict_proba(X)
    np.testing.assert_allclose(onnx, classifier.predict_proba(X / 255.0), atol=0.02)


def test_a_file_that_is_not_onnx_is_a_value_error_naming_it(tmp_path):
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    from fercls.export import ONNXModel

    (tmp_path / "fake.onnx").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="fake.onnx: not an ONNX model"):
        ONNXModel(tmp_path / "fake.onnx", labels=["a"])


def test_pretrained_int8_tflite_agrees_with_the_float_model_on_fer2013(
    fer_zip, fer_bunch, tmp_path
):
    """Accuracy and agreement with Keras on 600 PrivateTest images (the benchmark: 3,589)."""
    out = tmp_path / "fer_int8.tflite"
    argv = ["export", "--format", "tflite", "--quantize", "int8", "--data", fer_zip]
    assert main([str(a) for a in [*argv, "--output", out]]) == 0
    private = np.flatnonzero(fer_bunch.usage == "PrivateTest")[:600]
    X, truth = fer_bunch.data[private], np.asarray(EMOTIONS)[fer_bunch.target[private]]
    float_predictions = fercls.load_pretrained().predict(X)
    int8_predictions = TFLiteModel(out).predict(X)
    assert (int8_predictions == float_predictions).mean() > 0.95
    assert abs((int8_predictions == truth).mean() - (float_predictions == truth).mean()) <= 0.02


@pytest.mark.parametrize(
    ("text", "message"),
    [("[" * 100_000, "nested too deeply"), ('{"0": "happy"}', "expected a JSON list")],
)
def test_a_hostile_labels_file_is_a_value_error_naming_it(tmp_path, text, message):
    (tmp_path / "m.tflite.labels.json").write_text(text)
    with pytest.raises(ValueError, match=f"m.tflite.labels.json: .*{message}"):
        read_labels(tmp_path / "m.tflite")
