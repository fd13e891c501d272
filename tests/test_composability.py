"""FERClassifier inside the scikit-learn / imbalanced-learn workflow."""

import json
import subprocess
import sys
import textwrap

import joblib
import numpy as np
import pandas as pd
import pytest
from helpers import make_faces
from imblearn.over_sampling import RandomOverSampler
from imblearn.pipeline import make_pipeline
from sklearn.base import clone, is_classifier
from sklearn.model_selection import GridSearchCV, StratifiedKFold, check_cv, cross_validate

from fercls import FERClassifier, PixelNormalizer, PixelStringParser
from fercls.preprocessing import format_pixel_strings


def design_card_pipeline(n_pixels, **params):
    return make_pipeline(
        PixelStringParser(n_pixels=n_pixels),
        RandomOverSampler(random_state=0),
        PixelNormalizer(),
        FERClassifier(
            **{
                "architecture": "simple",
                "max_iter": 3,
                "batch_size": 16,
                "augment": False,
                "random_state": 0,
                **params,
            }
        ),
    )


@pytest.fixture(scope="module")
def strings():
    """Imbalanced synthetic data as challenge-style pixel strings (12x12)."""
    images, labels = make_faces(n_per_class=30, size=12, n_classes=3)
    keep = np.r_[np.flatnonzero(labels != 2), np.flatnonzero(labels == 2)[:10]]
    return pd.Series(format_pixel_strings(images[keep].reshape(len(keep), -1))), labels[keep]


@pytest.fixture(scope="module")
def real_strings(fer_bunch):
    """A stratified sample of 210 real FER2013 training images, as pixel strings."""
    rng = np.random.default_rng(0)
    train = np.flatnonzero(fer_bunch.usage == "Training")
    rows = np.concatenate(
        [rng.choice(train[fer_bunch.target[train] == c], 30, replace=False) for c in range(7)]
    )
    frame = pd.DataFrame(
        {
            "pixels": format_pixel_strings(fer_bunch.data[rows]),
            "emotion": np.asarray(fer_bunch.target_names)[fer_bunch.target[rows]],
        }
    )
    return frame


def test_pipeline_is_a_classifier_so_grid_search_folds_are_stratified(strings):
    pipe = design_card_pipeline(144)
    assert is_classifier(pipe)
    assert isinstance(check_cv(3, strings[1], classifier=is_classifier(pipe)), StratifiedKFold)


def test_oversampler_runs_only_during_fit(strings):
    X, y = strings
    pipe = design_card_pipeline(144).fit(X, y)
    assert len(pipe.predict(X[:7])) == 7
    # During fit the sampler topped the minority class up from 10 to 30 images.
    assert np.bincount(y).tolist() == [30, 30, 10]
    added = pipe.named_steps["randomoversampler"].sampling_strategy_
    assert {int(k): int(v) for k, v in added.items() if v} == {2: 20}


def test_grid_search_and_cross_validate(strings):
    X, y = strings
    search = GridSearchCV(
        design_card_pipeline(144), {"ferclassifier__learning_rate_init": [1e-3, 3e-3]}, cv=3
    ).fit(X, y)
    assert search.best_score_ > 0.6
    assert len(search.cv_results_["mean_test_score"]) == 2
    scores = cross_validate(design_card_pipeline(144), X, y, cv=3, scoring="f1_macro")
    assert scores["test_score"].shape == (3,)


def test_clone_gives_an_unfitted_copy_with_the_same_parameters(strings):
    X, y = strings
    fitted = design_card_pipeline(144).fit(X, y)
    copy = clone(fitted)
    assert copy.get_params()["ferclassifier__max_iter"] == 3
    assert not hasattr(copy[-1], "model_")


