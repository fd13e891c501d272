"""TensorFlow's thread pools inside parallel workers.

joblib's process workers (``GridSearchCV(n_jobs=k)``) and dask workers set
``OMP_NUM_THREADS`` to their share of the cores (joblib: cores // k; dask: 1)
so that numerical libraries do not oversubscribe the machine. TensorFlow does
not read that variable: each worker would start a pool as large as the whole
machine. fercls therefore applies the same share to TensorFlow, through
``TF_NUM_INTRAOP_THREADS`` (and one inter-op thread), when the user has not set
TensorFlow's variables. It must run before TensorFlow starts, so
``fercls.architectures.import_keras`` runs it just before fercls first imports
Keras (building, loading or unpickling a network); ``import fercls`` itself
leaves the environment alone.
"""

from __future__ import annotations

import os


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def omp_share(environ=os.environ) -> int | None:
    """The thread count ``OMP_NUM_THREADS`` grants this process, if it is set and valid."""
    share = environ.get("OMP_NUM_THREADS", "")
    return int(share) if share.isdigit() and int(share) > 0 else None


def share_threads_with_tensorflow(environ=os.environ) -> bool:
    """Copy ``OMP_NUM_THREADS`` into TensorFlow's pool sizes; True if it did.

    Explicit ``TF_NUM_INTRAOP_THREADS`` / ``TF_NUM_INTEROP_THREADS`` always win.
    """
    share = omp_share(environ)
    if share is None or "TF_NUM_INTRAOP_THREADS" in environ:
        return False
    environ["TF_NUM_INTRAOP_THREADS"] = str(share)
    environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    return True
