"""Export a fitted model for serving and for phones: Keras, HDF5, SavedModel, TFLite, ONNX.

The exported network is self-contained: it takes **raw grayscale pixels 0–255**
as float32 of shape ``(batch, 48, 48, 1)`` (the normalisation the pipeline
applied is a layer inside it) and returns the probabilities in the order of the
classifier's ``classes_``, the order of ``predict_proba`` and of every other
fercls output (for the bundled model :data:`fercls.PROBABILITY_ORDER`:
alphabetical). The labels are written beside the export, in
``<file>.labels.json`` (inside the folder, ``labels.json``, for a SavedModel).
Only built-in Keras layers are used, so the Keras files load without fercls
installed. The ONNX file (converted by Keras through tf2onnx, ``pip install
"fercls[onnx]"``) runs in onnxruntime without TensorFlow: :class:`ONNXModel`.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path

import numpy as np

from ._io import (
    OutputFile,
    OutputFolder,
    parse_json,
    read_regular_file,
    write_atomic,
    write_folder_atomic,
    zip_holding,
)
from ._signals import signals_deferred

__all__ = [
    "export",
    "read_labels",
    "labels_path",
    "TFLiteModel",
    "ONNXModel",
    "FORMATS",
    "QUANTIZATIONS",
]

FORMATS = ("keras", "h5", "tflite", "saved_model", "onnx")
# The file name ending each single-file format needs.
SUFFIXES = {"keras": ".keras", "h5": ".h5", "onnx": ".onnx"}
QUANTIZATIONS = (None, "float16", "int8")
#: What a SavedModel export folder holds: an existing folder with anything
#: else in it is not a previous export, and is never replaced.
SAVED_MODEL_FOLDER = OutputFolder(
    "saved_model.pb", frozenset({"fingerprint.pb", "variables", "assets", "labels.json"})
)

#: What each single-file export holds, told from its first bytes (a Keras zip's
#: config, HDF5's signature, the TFLite flatbuffer's identifier, an ONNX
#: ModelProto's first field): an existing file is replaced only by an export of
#: its own format.
EXPORT_FILES = {
    "keras": OutputFile("a Keras model (.keras)", zip_holding("config.json")),
    "h5": OutputFile("an HDF5 model", lambda _, head: head.startswith(b"\x89HDF\r\n\x1a\n")),
    "tflite": OutputFile("a TFLite model", lambda _, head: head[4:8] == b"TFL3"),
    "onnx": OutputFile("an ONNX model", lambda _, head: head[:1] == b"\x08"),
}


# Images used to calibrate int8 ranges: a few hundred cover FER2013's lighting spread.
N_REPRESENTATIVE = 500


def export(model, path, *, format="keras", quantize=None, representative_data=None):
    """Write ``model`` as a standalone network that takes raw 0–255 pixels.

    Parameters
    ----------
    model : FERClassifier or Pipeline
        A fitted classifier (whose input is taken to be already-normalised
        pixels in [0, 1]), or a pipeline ending ``[PixelNormalizer →]
        FERClassifier`` (e.g. :func:`fercls.load_pretrained`); parsers and
        samplers before them are dropped, as they do nothing at prediction.
    path : path-like
        The file (folder for ``"saved_model"``) to write, atomically.
    format : {"keras", "h5", "tflite", "saved_model", "onnx"}, default="keras"
        ``"onnx"`` needs ``pip install "fercls[onnx]"`` (tf2onnx) and a path
        ending in ``.onnx``; the network is exported in float32 whatever
        precision it was trained in.
    quantize : {None, "float16", "int8"}, default=None
        TFLite only. ``"float16"`` halves the weights; ``"int8"`` quantises
        weights and activations using ``representative_data`` for the ranges
        (inputs and outputs stay float32).
    representative_data : array-like of shape (n, 2304), uint8, optional
        Raw training pixels for ``quantize="int8"``; the first 500 are used.

    Returns
    -------
    labels : list
        The label of each output column, in order.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from fercls import FERClassifier
    >>> X = np.random.default_rng(0).random((40, 2304), dtype=np.float32)
    >>> y = np.repeat(["happy", "sad"], 20)
    >>> clf = FERClassifier("simple", max_iter=1, random_state=0).fit(X, y)
    >>> export(clf, pathlib.Path(tempfile.mkdtemp()) / "fer.tflite", format="tflite")
    ['happy', 'sad']
    """
    if format not in FORMATS:
        raise ValueError(f"format={format!r}; expected one of {', '.join(FORMATS)}")
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize={quantize!r}; expected None, 'float16' or 'int8'")
    if quantize is not None and format != "tflite":
        raise ValueError(f"quantize={quantize!r} applies to format='tflite' only")
    if quantize == "int8" and representative_data is None:
        raise ValueError("quantize='int8' needs representative_data: raw training pixels")
    path = Path(path)
    if format in SUFFIXES and path.suffix != SUFFIXES[format]:
        raise ValueError(
            f"format={format!r} needs a path ending in {SUFFIXES[format]}, got {path.name}"
        )
    network, labels = standalone_network(model, float32=format == "onnx", rebuild=format == "h5")
    if format == "saved_model":

        def write_saved_model(folder):
            network.export(folder, format="tf_saved_model", verbose=False)
            Path(folder, "labels.json").write_text(json.dumps(labels) + "\n")

        write_folder_atomic(path, write_saved_model, kind=SAVED_MODEL_FOLDER)
        return labels
    elif format == "tflite":
        flatbuffer = _to_tflite(network, quantize, representative_data)
        write_atomic(path, lambda temporary: Path(temporary).write_bytes(flatbuffer))
    elif format == "onnx":
        write_atomic(path, lambda temporary: _save_onnx(network, temporary))
    else:
        suffix = SUFFIXES[format]
        write_atomic(path, lambda temporary: _save_keras(network, temporary, suffix))
    write_atomic(labels_path(path), lambda p: Path(p).write_text(json.dumps(labels) + "\n"))
    return labels


def labels_path(path) -> Path:
    """Where the output labels of an exported file are written: ``<file>.labels.json``
    beside it (``labels.json`` inside a SavedModel folder)."""
    path = Path(path)
    return path / "labels.json" if path.is_dir() else path.with_name(f"{path.name}.labels.json")


def read_labels(path) -> list:
    """The output labels written with an export, in column order."""
    try:
        data = read_regular_file(labels_path(path), max_bytes=1024**2)
    except OSError as exc:
        raise ValueError(f"{path}: cannot read its labels ({exc})") from None
    return parse_json(data, str(labels_path(path)), expected=list)


def _save_keras(network, temporary, suffix):
    # Keras picks the format from the suffix, which a temporary name lacks.
    staged = Path(f"{temporary}{suffix}")
    try:
        with signals_deferred():  # Keras's own temporary folder must not outlive a stop
            network.save(staged)
        staged.replace(temporary)
    finally:
        staged.unlink(missing_ok=True)


def _save_onnx(network, temporary):
    try:
        import tf2onnx  # noqa: F401  (Keras converts through it)
    except ImportError as exc:
        raise ImportError('format="onnx" needs tf2onnx: pip install "fercls[onnx]"') from exc
    import tensorflow as tf

    staged = Path(f"{temporary}.onnx")
    # Any batch size; the signature also spares the "never called" refusal.
    spec = tf.TensorSpec([None, *network.input_shape[1:]], tf.float32, name="pixels")
    try:
        with warnings.catch_warnings():
            # tf2onnx 1.17 probes np.object, which NumPy 2 warns about.
            warnings.filterwarnings("ignore", category=FutureWarning, module="keras|tf2onnx")
            network.export(str(staged), format="onnx", input_signature=[spec], verbose=False)
        staged.replace(temporary)
    finally:
        staged.unlink(missing_ok=True)


def _split_model(model):
    """(classifier, normalisation method) from a classifier or a pipeline."""
    from .classifier import final_classifier
    from .preprocessing import PixelNormalizer

    classifier = final_classifier(model)
    if classifier is None:
        raise TypeError(
            f"expected a FERClassifier or a pipeline ending in one, got {type(model).__name__}"
        )
    if classifier is model:
        return model, None
    normalizers = [s for s in _steps_before(model) if isinstance(s, PixelNormalizer)]
    if len(normalizers) > 1:
        raise ValueError("the pipeline normalises twice; export handles one PixelNormalizer")
    return classifier, (normalizers[0] if normalizers else None)


def _steps_before(model):
    """Every step before the final classifier, in nested pipelines too."""
    for _, step in model.steps[:-1]:
        yield step
    last = model.steps[-1][1]
    if hasattr(last, "steps"):
        yield from _steps_before(last)


def standalone_network(model, *, float32=False, rebuild=False):
    """A Keras model: raw pixels (n, h, w, 1) in, probabilities out; and its labels.

    ``float32=True`` rebuilds a network trained in another precision (e.g.
    ``mixed_bfloat16``) in float32 first, as the ONNX converter needs.
    ``rebuild=True`` rebuilds a network fercls builds (a named architecture)
    from its builder with the same weights: Keras's legacy HDF5 writer fails
    (``cannot pickle 'module' object``) on a network read back from a
    ``.keras`` file, as every saved and loaded model's is."""
    from sklearn.utils.validation import check_is_fitted

    from .architectures import import_keras
    from .classifier import rebuild_in_precision

    keras = import_keras()
    classifier, normalizer = _split_model(model)
    check_is_fitted(classifier)
    network = classifier.model_
    if float32 and network.dtype_policy.name != "float32":
        network = rebuild_in_precision(classifier, "float32").model_
    elif rebuild and isinstance(classifier.architecture, str):
        network = rebuild_in_precision(classifier, network.dtype_policy.name).model_
    inputs = keras.Input((*classifier.image_shape_, 1), name="pixels")
    if normalizer is None or normalizer.method == "scale":
        # A bare classifier was trained on pixels in [0, 1]: scale as PixelNormalizer does.
        max_value = 255.0 if normalizer is None else normalizer.max_value
        x = keras.layers.Rescaling(1.0 / max_value, name="normalize")(inputs)
    else:
        # Per-image standardisation is exactly a LayerNormalization over all
        # pixels without its learned scale and offset (blank images map to 0).
        x = keras.layers.LayerNormalization(
            axis=[1, 2, 3], epsilon=1e-12, center=False, scale=False, name="normalize"
        )(inputs)
    outputs = network(x, training=False)
    # Columns stay in classes_ order, the order of predict_proba: one order everywhere.
    labels = np.asarray(classifier.classes_).tolist()
    return keras.Model(inputs, outputs, name="fercls_export"), labels


