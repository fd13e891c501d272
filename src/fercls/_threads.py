"""TensorFlow's thread pools inside parallel workers.

joblib's process workers (``GridSearchCV(n_jobs=k)``) and dask workers set
``OMP_NUM_THREADS`` to their share of the cores (joblib: cores // k; dask: 1)
so that numerical libraries do not oversubscribe the machine. TensorFlow does
not read that variable: each worker would start a pool as large as the whole
machine. fercls therefore applies the same share to TensorFlow, through
``TF_NUM_INTRAOP_THREADS`` (and one inter-op thread), when the user has not set
TensorFlow's variables. It must run before TensorFlow starts, so it runs when
fercls is imported, which unpickling a fercls estimator in a worker does first.
"""

from __future__ import annotations

import os


def share_threads_with_tensorflow(environ=os.environ) -> bool:
    """Copy ``OMP_NUM_THREADS`` into TensorFlow's pool sizes; True if it did.

    Explicit ``TF_NUM_INTRAOP_THREADS`` / ``TF_NUM_INTEROP_THREADS`` always win.
    """
    share = environ.get("OMP_NUM_THREADS", "")
    if not share.isdigit() or int(share) < 1 or "TF_NUM_INTRAOP_THREADS" in environ:
        return False
    environ["TF_NUM_INTRAOP_THREADS"] = share
    environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    return True
