"""Save and load fitted estimators and pipelines without pickle.

joblib/pickle files run code when loaded, so a model file from someone else is
a program from someone else. :func:`save` writes a ``.fercls`` archive that
:func:`load` can read without executing anything stored in it:

- ``fercls.json`` describes the object: class names from a fixed allow-list
  (fercls' estimators, scikit-learn/imbalanced-learn pipelines and random
  samplers), their parameters and learned attributes as plain JSON values;
- ``network-<i>.keras`` holds each FERClassifier's Keras network (with its
  optimizer state, so training can continue), loaded with Keras's
  ``safe_mode=True``, which refuses serialized Python code such as lambdas.

The archive is written atomically (temporary file + rename): an interrupted
save leaves the previous file or none.
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
import zipfile
from importlib import import_module
from pathlib import Path, PurePosixPath

import numpy as np

from ._io import (
    checked_zip_entries,
    parse_json,
    read_zip_member,
    short_reason,
    write_atomic,
)
from ._model_files import (
    MAX_LABEL_CHARS,
    ModelFileError,
    check_classes,
    check_feature_count,
    check_fitted_state,
    load_keras_file,
)
from ._version import __version__

__all__ = [
    "save",
    "load",
    "save_checkpoint",
    "load_checkpoint",
]

FORMAT = "fercls"
FORMAT_VERSION = 1
MANIFEST = "fercls.json"
# The bundled vgg_small network with Adam's moments is ~15 MB; vgg ~60 MB.
MAX_ARCHIVE_BYTES = 1024**3
# A manifest holds parameters, classes and a few arrays: kilobytes. Reading is
# capped at this, whatever the archive's directory claims (a zip bomb lies).
MAX_MANIFEST_BYTES = 16 * 1024**2
# Errors that malformed manifest contents raise from inside _build and _decode
# (wrong types, missing keys, absurd nesting); each becomes one ValueError.
_MALFORMED = (KeyError, TypeError, AttributeError, IndexError, RecursionError, OverflowError)

# Only these classes are ever instantiated by load(); anything else is refused.
# Each is named by its public import path, which survives a library moving the
# class between its private modules.
_ALLOWED = {
    "fercls.FERClassifier",
    "fercls.PixelStringParser",
    "fercls.PixelNormalizer",
    "fercls.FaceCropper",
    "sklearn.pipeline.Pipeline",
    "imblearn.pipeline.Pipeline",
    "imblearn.over_sampling.RandomOverSampler",
    "imblearn.under_sampling.RandomUnderSampler",
}
# Names that files written before the public paths were used still carry.
_FORMER_NAMES = {
    "fercls.classifier.FERClassifier": "fercls.FERClassifier",
    "fercls.preprocessing.PixelStringParser": "fercls.PixelStringParser",
    "fercls.preprocessing.PixelNormalizer": "fercls.PixelNormalizer",
    "fercls.faces.FaceCropper": "fercls.FaceCropper",
    "imblearn.over_sampling._random_over_sampler.RandomOverSampler": (
        "imblearn.over_sampling.RandomOverSampler"
    ),
    "imblearn.under_sampling._prototype_selection._random_under_sampler.RandomUnderSampler": (
        "imblearn.under_sampling.RandomUnderSampler"
    ),
}
_PIPELINES = {"sklearn.pipeline.Pipeline", "imblearn.pipeline.Pipeline"}
# The one class with a network, whose fitted state is checked for consistency.
_NETWORK_CLASS = "fercls.FERClassifier"
# Learned attributes: public names ending in "_", plus the classifier's seed,
# which resumed training needs to redraw the same validation split.
_STATE_NAME = re.compile(r"^(?:[a-z][a-z0-9_]*_|_seed_)$")


def save(estimator, path: str | os.PathLike) -> Path:
    """Save a fitted estimator or pipeline to a ``.fercls`` archive, safely.

    Parameters
    ----------
    estimator : FERClassifier, fercls transformer, or Pipeline of them
        Pipelines (scikit-learn's or imbalanced-learn's) may hold
        :class:`~fercls.PixelStringParser`, :class:`~fercls.PixelNormalizer`,
        :class:`~fercls.FaceCropper`, ``RandomOverSampler``,
        ``RandomUnderSampler`` and :class:`~fercls.FERClassifier` steps.
        A classifier's ``architecture`` must be a built-in name: a callable
        would have to be executed at load.
    path : path-like
        The archive to write (``.fercls`` by convention); replaced atomically.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    TypeError
        If the object, a parameter or a learned attribute cannot be stored
        without code (the message names it).

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib, fercls
    >>> X = np.tile(np.arange(16, dtype=np.float32) / 16, (8, 1))
    >>> X[4:] = X[4:, ::-1]
    >>> y = np.repeat(["happy", "sad"], 4)
    >>> clf = fercls.FERClassifier("simple", max_iter=2, random_state=0).fit(X, y)
    >>> path = fercls.save(clf, pathlib.Path(tempfile.mkdtemp()) / "model.fercls")
    >>> (fercls.load(path).predict_proba(X) == clf.predict_proba(X)).all()
    np.True_
    """
    return _save(estimator, path)


def save_checkpoint(estimator, path, resume_state: dict) -> Path:
    """:func:`save` plus the training loop's state, for ``fit(checkpoint=...)``."""
    return _save(estimator, path, resume_state=resume_state)


