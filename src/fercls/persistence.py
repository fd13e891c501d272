"""Save and load fitted estimators and pipelines without pickle.

joblib/pickle files run code when loaded, so a model file from someone else is
a program from someone else. :func:`save` writes what :func:`load` reads back
without executing anything stored in it, in one of two containers with the
same content:

- a ``.fercls`` archive (the default): one zip file. Each FERClassifier's
  network is a whole Keras file (``network-<i>.keras``, with its optimizer
  state, so a warm-started ``fit`` continues exactly), loaded with Keras's
  ``safe_mode=True``, which refuses serialized Python code such as lambdas;
- a model folder (``folder=True``), as the bundled model is kept: each
  network's weights alone (``network-<i>.weights.h5``, a third of the size),
  rebuilt by fercls' own builder from the classifier's parameters.

Both hold ``fercls.json``, which describes the object: class names from a
fixed allow-list (fercls' estimators, scikit-learn/imbalanced-learn pipelines
and random samplers), their parameters and learned attributes as plain JSON
values, and optionally the model's card (how it was trained, what it
measured; :func:`read_card`). Folders of fercls' first layout (``model.json``
+ ``model.weights.h5``) are read too. Writing is atomic (a temporary file or
folder renamed into place): an interrupted save leaves the previous model or
none.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import tempfile
import zipfile
from importlib import import_module
from pathlib import Path

import numpy as np

from ._containers import (
    MODEL_FOLDER,
    NETWORK_FILE,
    Archive,
    Folder,
    network_file,
)
from ._io import short_reason, write_atomic, write_folder_atomic
from ._manifest import MANIFEST, decode, encode, new_manifest
from ._model_files import (
    ModelFileError,
    check_classes,
    check_feature_count,
    check_fitted_state,
    check_image_shape,
    check_network_size,
    load_keras_file,
)
from ._signals import signals_deferred

__all__ = [
    "save",
    "load",
    "read_card",
    "load_with_card",
    "replace_card",
    "save_checkpoint",
    "load_checkpoint",
]

# Errors that malformed manifest contents raise from inside _build and decode
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


def save(estimator, path: str | os.PathLike, *, folder: bool = False, card=None) -> Path:
    """Save a fitted estimator or pipeline, safely: as a ``.fercls`` archive or a folder.

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
        The archive to write (``.fercls`` by convention), or the folder with
        ``folder=True``; replaced atomically. A folder is replaced only if it
        is empty or a model folder itself.
    folder : bool, default=False
        Write a model folder: the same manifest, each network's weights alone
        (no optimizer state: a warm-started ``fit`` starts Adam afresh).
    card : dict, optional
        Plain JSON about the model (how it was trained, what it measured),
        kept with it and read back by :func:`read_card`.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    TypeError
        If the object, a parameter or a learned attribute cannot be stored
        without code (the message names it), or ``card`` is not plain JSON.

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
    >>> folder = fercls.save(clf, path.with_name("model"), folder=True, card={"note": "demo"})
    >>> (fercls.load(folder).predict_proba(X) == clf.predict_proba(X)).all()
    np.True_
    >>> fercls.persistence.read_card(folder)
    {'note': 'demo'}
    """
    return _save(estimator, path, folder=folder, card=card)


def save_checkpoint(estimator, path, resume_state: dict) -> Path:
    """:func:`save` plus the training loop's state, for ``fit(checkpoint=...)``."""
    return _save(estimator, path, resume_state=resume_state)


def _save(estimator, path, *, folder=False, card=None, resume_state=None) -> Path:
    _check_container_name(Path(path), folder)
    classifiers: list = []
    description = _describe(estimator, classifiers, folder, where="estimator")
    manifest = new_manifest(description, card=_plain_card(card))
    if resume_state is not None:
        scalars = {k: v for k, v in resume_state.items() if k != "best_weights"}
        manifest["resume"] = encode(scalars, "resume_state")
    manifest_bytes = json.dumps(manifest, indent=1).encode()
    if folder:
        networks = [_weights_only(classifier) for classifier in classifiers]

        def write_folder(staging):
            Path(staging, MANIFEST).write_bytes(manifest_bytes)
            for i, network in enumerate(networks):
                network.save_weights(Path(staging, network_file(i, weights_only=True)))

        return write_folder_atomic(path, write_folder, kind=MODEL_FOLDER)

    def write(temporary):
        with zipfile.ZipFile(temporary, "w") as archive:
            archive.writestr(MANIFEST, manifest_bytes)
            for i, classifier in enumerate(classifiers):
                _add_network(archive, classifier, network_file(i, weights_only=False))
            if resume_state is not None and resume_state.get("best_weights") is not None:
                buffer = io.BytesIO()
                np.savez(buffer, *resume_state["best_weights"])
                archive.writestr("best-weights.npz", buffer.getvalue())

    return write_atomic(path, write)


