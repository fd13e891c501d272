"""fercls: facial emotion recognition as a first-class scikit-learn estimator.

``import fercls`` does not import TensorFlow; Keras is imported when a network
is first built or loaded.
"""

from ._calibration import calibrate_temperature
from ._threads import share_threads_with_tensorflow
from ._version import __version__
from .architectures import ARCHITECTURES
from .classifier import FERClassifier
from .datasets import load_fer2013
from .faces import FaceCropper
from .labels import EMOTIONS, PROBABILITY_ORDER
from .persistence import load, save
from .photos import detect_emotions
from .preprocessing import PixelNormalizer, PixelStringParser
from .pretrained import load_pretrained

share_threads_with_tensorflow()  # before TensorFlow starts; see fercls._threads

__all__ = [
    "ARCHITECTURES",
    "EMOTIONS",
    "FaceCropper",
    "FERClassifier",
    "PixelNormalizer",
    "PixelStringParser",
    "PROBABILITY_ORDER",
    "__version__",
    "calibrate_temperature",
    "detect_emotions",
    "load",
    "load_fer2013",
    "load_pretrained",
    "save",
]
