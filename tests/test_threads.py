"""fercls gives TensorFlow the thread share that joblib/Dask give their workers."""

import os

import pytest

from fercls._threads import share_threads_with_tensorflow, usable_cores


def test_worker_share_is_copied_to_tensorflow():
    environ = {"OMP_NUM_THREADS": "3"}
    assert share_threads_with_tensorflow(environ)
    assert environ == {
        "OMP_NUM_THREADS": "3",
        "TF_NUM_INTRAOP_THREADS": "3",
        "TF_NUM_INTEROP_THREADS": "1",
    }


def test_usable_cores_are_those_the_process_may_run_on(monkeypatch):
    if hasattr(os, "sched_getaffinity"):
        assert usable_cores() == len(os.sched_getaffinity(0))
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)  # as on macOS and Windows
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # which may not know
    assert usable_cores() == 1


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


@pytest.mark.slow  # starts Python processes that import TensorFlow
def test_a_joblib_worker_gets_its_share_applied_when_fercls_starts_tensorflow():
    from joblib import Parallel, delayed

    def worker_threads():
        import os

        import fercls

        untouched = "TF_NUM_INTRAOP_THREADS" not in os.environ  # import alone changes nothing
        fercls.architectures.import_keras()  # what building or loading a network does first
        # TensorFlow's runtime reads the variable when it starts (its Python API
        # reports 0, "unset", for pools sized that way).
        return (
            untouched,
            os.environ.get("OMP_NUM_THREADS"),
            os.environ.get("TF_NUM_INTRAOP_THREADS"),
        )

    import os

    saved = {
        k: os.environ.pop(k)
        for k in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
        if k in os.environ
    }
    try:
        results = Parallel(n_jobs=2)(delayed(worker_threads)() for _ in range(2))
    finally:
        os.environ.update(saved)
    for untouched, omp, tf_threads in results:
        assert untouched
        assert omp is not None and tf_threads == omp


def test_importing_fercls_leaves_the_environment_alone():
    import subprocess
    import sys

    script = (
        "import os; before = dict(os.environ); import fercls; print(before == dict(os.environ))"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("TF_NUM_INTRAOP_THREADS", None)
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "True"