def _add_network(archive: zipfile.ZipFile, classifier, name: str) -> None:
    """Write the fitted network into ``archive`` as the whole Keras file ``name``."""
    # Keras saves through a temporary folder of its own, as we do: a stop signal
    # mid-save would leave them behind, so it waits until both are removed.
    with signals_deferred(), tempfile.TemporaryDirectory() as scratch:
        keras_file = Path(scratch, name)
        classifier.model_.save(keras_file)
        archive.write(keras_file, name)


def _check_container_name(path: Path, folder: bool) -> None:
    """The careless mix-ups of the two containers, refused before anything is written."""
    if folder and path.suffix.lower() == ".fercls":
        raise ValueError(
            f"{path}: a model folder named like an archive; drop folder=True to write a "
            ".fercls file, or name the folder without the suffix"
        )
    if not folder and path.is_dir():
        raise IsADirectoryError(
            f"{path}: is a folder; pass folder=True to save a model folder, or name a file"
        )


def _plain_card(card) -> dict | None:
    """``card`` as plain JSON (NumPy scalars as numbers, tuples as lists)."""
    if card is None:
        return None
    if not isinstance(card, dict):
        raise TypeError(f"card must be a dict of plain JSON values, got {type(card).__name__}")

    def plain(value):
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        raise TypeError(f"card: cannot store a value of type {type(value).__name__}")

    return json.loads(json.dumps(card, default=plain))


def _weights_only(classifier):
    """A fresh copy of the classifier's network holding its weights, without the
    optimizer (Adam's two moments per weight would triple the file)."""
    params = classifier.get_params()
    network = _fresh_network(params, classifier.image_shape_, classifier.classes_)
    try:
        network.set_weights(classifier.model_.get_weights())
    except ValueError:
        raise TypeError(
            f"the classifier's network is not the one architecture={params['architecture']!r} "
            "builds (made with FERClassifier.from_keras?); save it as an archive "
            "(folder=False), which stores the whole network"
        ) from None
    return network


def _fresh_network(params, image_shape, classes):
    """A new, uncompiled float32 network of the saved architecture."""
    from .architectures import build_network

    return build_network(
        params["architecture"],
        (*image_shape, 1),
        len(classes),
        augment=params["augment"],
        seed=0,
        precision="float32",
    )


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


def _describe(estimator, classifiers: list, weights_only: bool, *, where: str) -> dict:
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
        described = [
            [step_name, _describe(step, classifiers, weights_only, where=f"{where}.{step_name}")]
            for step_name, step in steps
        ]
        return {"class": name, "params": encode(params, f"{where}.params"), "steps": described}
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
        "params": encode(params, f"{where}.params"),
        "state": encode(state, f"{where}.state"),
    }
    if hasattr(estimator, "model_"):
        description["network"] = network_file(len(classifiers), weights_only=weights_only)
        classifiers.append(estimator)
    return description


def load(path: str | os.PathLike):
    """Load an estimator or pipeline saved by :func:`save`, executing no stored code.

    Only allow-listed classes are created, with JSON parameters; networks are
    loaded by Keras with ``safe_mode=True``, or rebuilt by fercls and given
    their weights.

    Parameters
    ----------
    path : path-like
        A ``.fercls`` archive or a model folder (including fercls' first
        folder layout, ``model.json`` + ``model.weights.h5``, which loads as a
        pipeline of its normaliser and classifier).

    Returns
    -------
    estimator
        The fitted estimator or pipeline, ready to predict (and, for a
        classifier, to continue training with ``warm_start=True``).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist, or is a folder without a model.
    ValueError
        If the file is not a fercls archive, is damaged, names a class outside
        the allow-list, or is larger than the size limit
        (:class:`~fercls._model_files.ModelFileError`, a ``ValueError``).
    """
    estimator, _ = load_checkpoint(path)
    return estimator


def read_card(path: str | os.PathLike) -> dict:
    """The card :func:`save` kept with a model (``{}`` where there is none).

    Only the manifest is read: no network is built.
    """
    path = Path(path)
    with _opened(path) as container:
        return container.manifest().get("card", {})


def replace_card(folder: str | os.PathLike, card: dict) -> Path:
    """Replace the card of a model folder, leaving its networks as they are.

    Only the manifest is rewritten (atomically); the card must be plain JSON.
    Archives are rewritten whole by :func:`save` instead.
    """
    folder = Path(folder)
    container = Folder(folder)
    manifest = container.manifest()
    if MANIFEST not in container.names():
        raise ModelFileError(
            f"{folder}: a folder of fercls' first layout; save it again with "
            "fercls.save(..., folder=True) before replacing its card"
        )
    manifest.pop("card", None)
    plain = _plain_card(card)
    if plain:
        manifest["card"] = plain
    data = json.dumps(manifest, indent=1).encode()
    return write_atomic(folder / MANIFEST, lambda temporary: Path(temporary).write_bytes(data))


def load_checkpoint(path):
    """:func:`load`, plus the training loop's state that :func:`save_checkpoint` stored.

    Returns
    -------
    estimator
        As :func:`load` returns it.
    resume_state : dict or None
        None for a model written by :func:`save`.
    """
    estimator, resume, _ = _read(Path(path))
    return estimator, resume


