"""fercls gives TensorFlow the thread share that joblib/Dask give their workers."""

import pytest

from fercls._threads import share_threads_with_tensorflow


def test_worker_share_is_copied_to_tensorflow():
    environ = {"OMP_NUM_THREADS": "3"}
    assert share_threads_with_tensorflow(environ)
    assert environ == {
        "OMP_NUM_THREADS": "3",
        "TF_NUM_INTRAOP_THREADS": "3",
        "TF_NUM_INTEROP_THREADS": "1",
    }


@pytest.mark.parametrize(
    "environ",
    [
        {},  # not in a worker: TensorFlow's defaults
        {"OMP_NUM_THREADS": "2", "TF_NUM_INTRAOP_THREADS": "8"},  # explicit settings win
        {"OMP_NUM_THREADS": "0"},
        {"OMP_NUM_THREADS": "four"},
    ],
)
def test_nothing_changes_without_a_valid_share_or_with_explicit_settings(environ):
    before = dict(environ)
    assert not share_threads_with_tensorflow(environ)
    assert environ == before


def test_a_joblib_worker_gets_its_share_applied():
    from joblib import Parallel, delayed

    def worker_environment():
        import os

        import fercls  # noqa: F401  (importing fercls applies the rule)

        return os.environ.get("OMP_NUM_THREADS"), os.environ.get("TF_NUM_INTRAOP_THREADS")

    import os

    saved = {
        k: os.environ.pop(k)
        for k in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
        if k in os.environ
    }
    try:
        results = Parallel(n_jobs=2)(delayed(worker_environment)() for _ in range(2))
    finally:
        os.environ.update(saved)
    for omp, tf_threads in results:
        assert omp is not None and tf_threads == omp