def _save(estimator, path, *, resume_state=None) -> Path:
    networks: list = []
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "fercls_version": __version__,
        "object": _describe(estimator, networks, where="estimator"),
    }
    if resume_state is not None:
        scalars = {k: v for k, v in resume_state.items() if k != "best_weights"}
        manifest["resume"] = _encode(scalars, "resume_state")
    manifest_bytes = json.dumps(manifest, indent=1).encode()

    def write(temporary):
        with tempfile.TemporaryDirectory() as scratch, zipfile.ZipFile(temporary, "w") as archive:
            archive.writestr(MANIFEST, manifest_bytes)
            for i, model in enumerate(networks):
                network_file = Path(scratch, f"network-{i}.keras")
                model.save(network_file)
                archive.write(network_file, network_file.name)
            if resume_state is not None and resume_state.get("best_weights") is not None:
                buffer = io.BytesIO()
                np.savez(buffer, *resume_state["best_weights"])
                archive.writestr("best-weights.npz", buffer.getvalue())

    return write_atomic(path, write)


def _qualified_name(obj) -> str:
    """The allow-listed public name of ``obj``'s class, or its full module path."""
    cls = type(obj)
    for name in _ALLOWED:
        if name.rsplit(".", 1)[1] == cls.__qualname__ and _public_class(name) is cls:
            return name
    return f"{cls.__module__}.{cls.__qualname__}"


def _public_class(name: str):
    module_name, class_name = name.rsplit(".", 1)
    return getattr(import_module(module_name), class_name, None)


def _describe(estimator, networks: list, *, where: str) -> dict:
    name = _qualified_name(estimator)
    if name not in _ALLOWED:
        raise TypeError(
            f"{where}: cannot save a {type(estimator).__name__} with fercls.save; it stores "
            "fercls estimators, Pipelines of them and random samplers (use joblib for other "
            "objects, and load such files only from sources you trust)"
        )
    if name in _PIPELINES:
        params = estimator.get_params(deep=False)
        steps = params.pop("steps")
        return {
            "class": name,
            "params": _encode(params, f"{where}.params"),
            "steps": [
                [step_name, _describe(step, networks, where=f"{where}.{step_name}")]
                for step_name, step in steps
            ],
        }
    params = estimator.get_params(deep=False)
    if callable(params.get("architecture")):
        raise TypeError(
            f"{where}: architecture={params['architecture']!r} is a callable, which would "
            "have to run at load; fercls.save stores built-in architectures only "
            "(save the network itself with model_.save(), or use joblib for trusted files)"
        )
    if isinstance(params.get("random_state"), np.random.RandomState):
        raise TypeError(
            f"{where}: random_state is a RandomState instance; set an int or None to save"
        )
    state = {
        key: value
        for key, value in vars(estimator).items()
        if _STATE_NAME.match(key) and key != "model_"
    }
    description = {
        "class": name,
        "params": _encode(params, f"{where}.params"),
        "state": _encode(state, f"{where}.state"),
    }
    if hasattr(estimator, "model_"):
        description["network"] = f"network-{len(networks)}.keras"
        networks.append(estimator.model_)
    return description


