import json

import numpy as np
import pytest
from helpers import make_faces, write_first_layout
from sklearn.metrics import f1_score

import fercls
from fercls import EMOTIONS, FERClassifier, PixelNormalizer, load_pretrained
from fercls.datasets import overlaps_training
from fercls.persistence import read_card
from fercls.preprocessing import format_pixel_strings
from fercls.pretrained import bundled_model_folder, load_classifier, load_model, save_classifier


@pytest.fixture(scope="module")
def pretrained():
    return load_pretrained()


@pytest.fixture(scope="module")
def card():
    return read_card(bundled_model_folder())


def test_bundled_parameters_are_valid_complete_and_match_the_float32_weights():
    classifier, meta = load_classifier(bundled_model_folder())
    # load_pipeline overrides some; the file itself must hold every parameter, validly.
    manifest = json.loads((bundled_model_folder() / "fercls.json").read_text())
    stored = dict(manifest["object"]["steps"])["classifier"]["params"]["__dict__"]
    assert {name for name, _ in stored} == set(FERClassifier().get_params())
    assert meta["normalization"] == "scale"
    classifier._validate_params()  # raises InvalidParameterError if one is out of range
    assert classifier.precision == "float32", "the shipped weights are float32"
    assert classifier.model_.get_layer("probabilities").compute_dtype == "float32"


def test_bundled_files_are_small():
    folder = bundled_model_folder()
    total = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
    assert 0 < total <= 20 * 1024**2


def test_predicts_emotion_names_from_pixels_and_strings(pretrained):
    pixels = make_faces(n_per_class=2, size=48, n_classes=2)[0].reshape(4, -1)
    names = pretrained.predict(pixels)
    assert set(names) <= set(EMOTIONS)
    np.testing.assert_array_equal(pretrained.predict(format_pixel_strings(pixels)), names)
    np.testing.assert_allclose(pretrained.predict_proba(pixels).sum(1), 1.0)


def test_card_figures_are_reproduced_on_private_test(pretrained, card, fer_bunch):
    private = fer_bunch.usage == "PrivateTest"
    truth = np.asarray(EMOTIONS)[fer_bunch.target[private]]
    predicted = pretrained.predict(fer_bunch.data[private])
    unseen = ~overlaps_training(fer_bunch)[private]
    assert np.mean(predicted == truth) == pytest.approx(card["private_accuracy"], abs=1e-4)
    assert f1_score(truth, predicted, average="macro") == pytest.approx(
        card["private_macro_f1"], abs=1e-4
    )
    assert unseen.sum() == card["private_unseen_n"] == 3301
    assert np.mean(predicted[unseen] == truth[unseen]) == pytest.approx(
        card["private_unseen_accuracy"], abs=1e-4
    )


@pytest.mark.parametrize("setting", ["flip", "zoom_flip"])
def test_tta_figures_of_the_card_are_reproduced(card, fer_bunch, setting):
    model = load_pretrained(test_time_augmentation=setting)
    figures = card["test_time_augmentation"][setting]
    for split in ("PublicTest", "PrivateTest"):
        rows = fer_bunch.usage == split
        truth = np.asarray(EMOTIONS)[fer_bunch.target[rows]]
        accuracy = np.mean(model.predict(fer_bunch.data[rows]) == truth)
        key = "public_accuracy" if split == "PublicTest" else "private_accuracy"
        assert accuracy == pytest.approx(figures[key], abs=1e-4), split


