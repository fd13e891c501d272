"""FERClassifier(init=...): training starts from a saved model's weights."""

from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

import fercls
from fercls import EMOTIONS, FERClassifier, load_pretrained
from fercls.pretrained import save_classifier

# A learning rate this small leaves the weights as read (up to 1e-12 per step),
# so what fit returns shows what init loaded.
UNCHANGED = {"max_iter": 1, "learning_rate_init": 1e-12, "random_state": 0}


def _faces(n, seed=0):
    """Smooth 48×48 images in [0, 1]: blurred noise, so the bundled network's
    predictions spread over several classes."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((n, 6, 6), dtype=np.float32)
    return np.kron(coarse, np.ones((8, 8), dtype=np.float32))


@pytest.fixture(scope="module")
def bundled():
    return load_pretrained()


@pytest.fixture(scope="module")
def images():
    return _faces(64)


@pytest.fixture(scope="module")
def from_ids(images):
    """Started from the bundled model, labels given as challenge ids 0-6."""
    y = np.arange(64) % 7
    return FERClassifier("vgg_small", init="pretrained", **UNCHANGED).fit(images, y)


def _output(classifier):
    return [layer for layer in classifier.model_.layers if layer.weights][-1].get_weights()


def test_challenge_ids_take_the_units_of_the_emotions_they_stand_for(from_ids, bundled, images):
    expected = bundled.predict(np.round(images.reshape(64, -1) * 255).astype(np.uint8))
    predicted = [EMOTIONS[i] for i in from_ids.predict(images)]
    assert len(set(expected)) > 1  # the images are not all one class to the network
    assert np.mean(np.asarray(predicted) == expected) >= 0.95


@pytest.fixture(scope="module")
def small_source(tmp_path_factory):
    """A fitted 'simple' network on 12×12 images of three classes, saved as a
    folder and an archive: units are matched by name as for the bundled model,
    on a network far cheaper to fit."""
    rng = np.random.default_rng(1)
    X = rng.random((60, 12, 12), dtype=np.float32)
    y = np.repeat(["a", "b", "c"], 20)
    source = FERClassifier("simple", max_iter=2, augment=False, random_state=0).fit(X, y)
    folder = tmp_path_factory.mktemp("source") / "model"
    save_classifier(source, folder)
    archive = folder.parent / "model.fercls"
    fercls.save(source, archive)
    return source, X, y, folder, archive


def _started_from_source(small_source, labels):
    """A 'simple' classifier fitted from the small source's weights on its images
    with ``labels``, and the output layers' weights of it and of the source."""
    source, X, _, folder, _ = small_source
    clf = FERClassifier("simple", augment=False, init=str(folder), **UNCHANGED).fit(X, labels)
    return clf, _output(clf), _output(source)


def test_a_subset_of_the_sources_classes_keeps_their_units(small_source):
    labels = np.where(np.arange(60) % 2, "c", "a")
    clf, (kernel, bias), (source_kernel, source_bias) = _started_from_source(small_source, labels)
    columns = [list(small_source[0].classes_).index(c) for c in clf.classes_]
    np.testing.assert_allclose(kernel, source_kernel[:, columns], atol=1e-6)
    np.testing.assert_allclose(bias, source_bias[columns], atol=1e-6)


def test_a_new_class_starts_fresh_and_the_known_ones_do_not(small_source):
    labels = np.where(np.arange(60) % 2, "bored", "b")
    clf, (kernel, _), (source_kernel, _) = _started_from_source(small_source, labels)
    assert list(clf.classes_) == ["b", "bored"]
    np.testing.assert_allclose(kernel[:, 0], source_kernel[:, 1], atol=1e-6)
    assert not any(np.allclose(kernel[:, 1], column, atol=1e-3) for column in source_kernel.T)


def test_clone_keeps_init_so_every_clone_starts_from_the_same_weights(small_source):
    _, X, y, folder, _ = small_source
    first, _, _ = _started_from_source(small_source, y)
    twin = clone(first).fit(X, y)
    assert twin.get_params()["init"] == str(folder)
    np.testing.assert_allclose(twin.predict_proba(X), first.predict_proba(X), atol=1e-5)


@pytest.mark.parametrize("kind", ["folder", "archive", "path object"])
def test_init_reads_a_saved_folder_or_archive(small_source, kind):
    source, X, y, folder, archive = small_source
    init = {"folder": str(folder), "archive": str(archive), "path object": Path(folder)}[kind]
    clf = FERClassifier("simple", augment=False, init=init, **UNCHANGED).fit(X, y)
    np.testing.assert_allclose(clf.predict_proba(X), source.predict_proba(X), atol=1e-4)


def test_a_classifier_with_init_saves_and_loads(small_source, tmp_path):
    _, X, y, folder, _ = small_source
    clf = FERClassifier("simple", augment=False, init=Path(folder), **UNCHANGED).fit(X, y)
    fercls.save(clf, tmp_path / "m.fercls")
    assert fercls.load(tmp_path / "m.fercls").get_params()["init"] == str(folder)


def test_another_architecture_is_refused_naming_what_to_set(images):
    clf = FERClassifier("simple", init="pretrained", **UNCHANGED)
    with pytest.raises(
        ValueError, match=r"init='pretrained'.*'vgg_small'.*architecture='simple', augment='crop'"
    ):
        clf.fit(images, np.arange(64) % 7)
    assert not hasattr(clf, "model_")  # nothing half-fitted is left behind


def test_images_of_another_size_are_refused(small_source):
    _, X, y, _, _ = small_source
    with pytest.raises(ValueError, match=r"takes 48×48 images, but X holds 12×12 images"):
        FERClassifier("vgg_small", init="pretrained", **UNCHANGED).fit(X, y)


def test_a_missing_source_is_named(images, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"init='.*nowhere'.*no such model;"):
        FERClassifier("vgg_small", init=tmp_path / "nowhere", **UNCHANGED).fit(
            images, np.arange(64) % 7
        )


def test_a_file_that_is_not_a_model_is_refused(images, tmp_path):
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises((ValueError, FileNotFoundError), match=r"notes\.txt"):
        FERClassifier("vgg_small", init=tmp_path / "notes.txt", **UNCHANGED).fit(
            images, np.arange(64) % 7
        )