def _encode(value, where: str):
    """Plain JSON, with tags for tuples, arrays and dicts whose keys are not strings."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):  # e.g. FERClassifier(init=Path(...)): read back as str
        return os.fspath(value)
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, where) for v in value]}
    if isinstance(value, list):
        return [_encode(v, where) for v in value]
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufUO":
            raise TypeError(f"{where}: cannot store an array of dtype {value.dtype}")
        items = value.tolist()
        plain = (str, int, float)
        if value.dtype.kind == "O" and not all(isinstance(v, plain) for v in value.flat):
            raise TypeError(f"{where}: object arrays may hold only strings and numbers")
        return {"__ndarray__": items, "dtype": value.dtype.str if value.dtype.kind != "O" else "O"}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {"__dict__": [[k, _encode(v, f"{where}.{k}")] for k, v in value.items()]}
        pairs = [[_encode(k, where), _encode(v, f"{where}[{k!r}]")] for k, v in value.items()]
        return {"__dict__": pairs}
    raise TypeError(f"{where}: cannot store a value of type {type(value).__name__} ({value!r:.60})")


def _decode(value):
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tuple__" in value:
        return tuple(_decode(v) for v in value["__tuple__"])
    if "__ndarray__" in value:
        dtype = np.dtype(object if value["dtype"] == "O" else value["dtype"])
        if dtype.kind not in "biufUO":
            raise ValueError(f"unsupported array dtype {value['dtype']!r} in archive")
        if dtype.itemsize > (4 * MAX_LABEL_CHARS if dtype.kind == "U" else 16):
            # '<U20000000' would make every element 80 MB, whatever it holds.
            raise ValueError(f"array dtype {value['dtype']!r} in archive has oversized items")
        try:
            return np.asarray(value["__ndarray__"], dtype=dtype)
        except ValueError as exc:
            raise ValueError(f"an array not rectangular or not {dtype} ({exc})") from None
    if "__dict__" in value:
        pairs = value["__dict__"]
        if not isinstance(pairs, list) or not all(
            isinstance(p, list) and len(p) == 2 for p in pairs
        ):
            raise ValueError("a tagged __dict__ must be a list of [key, value] pairs")
        return {_hashable(_decode(k)): _decode(v) for k, v in pairs}
    raise ValueError(f"unexpected object in archive: keys {sorted(value)}")


def _hashable(key):
    return tuple(key) if isinstance(key, list) else key


def load(path: str | os.PathLike):
    """Load an estimator or pipeline saved by :func:`save`, executing no stored code.

    Only allow-listed classes are created, with JSON parameters; networks are
    loaded by Keras with ``safe_mode=True``.

    Parameters
    ----------
    path : path-like
        A ``.fercls`` archive.

    Returns
    -------
    estimator
        The fitted estimator or pipeline, ready to predict (and, for a
        classifier, to continue training with ``warm_start=True``).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a fercls archive, is damaged, names a class outside
        the allow-list, or is larger than the size limit.
    """
    estimator, _ = load_checkpoint(path)
    return estimator


def load_checkpoint(path):
    """:func:`load`, plus the training loop's state that :func:`save_checkpoint` stored.

    Returns
    -------
    estimator
        As :func:`load` returns it.
    resume_state : dict or None
        None for a file written by :func:`save`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(
            f"{path}: not a fercls archive (expected a zip written by fercls.save)"
        )
    try:
        with zipfile.ZipFile(path) as archive, tempfile.TemporaryDirectory() as scratch:
            # Sizes and names before any member is read; then "is it ours?"; then the rest.
            _check_archive(archive, path)
            manifest = _read_manifest(archive, path)
            _check_flat(archive, path)
            try:
                estimator = _build(
                    manifest["object"], archive, Path(scratch), path, where="estimator"
                )
                resume = _read_resume(manifest, archive, path)
            except _MALFORMED as exc:
                raise ModelFileError(
                    f"{path}: malformed {MANIFEST} ({short_reason(exc)})"
                ) from None
            except ModelFileError:
                raise  # it names the file and the part already
            except ValueError as exc:
                raise ModelFileError(f"{path}: malformed {MANIFEST} ({exc})") from None
    except zipfile.BadZipFile as exc:
        raise ModelFileError(f"{path}: damaged archive ({exc})") from None
    return estimator, resume


def _check_archive(archive: zipfile.ZipFile, path: Path) -> None:
    """Safe names and sizes, each name once: before any member is read."""
    checked_zip_entries(archive, path, max_bytes=MAX_ARCHIVE_BYTES)
    names = archive.namelist()
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ModelFileError(
            f"{path}: the archive holds {', '.join(twice)} more than once; tools disagree "
            "on which copy is read, so it is not loaded"
        )


def _check_flat(archive: zipfile.ZipFile, path: Path) -> None:
    # fercls writes flat archives; anything in a folder was not written by save().
    for info in archive.infolist():
        if len(PurePosixPath(info.filename).parts) != 1:
            raise ModelFileError(f"{path}: unexpected entry {info.filename!r} in archive")


