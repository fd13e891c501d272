"""fercls.save / fercls.load: a model format that runs no code on load."""

import json
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
from helpers import make_faces
from imblearn.over_sampling import RandomOverSampler
from imblearn.pipeline import make_pipeline
from sklearn.linear_model import LogisticRegression

import fercls
from fercls import FERClassifier, PixelNormalizer, PixelStringParser
from fercls.labels import EMOTIONS
from fercls.persistence import MANIFEST


@pytest.fixture(scope="module")
def data():
    images, labels = make_faces(n_per_class=20, size=12, n_classes=3)
    return images.reshape(len(images), -1), np.asarray(EMOTIONS)[labels]


@pytest.fixture(scope="module")
def pipeline(data):
    X, y = data
    pipe = make_pipeline(
        PixelStringParser(n_pixels=144),
        RandomOverSampler(random_state=0),
        PixelNormalizer(),
        FERClassifier("simple", max_iter=3, augment=False, random_state=0, batch_size=16),
    )
    return pipe.fit(PixelStringParser(n_pixels=144).inverse_transform(X), y)


@pytest.fixture(scope="module")
def saved(pipeline, tmp_path_factory):
    return fercls.save(pipeline, tmp_path_factory.mktemp("saved") / "model.fercls")


def test_pipeline_round_trip_predicts_identically(pipeline, saved, data):
    X, _ = data
    loaded = fercls.load(saved)
    assert [name for name, _ in loaded.steps] == [name for name, _ in pipeline.steps]
    assert type(loaded) is type(pipeline)
    np.testing.assert_array_equal(loaded.predict_proba(X), pipeline.predict_proba(X))
    classifier = loaded[-1]
    assert classifier.get_params() == pipeline[-1].get_params()
    assert classifier.history_ == pipeline[-1].history_
    assert classifier.classes_.dtype == pipeline[-1].classes_.dtype


@pytest.mark.slow  # starts Python processes that import TensorFlow
def test_loads_in_a_fresh_process(saved, data, tmp_path):
    X, _ = data
    np.save(tmp_path / "X.npy", X)
    script = f"""
        import numpy as np, fercls
        model = fercls.load({str(saved)!r})
        print(model.predict(np.load({str(tmp_path / "X.npy")!r})[:5]).tolist())
    """
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, check=True
    )
    assert (
        json.loads(out.stdout.strip().replace("'", '"'))
        == fercls.load(saved).predict(X[:5]).tolist()
    )


def test_archive_holds_json_and_a_keras_file_only(saved):
    with zipfile.ZipFile(saved) as archive:
        names = sorted(archive.namelist())
        manifest = json.loads(archive.read(MANIFEST))
    assert names == [MANIFEST, "network-0.keras"]
    assert manifest["format"] == "fercls"
    assert manifest["object"]["class"] == "imblearn.pipeline.Pipeline"


def test_refuses_objects_that_would_need_code(tmp_path, data):
    X, y = data
    with pytest.raises(TypeError, match="LogisticRegression"):
        fercls.save(LogisticRegression().fit(X, y), tmp_path / "lr.fercls")
    custom = FERClassifier(lambda shape, n: None)
    with pytest.raises(TypeError, match="callable"):
        fercls.save(custom, tmp_path / "custom.fercls")
    assert not list(tmp_path.iterdir()), "a refused save must leave nothing on disk"


def _rewrite_manifest(source, target, edit):
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            data = old.read(item)
            if item.filename == MANIFEST:
                manifest = json.loads(data)
                edit(manifest)
                data = json.dumps(manifest).encode()
            new.writestr(item, data)


def test_load_refuses_classes_outside_the_allow_list(saved, tmp_path):
    target = tmp_path / "evil.fercls"

    def evil(manifest):
        manifest["object"]["steps"][0][1]["class"] = "os.system"

    _rewrite_manifest(saved, target, evil)
    with pytest.raises(ValueError, match="'os.system' is not one fercls.load creates"):
        fercls.load(target)


def test_load_refuses_unexpected_attributes(saved, tmp_path):
    target = tmp_path / "attr.fercls"

    def inject(manifest):
        manifest["object"]["steps"][-1][1]["state"]["__dict__"].append(["__class__", "x"])

    _rewrite_manifest(saved, target, inject)
    with pytest.raises(ValueError, match="unexpected attribute '__class__'"):
        fercls.load(target)


def test_load_rejects_path_traversal_and_non_archives(saved, tmp_path):
    escaping = tmp_path / "escape.fercls"
    with zipfile.ZipFile(saved) as old, zipfile.ZipFile(escaping, "w") as new:
        for item in old.infolist():
            new.writestr(item, old.read(item))
        new.writestr("../outside.txt", b"x")
    with pytest.raises(ValueError, match="unsafe entry name '../outside.txt'"):
        fercls.load(escaping)
    text = tmp_path / "model.fercls"
    text.write_text("not a zip")
    with pytest.raises(ValueError, match="not a fercls archive"):
        fercls.load(text)
    with pytest.raises(FileNotFoundError, match="missing.fercls"):
        fercls.load(tmp_path / "missing.fercls")


def test_a_lambda_layer_is_refused_by_keras_safe_mode(tmp_path, data):
    """A network with serialized Python code inside cannot be smuggled in."""
    import keras

    X, y = data
    clf = FERClassifier("simple", max_iter=1, augment=False, random_state=0).fit(X / 255, y)
    path = fercls.save(clf, tmp_path / "model.fercls")
    inputs = keras.Input((12, 12, 1))
    outputs = keras.layers.Dense(3, activation="softmax")(
        keras.layers.Flatten()(keras.layers.Lambda(lambda t: t * 2)(inputs))
    )
    keras.Model(inputs, outputs).save(tmp_path / "lambda.keras")
    with zipfile.ZipFile(path) as old, zipfile.ZipFile(tmp_path / "bad.fercls", "w") as new:
        new.writestr(MANIFEST, old.read(MANIFEST))
        new.write(tmp_path / "lambda.keras", "network-0.keras")
    with pytest.raises(ValueError, match="network 'network-0.keras': cannot .*Lambda"):
        fercls.load(tmp_path / "bad.fercls")


def test_interrupted_save_keeps_the_previous_file(pipeline, saved, tmp_path, monkeypatch):
    target = tmp_path / "model.fercls"
    target.write_bytes(saved.read_bytes())
    before = target.read_bytes()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(fercls.persistence.zipfile.ZipFile, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fercls.save(pipeline, target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.fercls"], "no temporary left behind"