def load_with_card(path: str | os.PathLike) -> tuple:
    """:func:`load` and :func:`read_card` in one reading: ``(estimator, card)``."""
    estimator, _, card = _read(Path(path))
    return estimator, card


def _read(path: Path) -> tuple:
    """The estimator, the resume state (or None) and the card stored at ``path``."""
    # Keras loads through temporary folders (ours and its own) that a stop signal
    # mid-load would leave behind, so the signal waits for the load.
    with signals_deferred(), _opened(path) as container, tempfile.TemporaryDirectory() as scratch:
        # Sizes and names before any member is read; then "is it ours?"; then the rest.
        manifest = container.manifest()
        try:
            obj = manifest["object"]
            estimator = _build(obj, container, Path(scratch), path, where="estimator")
            resume = _read_resume(manifest, container, path)
        except _MALFORMED as exc:
            what = container.manifest_name
            raise ModelFileError(f"{path}: malformed {what} ({short_reason(exc)})") from None
        except ModelFileError:
            raise  # it names the file and the part already
        except ValueError as exc:
            raise ModelFileError(f"{path}: malformed {container.manifest_name} ({exc})") from None
    return estimator, resume, manifest.get("card", {})


@contextlib.contextmanager
def _opened(path: Path):
    """The container at ``path``; a damaged zip, found opening it or reading from
    it, is a ModelFileError."""
    if path.is_dir():
        yield Folder(path)
        return
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(
            f"{path}: not a fercls archive (expected a zip written by fercls.save, "
            "or a model folder)"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            yield Archive(archive, path)
    except zipfile.BadZipFile as exc:
        raise ModelFileError(f"{path}: damaged archive ({exc})") from None


def _build(description, container, scratch: Path, path: Path, *, where: str):
    found = description.get("class") if isinstance(description, dict) else description
    name = _FORMER_NAMES.get(found, found) if isinstance(found, str) else found
    if name not in _ALLOWED:
        raise ModelFileError(f"{path}: {where}: class {found!r} is not one fercls.load creates")
    cls = _public_class(name)
    params = decode(description.get("params", {}))
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
            (name, _build(step, container, scratch, path, where=f"{where}.{name}"))
            for name, step in steps
        ]
        _check_fitted_together(steps, f"{path}: {where}")
        return cls(steps, **params)
    estimator = cls(**params)
    if hasattr(estimator, "_validate_params"):
        estimator._validate_params()  # a file's parameters are input like any other
    state = decode(description.get("state", {}))
    if not isinstance(state, dict):
        raise ModelFileError(f"{path}: {where}: state must be an object")
    for key, value in state.items():
        if not isinstance(key, str) or not _STATE_NAME.match(key) or key == "model_":
            raise ModelFileError(f"{path}: {where}: unexpected attribute {key!r}")
        setattr(estimator, key, value)
    if "classes_" in state and "network" in description:
        check_classes(state["classes_"], f"{path}: {where}")  # bounded before any build
    if "network" in description:
        if name != _NETWORK_CLASS:
            raise ModelFileError(f"{path}: {where}: a {name} has no network")
        where_network = f"{path}: network {description['network']!r:.80}"
        estimator.model_ = _load_network(
            container, description["network"], scratch, estimator, where_network
        )
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


def _load_network(container, name, scratch: Path, classifier, where: str):
    """The network file ``name``: a whole Keras model, or weights for a network
    that fercls builds from ``classifier``'s (already set and checked) state."""
    from .architectures import import_keras

    import_keras()  # the thread rule before TensorFlow starts
    if not isinstance(name, str) or not NETWORK_FILE.match(name) or name not in container.names():
        raise ModelFileError(f"{where}: no such network file in the model")
    local = container.local_file(name, scratch)
    if name.endswith(".keras"):
        return load_keras_file(local, where)
    shape = check_image_shape(classifier.image_shape_, where)
    params = classifier.get_params()
    if not isinstance(params["architecture"], str):
        raise ModelFileError(f"{where}: weights alone need a built-in architecture")

    def build():
        return _fresh_network(params, shape, classifier.classes_)

    check_network_size(build, where)
    network = build()
    try:
        network.load_weights(local)
    except Exception as exc:  # h5py and Keras raise many types for a damaged file
        raise ModelFileError(f"{where}: cannot load the weights ({short_reason(exc)})") from None
    return classifier._compile(network)


def _read_resume(manifest, container, path):
    if "resume" not in manifest:
        return None
    resume = decode(manifest["resume"])
    if not isinstance(resume, dict):
        raise ModelFileError(f"{path}: resume state must be an object")
    if "best-weights.npz" in container.names():
        data = container.read("best-weights.npz")
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                resume["best_weights"] = [npz[f"arr_{i}"] for i in range(len(npz.files))]
        except (ValueError, OSError, KeyError, zipfile.BadZipFile) as exc:
            raise ModelFileError(
                f"{path}: damaged best-weights.npz ({short_reason(exc)})"
            ) from None
    return resume