def _to_tflite(network, quantize, representative_data) -> bytes:
    import tensorflow as tf

    # Through a SavedModel: the converter then freezes every variable reliably
    # (converting a traced function of a freshly trained model left variable
    # reads in the flatbuffer, which ran to NaN).
    spec = tf.TensorSpec([1, *network.input_shape[1:]], tf.float32, name="pixels")
    with tempfile.TemporaryDirectory() as folder:
        network.export(folder, format="tf_saved_model", input_signature=[spec], verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        return _convert(converter, network, quantize, representative_data)


def _convert(converter, network, quantize, representative_data) -> bytes:
    import tensorflow as tf

    if quantize == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "int8":
        images = _representative_images(representative_data, network.input_shape[1:])
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([image[None]] for image in images)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    from ._startup import CONVERTER_NOISE, stderr_without

    with stderr_without(CONVERTER_NOISE):  # "fully_quantize: 0, ..." from C++ otherwise
        return converter.convert()


def _representative_images(data, shape):
    images = np.asarray(data)[:N_REPRESENTATIVE]
    if images.size == 0:
        raise ValueError("representative_data is empty")
    if np.prod(images.shape[1:]) != np.prod(shape):
        raise ValueError(
            f"representative_data has rows of {int(np.prod(images.shape[1:]))} pixels; "
            f"the model takes {int(np.prod(shape))}"
        )
    return images.reshape(-1, *shape).astype(np.float32)


class TFLiteModel:
    """Run an exported ``.tflite`` file with the TFLite interpreter.

    Parameters
    ----------
    path : path-like
        A file written by :func:`export` with ``format="tflite"``.
    labels : sequence, optional
        The label of each output column; by default those :func:`export`
        wrote beside the file (``<file>.labels.json``).

    Examples
    --------
    >>> model = TFLiteModel("fer.tflite")  # doctest: +SKIP
    >>> model.predict(pixels)               # doctest: +SKIP
    """

    def __init__(self, path, labels=None):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"TFLite model not found: {path}")
        labels = read_labels(path) if labels is None else labels
        try:
            self.interpreter = _interpreter(path)
        except ValueError as exc:
            raise ValueError(f"{path}: not a TFLite model ({exc})") from None
        self.interpreter.allocate_tensors()
        self.input_ = self.interpreter.get_input_details()[0]
        self.output_ = self.interpreter.get_output_details()[0]
        self.labels = np.asarray(labels)

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities for raw pixels (n, 2304) or images (n, 48, 48[, 1]), 0–255."""
        images = _as_images(X, tuple(self.input_["shape"][1:]))
        out = np.empty((len(images), self.output_["shape"][-1]), dtype=np.float32)
        for i, image in enumerate(images):  # the file was converted for batches of one
            self.interpreter.set_tensor(self.input_["index"], image[None])
            self.interpreter.invoke()
            out[i] = self.interpreter.get_tensor(self.output_["index"])[0]
        return out

    def predict(self, X) -> np.ndarray:
        """The label of the most probable column for each image."""
        return self.labels[np.argmax(self.predict_proba(X), axis=1)]


def _as_images(X, shape) -> np.ndarray:
    """Raw pixel rows or images as float32 images of ``shape``, or a clear error."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim < 2 or np.prod(X.shape[1:]) != np.prod(shape):
        raise ValueError(f"expected rows of {int(np.prod(shape))} pixels, got shape {X.shape}")
    return X.reshape(-1, *shape)


