"""fercls.save / fercls.load: a model format that runs no code on load."""

import json
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
from helpers import MALFORMED_ARCHIVES, make_faces, rewrite_archive
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


def test_the_bundled_model_saved_both_ways_loads_without_warnings(tmp_path):
    """Its optimizer never took a step; Keras would warn that it skipped loading
    the optimizer's slots, though there were none to load."""
    import warnings

    model = fercls.load_pretrained()
    pixels = np.full((2, 2304), 90, np.uint8)
    for path, folder in [(tmp_path / "m.fercls", False), (tmp_path / "m", True)]:
        fercls.save(model, path, folder=folder)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            loaded = fercls.load(path)
        np.testing.assert_array_equal(loaded.predict_proba(pixels), model.predict_proba(pixels))


def test_the_two_containers_are_not_mixed_up(pipeline, tmp_path):
    with pytest.raises(ValueError, match="a model folder named like an archive"):
        fercls.save(pipeline, tmp_path / "model.fercls", folder=True)
    (tmp_path / "runs").mkdir()
    with pytest.raises(IsADirectoryError, match="pass folder=True"):
        fercls.save(pipeline, tmp_path / "runs")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]
    assert list((tmp_path / "runs").iterdir()) == []


def test_a_folder_holds_the_manifest_and_weights_and_loads_as_the_archive(pipeline, data, tmp_path):
    X, _ = data
    folder = fercls.save(pipeline, tmp_path / "model", folder=True, card={"runs": (1, 2)})
    assert sorted(p.name for p in folder.iterdir()) == [MANIFEST, "network-0.weights.h5"]
    loaded = fercls.load(folder)
    assert [name for name, _ in loaded.steps] == [name for name, _ in pipeline.steps]
    np.testing.assert_array_equal(loaded.predict_proba(X), pipeline.predict_proba(X))
    assert fercls.persistence.read_card(folder) == {"runs": [1, 2]}
    fercls.persistence.replace_card(folder, {"runs": [3]})
    assert fercls.persistence.read_card(folder) == {"runs": [3]}
    again, card = fercls.persistence.load_with_card(folder)
    assert card == {"runs": [3]}
    np.testing.assert_array_equal(again.predict_proba(X), pipeline.predict_proba(X))
    with pytest.raises(TypeError, match="card: cannot store a value of type object"):
        fercls.save(pipeline, tmp_path / "other", folder=True, card={"x": object()})
    assert not (tmp_path / "other").exists()


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


# Bad input: archives that are bombs, malformed, non-finite or name a cache folder
def test_a_huge_manifest_is_refused_before_it_is_inflated(tiny_model_file, tmp_path):
    bomb = tmp_path / "bomb.fercls"
    with zipfile.ZipFile(tiny_model_file) as old, zipfile.ZipFile(bomb, "w") as new:
        for item in old.infolist():
            if item.filename != "fercls.json":
                new.writestr(item, old.read(item))
        new.writestr("fercls.json", b" " * (40 * 1024**2), compress_type=zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < 2 * 1024**2
    with pytest.raises(ValueError, match="fercls.json claims .* bytes uncompressed"):
        fercls.load(bomb)


@pytest.mark.parametrize("kind", MALFORMED_ARCHIVES)
def test_malformed_archives_are_one_value_error(tiny_model_file, tmp_path, kind):
    target = rewrite_archive(tiny_model_file, tmp_path / "m.fercls", MALFORMED_ARCHIVES[kind])
    with pytest.raises(ValueError, match=str(target)):
        fercls.load(target)


def test_non_finite_weights_are_refused_on_load(tiny_model_file, tmp_path):
    model = fercls.load(tiny_model_file)
    weights = model.model_.get_weights()
    weights[0][...] = np.nan
    model.model_.set_weights(weights)
    fercls.save(model, tmp_path / "nan.fercls")
    with pytest.raises(ValueError, match="not finite"):
        fercls.load(tmp_path / "nan.fercls")


def test_a_pipeline_cache_folder_from_an_archive_is_refused(tiny_model_file, tmp_path):
    from sklearn.pipeline import Pipeline

    pipe = Pipeline([("clf", fercls.load(tiny_model_file))])
    fercls.save(pipe, tmp_path / "p.fercls")

    def add_memory(manifest):
        manifest["object"]["params"] = {"__dict__": [["memory", str(tmp_path / "cache")]]}

    target = rewrite_archive(tmp_path / "p.fercls", tmp_path / "evil.fercls", add_memory)
    with pytest.raises(ValueError, match="memory="):
        fercls.load(target)


def test_archives_name_public_classes_and_files_with_the_former_private_names_load(
    tiny_model_file, tmp_path
):
    from imblearn.over_sampling import RandomOverSampler
    from imblearn.pipeline import Pipeline

    pipe = Pipeline(
        [("sampler", RandomOverSampler(random_state=0)), ("clf", fercls.load(tiny_model_file))]
    )
    fercls.save(pipe, tmp_path / "p.fercls")
    with zipfile.ZipFile(tmp_path / "p.fercls") as archive:
        text = archive.read("fercls.json").decode()
    assert '"imblearn.over_sampling.RandomOverSampler"' in text and '"fercls.FERClassifier"' in text

    def former(manifest):
        return (
            json.dumps(manifest)
            .replace(
                '"imblearn.over_sampling.RandomOverSampler"',
                '"imblearn.over_sampling._random_over_sampler.RandomOverSampler"',
            )
            .replace('"fercls.FERClassifier"', '"fercls.classifier.FERClassifier"')
            .encode()
        )

    old = rewrite_archive(tmp_path / "p.fercls", tmp_path / "old.fercls", former)
    loaded = fercls.load(old)
    assert isinstance(loaded.steps[0][1], RandomOverSampler)
    X = np.zeros((2, 2304), np.float32)
    np.testing.assert_allclose(loaded.predict_proba(X), pipe.predict_proba(X))