def reload_in_fresh_process(model_path, X):
    script = textwrap.dedent(
        f"""
        import json, joblib, pandas as pd
        model = joblib.load({str(model_path)!r})
        X = pd.Series(json.loads({json.dumps(json.dumps(list(X)))}))
        print(json.dumps({{"proba": model.predict_proba(X).tolist(),
                          "labels": model.predict(X).tolist()}}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # starts Python processes that import TensorFlow
def test_joblib_pickle_loads_in_another_process_with_identical_probabilities(strings, tmp_path):
    X, y = strings
    pipe = design_card_pipeline(144).fit(X, y)
    path = tmp_path / "fer.joblib"
    joblib.dump(pipe, path)
    reloaded = reload_in_fresh_process(path, X[:10])
    np.testing.assert_array_equal(np.asarray(reloaded["proba"]), pipe.predict_proba(X[:10]))
    assert reloaded["labels"] == pipe.predict(X[:10]).tolist()


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_network_exports_as_keras_and_h5(strings, tmp_path, suffix):
    from fercls.architectures import import_keras

    X, y = strings
    pipe = design_card_pipeline(144).fit(X, y)
    # Transform without the sampler (a fitted imblearn pipeline skips it too).
    pixels = PixelNormalizer().fit_transform(PixelStringParser(n_pixels=144).transform(X[:5]))
    images = pixels.reshape(-1, 12, 12, 1)
    path = tmp_path / f"net{suffix}"
    pipe[-1].model_.save(path)
    loaded = import_keras().models.load_model(path)
    np.testing.assert_allclose(
        np.asarray(loaded(images, training=False)), pipe[-1].predict_proba(pixels), rtol=1e-5
    )


def test_design_card_pipeline_on_real_fer2013_strings(real_strings, tmp_path):
    pipe = design_card_pipeline(2304, max_iter=2)
    search = GridSearchCV(pipe, {"ferclassifier__learning_rate_init": [1e-3, 3e-4]}, cv=3)
    search.fit(real_strings.pixels, real_strings.emotion)
    assert set(search.best_estimator_.classes_) == {
        "angry",
        "disgust",
        "fear",
        "happy",
        "sad",
        "surprise",
        "neutral",
    }
    path = tmp_path / "fer.joblib"
    joblib.dump(search.best_estimator_, path)
    sample = real_strings.pixels[:8]
    reloaded = reload_in_fresh_process(path, sample)
    np.testing.assert_array_equal(
        np.asarray(reloaded["proba"]), search.best_estimator_.predict_proba(sample)
    )


@pytest.mark.slow  # starts Python processes that import TensorFlow
def test_grid_search_on_a_dask_local_cluster_of_two_worker_processes(monkeypatch):
    """Distributed search: the same GridSearchCV, run by dask.distributed workers,
    each of which limits TensorFlow to the one thread dask gives it."""
    distributed = pytest.importorskip("dask.distributed")
    # Workers inherit this process's environment; drop the suite's explicit
    # TensorFlow settings so they show fercls' own rule.
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    monkeypatch.delenv("TF_NUM_INTEROP_THREADS", raising=False)

    images, labels = make_faces(n_per_class=12, size=12, n_classes=2)
    strings = PixelStringParser(n_pixels=144).inverse_transform(images.reshape(len(images), -1))
    pipe = make_pipeline(
        PixelStringParser(n_pixels=144),
        RandomOverSampler(random_state=0),
        PixelNormalizer(),
        FERClassifier("simple", max_iter=3, augment=False, random_state=0, batch_size=8),
    )
    grid = {"ferclassifier__learning_rate_init": [1e-3, 1e-2]}
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
        joblib.parallel_backend("dask"),
    ):
        search = GridSearchCV(pipe, grid, cv=2).fit(strings, labels)
        workers = client.run(
            lambda: (
                __import__("os").environ.get("TF_NUM_INTRAOP_THREADS"),
                "fercls" in __import__("sys").modules,
            )
        )
    assert len(search.cv_results_["params"]) == 2
    assert search.best_estimator_.predict(strings[:4]).shape == (4,)
    # Workers that ran fits (they imported fercls) gave TensorFlow one thread.
    assert ("1", True) in workers.values()
    assert all(threads == "1" for threads, ran in workers.values() if ran)
