"""fercls: facial emotion recognition as a first-class scikit-learn estimator.

``import fercls`` neither imports TensorFlow nor changes the environment; Keras
is imported when a network is first built or loaded (see ``fercls._threads``).
"""

from ._calibration import calibrate_temperature
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
