"""Prediction at scale: a fitted model mapped over the partitions of a Dask collection.

The model is sent to the cluster's workers once (``Client.scatter`` with
``broadcast=True``), not once per partition, and each partition is predicted
in one batch. Needs ``pip install "fercls[distributed]"``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["predict_partitions"]

METHODS = ("predict", "predict_proba")


def predict_partitions(model, data, *, method="predict", client=None):
    """Predict every row of a Dask collection with a fitted model, lazily.

    Parameters
    ----------
    model : fitted classifier or pipeline
        E.g. :func:`fercls.load_pretrained` for pixel strings, or
        ``load_pretrained(with_parser=False)`` for pixel arrays.
    data : dask Series, DataFrame or Array
        A Series of pixel strings; a DataFrame with a ``pixels`` column of
        them (the challenge CSV read with ``dask.dataframe.read_csv``); or an
        array of flat pixel rows ``(n, 2304)`` or images ``(n, 48, 48)``.
    method : {"predict", "predict_proba"}, default="predict"
    client : dask.distributed.Client, optional
        The cluster to ship the model to; default: the current client, if
        any (without one, Dask's local scheduler runs the partitions and the
        model travels inside the task graph).

    Returns
    -------
    dask Series, DataFrame or Array
        ``predict``: one label per row (a Series for dataframe input, a 1-d
        array for array input). ``predict_proba``: one column per class in
        ``model.classes_`` order (a DataFrame whose columns are the class
        names, or an ``(n, n_classes)`` array). Call ``.compute()``.

    Examples
    --------
    >>> import dask.array as da, numpy as np
    >>> from fercls import load_pretrained
    >>> pixels = da.from_array(np.full((6, 2304), 128, np.uint8), chunks=(3, 2304))
    >>> model = load_pretrained(with_parser=False)
    >>> predict_partitions(model, pixels).compute().tolist()
    ['neutral', 'neutral', 'neutral', 'neutral', 'neutral', 'neutral']
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r}; expected one of {', '.join(METHODS)}")
    shipped = _ship(model, client)
    classes = np.asarray(model.classes_)
    if hasattr(data, "map_partitions"):
        return _on_frame(shipped, data, method, classes)
    if hasattr(data, "map_blocks"):
        return _on_array(shipped, data, method, classes)
    raise TypeError(
        f"expected a dask Series, DataFrame or Array, got {type(data).__name__}; "
        "for data in memory call model.predict directly"
    )


class _Model:
    """A model passed to tasks without a cluster. Dask names tasks by hashing
    their arguments, which a Keras network cannot be hashed for (and dask
    refuses when ``tokenize.ensure-deterministic`` is set); a random token
    names this model instead."""

    def __init__(self, model):
        import uuid

        self.model = model
        self.token = uuid.uuid4().hex

    def __dask_tokenize__(self):
        return ("fercls-model", self.token)


def _unwrap(model):
    return model.model if isinstance(model, _Model) else model


def _ship(model, client):
    """The model as a future held by every worker, or wrapped to travel in the
    task graph without a cluster."""
    if client is None:
        try:
            from distributed import default_client

            client = default_client()
        except (ImportError, ValueError):
            return _Model(model)
    return client.scatter(model, broadcast=True, hash=False)


def _on_frame(model, data, method, classes):
    import dask.dataframe as dd
    import pandas as pd

    if isinstance(data, dd.DataFrame):
        if "pixels" not in data.columns:
            raise ValueError(f"expected a 'pixels' column, got columns {list(data.columns)}")
        data = data["pixels"]
    if method == "predict":
        meta = pd.Series([], dtype=object, name="emotion")
    else:
        meta = pd.DataFrame({str(c): pd.Series([], dtype="float32") for c in classes})
    return data.map_partitions(_predict_series, model, method, meta=meta)


def _predict_series(pixels, model, method):
    import pandas as pd

    model = _unwrap(model)
    if not len(pixels):
        empty = _empty(model, method)
        return pd.Series(empty, name="emotion") if method == "predict" else pd.DataFrame(empty)
    out = getattr(model, method)(pixels)
    if method == "predict":
        return pd.Series(out, index=pixels.index, name="emotion")
    return pd.DataFrame(
        np.asarray(out, np.float32), index=pixels.index, columns=[str(c) for c in model.classes_]
    )


def _empty(model, method):
    if method == "predict":
        return np.empty(0, dtype=object)
    return {str(c): np.empty(0, np.float32) for c in model.classes_}


def _on_array(model, data, method, classes):
    if data.ndim == 3:
        data = data.reshape(data.shape[0], -1)
    if data.ndim != 2:
        raise ValueError(f"expected pixel rows (n, 2304) or images (n, h, w), got {data.shape}")
    data = data.rechunk({1: -1})  # whole rows in every block
    if method == "predict":
        return data.map_blocks(
            _predict_block, model, method, drop_axis=1, dtype=classes.dtype, meta=classes[:0]
        )
    return data.map_blocks(
        _predict_block,
        model,
        method,
        chunks=(data.chunks[0], (len(classes),)),
        dtype=np.float32,
        meta=np.empty((0, len(classes)), np.float32),
    )


def _predict_block(block, model, method):
    model = _unwrap(model)
    if not len(block):
        shape = (0,) if method == "predict" else (0, len(model.classes_))
        return np.empty(
            shape, np.asarray(model.classes_).dtype if method == "predict" else np.float32
        )
    out = getattr(model, method)(np.asarray(block))
    return np.asarray(out) if method == "predict" else np.asarray(out, np.float32)
