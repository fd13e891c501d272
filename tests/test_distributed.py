"""fercls.distributed: prediction over Dask partitions equals one process's predict."""

import numpy as np
import pandas as pd
import pytest

from fercls import load_pretrained
from fercls.distributed import predict_partitions

da = pytest.importorskip("dask.array", reason="dask (dev extra) is not installed")


@pytest.fixture(scope="module")
def pixels():
    return np.random.default_rng(0).integers(0, 256, (40, 2304)).astype(np.uint8)


@pytest.fixture(scope="module")
def model():
    return load_pretrained(with_parser=False)


@pytest.fixture(scope="module")
def string_model():
    return load_pretrained()


def test_arrays_of_rows_and_of_images_match_predict(model, pixels):
    rows = da.from_array(pixels, chunks=(13, 2304))
    images = da.from_array(pixels.reshape(-1, 48, 48), chunks=(7, 48, 24))
    for data in (rows, images):
        assert predict_partitions(model, data).compute().tolist() == model.predict(pixels).tolist()
    proba = predict_partitions(model, rows, method="predict_proba").compute()
    np.testing.assert_allclose(proba, model.predict_proba(pixels), atol=1e-6)


def test_pixel_strings_in_a_series_or_a_pixels_column_match_predict(string_model, pixels):
    dd = pytest.importorskip("dask.dataframe", reason="dask.dataframe needs pyarrow")
    strings = pd.Series([" ".join(map(str, row)) for row in pixels])
    series = dd.from_pandas(strings, npartitions=3)
    expected = string_model.predict(strings)
    assert predict_partitions(string_model, series).compute().tolist() == expected.tolist()
    frame = dd.from_pandas(pd.DataFrame({"pixels": strings, "Usage": "PrivateTest"}), npartitions=3)
    proba = predict_partitions(string_model, frame, method="predict_proba").compute()
    assert list(proba.columns) == list(string_model.classes_)
    np.testing.assert_allclose(proba.to_numpy(), string_model.predict_proba(strings), atol=1e-6)


def test_a_local_cluster_of_two_workers_gives_the_same_predictions(model, pixels, monkeypatch):
    distributed = pytest.importorskip("dask.distributed")
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    monkeypatch.delenv("TF_NUM_INTEROP_THREADS", raising=False)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        predicted = predict_partitions(model, da.from_array(pixels, chunks=(10, 2304)))
        assert predicted.compute().tolist() == model.predict(pixels).tolist()
        # The model went to the workers once, as data, not inside every task.
        assert len(client.who_has()) >= 1


@pytest.mark.parametrize(
    ("data", "kwargs", "error", "message"),
    [
        (np.zeros((2, 2304)), {}, TypeError, "expected a dask Series, DataFrame or Array"),
        (None, {"method": "decision_function"}, ValueError, "method='decision_function'"),
    ],
)
def test_bad_requests_are_refused(model, data, kwargs, error, message):
    with pytest.raises(error, match=message):
        predict_partitions(model, data, **kwargs)


def test_a_multi_worker_strategy_is_refused_with_the_reason():
    from contextlib import nullcontext

    from fercls import FERClassifier

    class MultiWorker:  # what MultiWorkerMirroredStrategy reports across hosts
        class extended:  # noqa: N801
            @staticmethod
            def _in_multi_worker_mode():
                return True

        def scope(self):
            return nullcontext()

    X = np.random.default_rng(0).random((8, 2304), dtype=np.float32)
    classifier = FERClassifier("simple", max_iter=1, distribution=MultiWorker())
    with pytest.raises(ValueError, match="keras-team/keras#20585"):
        classifier.fit(X, ["happy", "sad"] * 4)


def test_prediction_works_when_dask_insists_on_deterministic_names(model, pixels):
    import dask

    with dask.config.set({"tokenize.ensure-deterministic": True}):
        rows = da.from_array(pixels, chunks=(20, 2304))
        assert predict_partitions(model, rows).compute().tolist() == model.predict(pixels).tolist()