def _interpreter(path: Path):
    """LiteRT's interpreter when installed (``pip install ai-edge-litert``), else
    TensorFlow's own, which TensorFlow deprecates in its favour but still ships."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
            return tf.lite.Interpreter(model_path=str(path), num_threads=1)
    return Interpreter(model_path=str(path), num_threads=1)


class ONNXModel:
    """Run an exported ``.onnx`` file with onnxruntime, without TensorFlow.

    Parameters
    ----------
    path : path-like
        A file written by :func:`export` with ``format="onnx"``.
    labels : sequence, optional
        The label of each output column; by default those :func:`export`
        wrote beside the file (``<file>.onnx.labels.json``).
    threads : int, default=1
        onnxruntime's intra-op threads (1: predictable latency beside other work).

    Examples
    --------
    >>> model = ONNXModel("fer.onnx")  # doctest: +SKIP
    >>> model.predict(pixels)           # doctest: +SKIP
    """

    def __init__(self, path, labels=None, threads=1):
        try:
            import onnxruntime
        except ImportError as exc:
            raise ImportError('ONNXModel needs onnxruntime: pip install "fercls[onnx]"') from exc
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"ONNX model not found: {path}")
        labels = read_labels(path) if labels is None else labels
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3  # errors only: no start-up notes on stderr
        try:
            self.session = onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ValueError(f"{path}: not an ONNX model onnxruntime can run ({exc})") from None
        self.input_ = self.session.get_inputs()[0]
        self.labels = np.asarray(labels)

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities for raw pixels (n, 2304) or images (n, 48, 48[, 1]), 0–255."""
        images = _as_images(X, tuple(self.input_.shape[1:]))
        return self.session.run(None, {self.input_.name: images})[0]

    def predict(self, X) -> np.ndarray:
        """The label of the most probable column for each image."""
        return self.labels[np.argmax(self.predict_proba(X), axis=1)]
