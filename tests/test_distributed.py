"""fercls.distributed: prediction over Dask partitions equals one process's predict."""

from pathlib import Path

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


@pytest.mark.slow  # starts two worker processes that import TensorFlow
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


BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_two_worker_processes_train_one_model_with_multi_worker_mirrored_strategy(fer_zip):
    """Two processes on localhost, each with its own TF_CONFIG, fit the same
    FERClassifier under MultiWorkerMirroredStrategy (benchmarks/multi_worker_fit.py,
    --quick): they end with identical weights (batch-normalisation statistics
    included), their loss falls, and the model predicts."""
    import json
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "multi_worker_fit.py"), "--quick", "--data", fer_zip],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run = json.loads(result.stdout.splitlines()[-1])
    assert run["workers_identical"] and run["epochs_run"] == 2
    losses = run["two_workers_loss_by_epoch"]
    assert losses[-1] < losses[0]  # it learns
    assert 0 < run["two_workers_accuracy"] < 1  # and the model it learned predicts


def test_prediction_works_when_dask_insists_on_deterministic_names(model, pixels):
    import dask

    with dask.config.set({"tokenize.ensure-deterministic": True}):
        rows = da.from_array(pixels, chunks=(20, 2304))
        assert predict_partitions(model, rows).compute().tolist() == model.predict(pixels).tolist()
