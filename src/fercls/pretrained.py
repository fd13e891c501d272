"""The bundled pretrained model, and the model folder as a classifier and its
normaliser: a folder written by :func:`fercls.save` (``folder=True``) and read
by :func:`fercls.load`, so no code stored in the files is executed."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
from sklearn.pipeline import Pipeline

from ._containers import bundled_model_folder
from ._io import short_reason
from ._model_files import ModelFileError
from .classifier import FERClassifier, final_classifier
from .persistence import load, load_with_card, save
from .preprocessing import PixelNormalizer, PixelStringParser

__all__ = [
    "load_pretrained",
    "load_pipeline",
    "load_model",
    "save_classifier",
    "load_classifier",
    "FINE_TUNING",
]


def save_classifier(classifier: FERClassifier, directory, *, normalization="scale", card=None):
    """Save a fitted FERClassifier and the normalisation it was trained behind as a
    model folder (:func:`fercls.save` with ``folder=True``), atomically.

    Parameters
    ----------
    classifier : FERClassifier
        Fitted, with a built-in (named) architecture.
    directory : path-like
        Folder to create or replace. It is written beside its final place and
        renamed into it, so an interruption leaves the old folder or none.
    normalization : {"scale", "standardize"}
        The :class:`PixelNormalizer` method the classifier was trained behind.
    card : dict, optional
        Figures and provenance to keep with the model (accuracy, command, …),
        read back by :func:`fercls.persistence.read_card`.

    Returns
    -------
    Path
        ``directory``.
    """
    if not isinstance(classifier.architecture, str):
        raise ValueError("only classifiers with a named architecture can be saved this way")
    normalizer = PixelNormalizer(method=normalization)
    normalizer.fit(np.zeros((1, classifier.n_features_in_), dtype=np.uint8))
    model = Pipeline([("normalizer", normalizer), ("classifier", classifier)])
    return save(model, directory, folder=True, card=card)


def load_classifier(directory) -> tuple[FERClassifier, dict]:
    """The classifier of a model folder, and what the folder says of it.

    Returns
    -------
    classifier : FERClassifier
        Fitted, ready to predict (on normalised pixels).
    metadata : dict
        ``normalization``, the :class:`PixelNormalizer` method the classifier
        expects (None if the folder holds no normaliser), and ``card``
        (:func:`fercls.persistence.read_card`).
    """
    model, card = load_with_card(directory)
    classifier = final_classifier(model)
    if classifier is None:
        raise ModelFileError(f"{directory}: holds a {type(model).__name__}, not a classifier")
    steps = [step for _, step in model.steps] if isinstance(model, Pipeline) else []
    normalizers = [step for step in steps if isinstance(step, PixelNormalizer)]
    normalization = normalizers[-1].method if normalizers else None
    return classifier, {"normalization": normalization, "card": card}


#: The bundled classifier's parameters: ``load_pretrained().fit(X, y)`` fine-tunes
#: the shipped weights (``warm_start``) for at most 10 epochs at a tenth of the
#: original learning rate, holds out 10 % of (X, y) (stratified), stops after 3
#: epochs without improvement on it, and restores the best epoch.
FINE_TUNING = {
    "warm_start": True,
    "max_iter": 10,
    "learning_rate_init": 1e-4,
    "learning_rate": "constant",
    "early_stopping": True,
    "validation_fraction": 0.1,
    "n_iter_no_change": 3,
    "verbose": 0,
}


def load_pretrained(*, with_parser=True, test_time_augmentation=None) -> Pipeline:
    """The bundled FER2013 model, ready to predict emotion names.

    Returns a fitted pipeline ``PixelStringParser → PixelNormalizer →
    FERClassifier`` that accepts pixel strings or the flat uint8 pixels
    ``load_fer2013`` returns, shape (n, 2304), and predicts names from
    :data:`fercls.EMOTIONS`. Loaded from files inside the installed package:
    no network access. ``docs/model_card.md`` says how it was trained and what
    it measured.

    ``fit`` on the returned pipeline fine-tunes the bundled weights on your own
    faces (labels must be emotion names): see :data:`FINE_TUNING` and
    ``docs/guide/fine_tuning.md``.

    Parameters
    ----------
    with_parser : bool, default=True
        Lead the pipeline with a :class:`PixelStringParser`, so it takes pixel
        strings as well as numeric pixels.
    test_time_augmentation : {"flip", "zoom_flip", "ten_crop"} or None, default=None
        Average the probabilities of several views of each image (see
        :class:`FERClassifier`): two for ``"flip"`` and ``"zoom_flip"``, ten
        for ``"ten_crop"``, at that multiple of the cost. ``"ten_crop"`` is the
        most accurate on FER2013 PublicTest for the bundled weights, ``"flip"``
        close behind at a fifth of the cost; the model card gives each
        setting's PublicTest and PrivateTest accuracy.

    Examples
    --------
    >>> import numpy as np
    >>> model = load_pretrained()
    >>> model.predict(np.full((1, 2304), 128, dtype=np.uint8))  # a blank grey square
    array(['neutral'], dtype='<U8')
    """
    model = load_pipeline(
        bundled_model_folder(),
        with_parser=with_parser,
        test_time_augmentation=test_time_augmentation,
    )
    # The file holds the training run's own settings (a 10,000-epoch budget, verbose
    # output); a user's fit should fine-tune instead.
    model[-1].set_params(**FINE_TUNING)
    return model


def load_pipeline(directory, *, with_parser=True, test_time_augmentation=None) -> Pipeline:
    """A saved model folder as a fitted pipeline taking raw pixels (and, with
    ``with_parser``, pixel strings): ``[PixelStringParser →] PixelNormalizer →
    FERClassifier`` for a folder :func:`save_classifier` wrote."""
    model = load(directory)
    steps = list(model.steps) if isinstance(model, Pipeline) else [("classifier", model)]
    classifier = final_classifier(model)
    if classifier is None:
        raise ModelFileError(f"{directory}: holds a {type(model).__name__}, not a classifier")
    classifier.set_params(test_time_augmentation=test_time_augmentation)
    if steps and isinstance(steps[0][1], PixelStringParser):
        steps = steps[1:]
    if with_parser:
        steps.insert(0, ("parser", PixelStringParser(n_pixels=classifier.n_features_in_)))
    return Pipeline(steps)


PICKLE_SUFFIXES = (".joblib", ".pkl")


def load_model(path=None, *, allow_pickle=False, test_time_augmentation=None):
    """A fitted model from any place fercls keeps one.

    Parameters
    ----------
    path : path-like or None, default=None
        ``None``: the bundled model (:func:`load_pretrained`). A folder: a
        model saved by :func:`save_classifier` (:func:`load_pipeline`). A zip:
        a ``.fercls`` archive (:func:`fercls.load`). A ``.joblib`` / ``.pkl``
        file only with ``allow_pickle``.
    allow_pickle : bool, default=False
        Unpickling runs whatever code the file holds: read pickles only from
        sources you trust, and only when asked.
    test_time_augmentation : {"flip", "zoom_flip", "ten_crop"} or None, default=None
        If given, set on the model's final :class:`~fercls.FERClassifier`.

    Returns
    -------
    estimator or Pipeline

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If it is none of the above, a pickle without ``allow_pickle``, or
        ``test_time_augmentation`` is given and the model has no
        :class:`~fercls.FERClassifier` step.
    """
    model = _read_model(path, allow_pickle=allow_pickle)
    _check_predicts(model, path or "the bundled model")
    if test_time_augmentation is not None:
        classifier = final_classifier(model)
        if classifier is None:
            steps = [step for _, step in model.steps] if hasattr(model, "steps") else [model]
            raise ValueError(
                f"test_time_augmentation (--tta): {path or 'the bundled model'} has no "
                "FERClassifier step "
                f"(found {', '.join(type(step).__name__ for step in steps)})"
            )
        classifier.set_params(test_time_augmentation=test_time_augmentation)
    return model


def _check_predicts(model, where) -> None:
    """A model is something that predicts probabilities of the pixels it is
    given: a file holding only transformers, or steps whose widths disagree,
    is refused here rather than at the first prediction."""
    if not hasattr(model, "predict_proba"):
        raise ValueError(
            f"{where}: holds a {type(model).__name__} that cannot predict; not a model"
        )
    classifier = final_classifier(model)
    if classifier is None or not hasattr(model, "steps") or len(model.steps) < 2:
        return
    probe = np.full((1, getattr(classifier, "n_features_in_", 1)), 128, dtype=np.uint8)
    try:
        width = np.shape(model[:-1].transform(probe))[-1]
    except (ValueError, TypeError, AttributeError) as exc:
        raise ValueError(
            f"{where}: its steps fail on a probe image ({short_reason(exc)})"
        ) from None
    if width != classifier.n_features_in_:
        raise ValueError(
            f"{where}: its steps turn {probe.shape[1]} pixels into {width} features, but "
            f"its classifier takes {classifier.n_features_in_}"
        )


def _read_model(path, *, allow_pickle):
    if path is None:
        return load_pretrained()
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model not found: {path}")
    if path.is_dir():
        return load_pipeline(path)
    if zipfile.is_zipfile(path):
        return load(path)
    if path.suffix.lower() not in PICKLE_SUFFIXES:
        raise ValueError(
            f"{path}: not a .fercls archive or a saved model folder "
            f"(pickles are read only when named {'/'.join(PICKLE_SUFFIXES)}, with --allow-pickle)"
        )
    if not allow_pickle:
        raise ValueError(
            f"{path}: a pickle file, which runs code when loaded; pass --allow-pickle "
            "to read it, only if you trust where it came from"
        )
    import joblib

    try:
        return joblib.load(path)  # the user asked for it: a pickle from a trusted source
    except Exception as exc:  # unpickling raises many types; all mean "not a model file"
        raise ValueError(f"{path}: not a joblib model file ({short_reason(exc)})") from None