def test_save_and_load_round_trip_is_exact_and_atomic(tmp_path):
    images, labels = make_faces(n_per_class=10, size=12, n_classes=2)
    X = images.reshape(len(images), -1) / 255.0
    clf = FERClassifier("simple", max_iter=2, augment=False, random_state=0).fit(X, labels)
    save_classifier(clf, tmp_path / "m", card={"note": "test"})
    save_classifier(clf, tmp_path / "m")  # replacing an existing folder
    loaded, metadata = load_classifier(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert loaded.classes_.tolist() == [0, 1] and metadata["normalization"] == "scale"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no staging folders left


def test_a_folder_of_the_first_layout_loads_the_same_and_a_save_replaces_it(tmp_path):
    images, labels = make_faces(n_per_class=10, size=12, n_classes=2)
    X = images.reshape(len(images), -1) / 255.0
    clf = FERClassifier("simple", max_iter=2, augment=False, random_state=0).fit(X, labels)
    old = write_first_layout(clf, tmp_path / "old", card={"note": "first"})
    loaded, metadata = load_classifier(old)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert metadata == {"normalization": "scale", "card": {"note": "first"}}
    save_classifier(loaded, old, card=metadata["card"])
    assert sorted(p.name for p in old.iterdir()) == ["fercls.json", "network-0.weights.h5"]
    assert read_card(old) == {"note": "first"}


def test_load_model_sets_test_time_augmentation_on_the_final_classifier(tmp_path):

    model = load_model(None, test_time_augmentation="ten_crop")
    assert model[-1].test_time_augmentation == "ten_crop"
    assert load_model(None)[-1].test_time_augmentation is None
    fercls.save(PixelNormalizer().fit(np.zeros((4, 4))), tmp_path / "n.fercls")
    with pytest.raises(
        ValueError, match=r"holds a PixelNormalizer that cannot predict; not a model"
    ):
        load_model(tmp_path / "n.fercls", test_time_augmentation="flip")


def test_loading_a_folder_without_a_model_fails_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a model folder"):
        load_classifier(tmp_path)


def test_the_fine_tuning_guide_runs_and_trains_a_bounded_number_of_epochs(
    fer_zip, capsys, monkeypatch, tmp_path
):
    import re
    from pathlib import Path

    page = Path(__file__).resolve().parents[1] / "docs" / "guide" / "fine_tuning.md"
    (code,) = re.findall(r"<!-- tested:[^>]*-->\s*```python\n(.*?)```", page.read_text(), re.S)
    monkeypatch.chdir(tmp_path)
    exec(compile(code.replace("../shared/data/fer2013.zip", str(fer_zip)), str(page), "exec"), {})
    out = capsys.readouterr().out
    epochs = int(re.search(r"epochs run: (\d+)", out).group(1))
    assert 1 <= epochs <= 10
    assert float(re.search(r"held back: ([0-9.]+)", out).group(1)) > 0.4


def test_the_bundled_parameters_fine_tune_rather_than_retrain():
    from fercls.pretrained import FINE_TUNING

    classifier = load_pretrained()[-1]
    assert {k: classifier.get_params()[k] for k in FINE_TUNING} == FINE_TUNING
    classifier._validate_params()


def test_the_pretrained_model_unpickles_without_warnings():
    import pickle
    import warnings

    model = load_pretrained()
    data = pickle.dumps(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Keras warned about optimizer state that never existed
        copy = pickle.loads(data)
    pixels = np.full((1, 2304), 90, np.uint8)
    np.testing.assert_allclose(copy.predict_proba(pixels), model.predict_proba(pixels))


# Bad input: model folders that contradict themselves
def test_a_model_folder_with_contradicting_classes_is_refused(tmp_path):
    from fercls.pretrained import bundled_model_folder, load_classifier

    folder = write_first_layout(load_classifier(bundled_model_folder())[0], tmp_path / "m")
    metadata = json.loads((folder / "model.json").read_text())
    metadata["classes"] = metadata["classes"][:3]
    (folder / "model.json").write_text(json.dumps(metadata))
    with pytest.raises(ValueError, match="'model.weights.h5': cannot load the weights"):
        load_classifier(folder)
    metadata["classes"] = "angry"
    (folder / "model.json").write_text(json.dumps(metadata))
    with pytest.raises(ValueError, match="classes must be a list"):
        load_classifier(folder)