def _read_manifest(archive: zipfile.ZipFile, path: Path) -> dict:
    if MANIFEST not in archive.namelist():
        raise ModelFileError(f"{path}: not a fercls archive (no {MANIFEST} inside)")
    data = read_zip_member(archive, MANIFEST, path, max_bytes=MAX_MANIFEST_BYTES)
    manifest = parse_json(data, f"{path}: {MANIFEST}")
    if manifest.get("format") != FORMAT:
        raise ModelFileError(f"{path}: {MANIFEST} does not describe a fercls archive")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: format_version {manifest.get('format_version')!r}; this fercls "
            f"({__version__}) reads version {FORMAT_VERSION}"
        )
    return manifest


def _build(description, archive, scratch: Path, path: Path, *, where: str):
    found = description.get("class") if isinstance(description, dict) else description
    name = _FORMER_NAMES.get(found, found) if isinstance(found, str) else found
    if name not in _ALLOWED:
        raise ModelFileError(f"{path}: {where}: class {found!r} is not one fercls.load creates")
    cls = _public_class(name)
    params = _decode(description.get("params", {}))
    if not isinstance(params, dict):
        raise ModelFileError(
            f"{path}: {where}: params must be an object, got {type(params).__name__}"
        )
    if name in _PIPELINES:
        if params.get("memory") is not None:
            # A cache folder from a file would make fit write (and later load) pickles there.
            raise ModelFileError(
                f"{path}: {where}: memory={params['memory']!r}; fercls.load only creates "
                "pipelines without a cache (memory=None)"
            )
        steps = description.get("steps")
        if not isinstance(steps, list) or not all(
            isinstance(s, list) and len(s) == 2 and isinstance(s[0], str) for s in steps
        ):
            raise ModelFileError(f"{path}: {where}: steps must be a list of [name, step] pairs")
        steps = [
            (name, _build(step, archive, scratch, path, where=f"{where}.{name}"))
            for name, step in steps
        ]
        _check_fitted_together(steps, f"{path}: {where}")
        return cls(steps, **params)
    estimator = cls(**params)
    if hasattr(estimator, "_validate_params"):
        estimator._validate_params()  # a file's parameters are input like any other
    state = _decode(description.get("state", {}))
    if not isinstance(state, dict):
        raise ModelFileError(f"{path}: {where}: state must be an object")
    for key, value in state.items():
        if not isinstance(key, str) or not _STATE_NAME.match(key) or key == "model_":
            raise ModelFileError(f"{path}: {where}: unexpected attribute {key!r}")
        setattr(estimator, key, value)
    if "classes_" in state and "network" in description:
        check_classes(state["classes_"], f"{path}: {where}")  # bounded before any build
    if "network" in description:
        estimator.model_ = _load_network(archive, description["network"], scratch, path)
    check_feature_count(estimator, f"{path}: {where}")
    if name == _NETWORK_CLASS:
        check_fitted_state(estimator, f"{path}: {where}")
    return estimator


def _check_fitted_together(steps, where: str) -> None:
    """A pipeline whose last step is fitted was fitted whole: a step without its
    learned state (removed from the file) would fail at the first prediction."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    def fitted(step) -> bool:
        try:
            check_is_fitted(step)
        except NotFittedError:
            return False
        return True

    if not steps or not fitted(steps[-1][1]):
        return
    for name, step in steps[:-1]:
        # Samplers act only in fit; at prediction they are skipped.
        if not hasattr(step, "fit_resample") and not fitted(step):
            raise ModelFileError(f"{where}: the last step is fitted but step {name!r} is not")


def _load_network(archive, name: str, scratch: Path, path: Path):
    from .architectures import import_keras

    import_keras()  # the thread rule before TensorFlow starts
    if not isinstance(name, str) or name not in archive.namelist():
        raise ModelFileError(f"{path}: archive lacks its network file {name!r}")
    target = scratch / PurePosixPath(name).name
    target.write_bytes(read_zip_member(archive, name, path, max_bytes=MAX_ARCHIVE_BYTES))
    return load_keras_file(target, f"{path}: network {name!r}")


def _read_resume(manifest, archive, path):
    if "resume" not in manifest:
        return None
    resume = _decode(manifest["resume"])
    if not isinstance(resume, dict):
        raise ModelFileError(f"{path}: resume state must be an object")
    if "best-weights.npz" in archive.namelist():
        data = read_zip_member(archive, "best-weights.npz", path, max_bytes=MAX_ARCHIVE_BYTES)
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                resume["best_weights"] = [npz[f"arr_{i}"] for i in range(len(npz.files))]
        except (ValueError, OSError, KeyError, zipfile.BadZipFile) as exc:
            raise ModelFileError(
                f"{path}: damaged best-weights.npz ({short_reason(exc)})"
            ) from None
    return resume
