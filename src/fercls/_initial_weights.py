"""Starting a network from a saved model's weights (``FERClassifier(init=...)``).

The source is named by a parameter rather than passed as a fitted estimator,
so ``clone`` (and with it ``GridSearchCV`` and ``cross_validate``) keeps it:
every clone reads the same weights before its own training starts.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._containers import bundled_model_folder
from .labels import EMOTIONS

#: ``init`` value naming the model bundled with the package.
PRETRAINED = "pretrained"


def start_from_saved(estimator, network) -> None:
    """Copy the weights of the model ``estimator.init`` names into ``network``.

    Every layer but the output takes the source's weights and must match its
    shapes. The output keeps the source's unit for each of the estimator's
    classes that the source knows (labels equal, or a challenge id 0-6 for the
    emotion name it stands for); the units of new classes keep their fresh
    initialisation.
    """
    source, source_classes, source_shape, source_params, where = _read_source(estimator)
    _check_compatible(estimator, source_shape, where)
    layers = [layer for layer in network.layers if layer.weights]
    source_layers = [layer for layer in source.layers if layer.weights]
    _check_same_layers(layers, source_layers, estimator, source_params, where)
    for layer, source_layer in zip(layers[:-1], source_layers[:-1], strict=True):
        layer.set_weights(source_layer.get_weights())
    _copy_output_units(layers[-1], source_layers[-1], estimator.classes_, source_classes)


def _read_source(estimator):
    """(network, classes, image shape, parameters, name for errors) of the model
    ``init`` names: the bundled model, a model folder or a ``.fercls`` archive."""
    from .persistence import load

    init = estimator.init
    if isinstance(init, str) and init == PRETRAINED:
        path, where = bundled_model_folder(), "init='pretrained' (the bundled model)"
    else:
        path, where = Path(os.fspath(init)), f"init={os.fspath(init)!r}"
    if not path.exists():
        raise FileNotFoundError(
            f"{where}: no such model; expected 'pretrained', a model folder or a .fercls "
            "archive saved by fercls.save"
        )
    model = load(path)
    # The last step, as classifier.final_classifier takes it (importing that
    # module from here would make a circle: it imports this one).
    classifier = model.steps[-1][1] if hasattr(model, "steps") else model
    if not hasattr(classifier, "model_") or not hasattr(classifier, "image_shape_"):
        raise ValueError(
            f"{where}: holds a {type(classifier).__name__}, not a fitted FERClassifier"
        )
    shape = tuple(classifier.image_shape_)
    return classifier.model_, classifier.classes_, shape, classifier.get_params(), where


def _check_compatible(estimator, source_shape, where):
    if tuple(source_shape) != tuple(estimator.image_shape_):
        raise ValueError(
            f"{where}: its network takes {_size(source_shape)} images, but X holds "
            f"{_size(estimator.image_shape_)} images"
        )


def _check_same_layers(layers, source_layers, estimator, source_params, where):
    shapes = [[tuple(w.shape) for w in layer.weights] for layer in layers[:-1]]
    source_shapes = [[tuple(w.shape) for w in layer.weights] for layer in source_layers[:-1]]
    head = [tuple(w.shape)[:-1] for w in layers[-1].weights]
    source_head = [tuple(w.shape)[:-1] for w in source_layers[-1].weights]
    if shapes != source_shapes or head != source_head:
        raise ValueError(
            f"{where}: its network (architecture={source_params.get('architecture')!r}, "
            f"augment={source_params.get('augment')!r}) differs from the one this estimator "
            f"builds (architecture={estimator.architecture!r}, augment={estimator.augment!r}); "
            "set both as the saved model has them"
        )


def _copy_output_units(output, source_output, classes, source_classes):
    """The output layer's units for the classes the source knows, column by column."""
    kernel, bias = output.get_weights()
    source_kernel, source_bias = source_output.get_weights()
    for column, source_column in _matching_units(classes, source_classes):
        kernel[:, column] = source_kernel[:, source_column]
        bias[column] = source_bias[source_column]
    output.set_weights([kernel, bias])


def _matching_units(classes, source_classes):
    """(column, source column) for each class the source also predicts."""
    source_columns = {_key(label): column for column, label in enumerate(source_classes)}
    pairs = []
    for column, label in enumerate(classes):
        source_column = source_columns.get(_key(label))
        if source_column is None and _is_challenge_id(label):
            source_column = source_columns.get(_key(EMOTIONS[int(label)]))
        if source_column is not None:
            pairs.append((column, source_column))
    return pairs


def _key(label):
    """Labels match as the same kind of value: the string "3" is not the id 3."""
    if isinstance(label, str):
        return ("text", str(label))
    return ("value", label.item() if isinstance(label, np.generic) else label)


def _is_challenge_id(label):
    return isinstance(label, (int, np.integer)) and not isinstance(label, bool) and 0 <= label < 7


def _size(shape):
    return "×".join(str(int(v)) for v in shape)
