"""scikit-learn transformers for FER2013 pixels: string parsing and normalisation.

The flat ``(n_samples, n_pixels)`` uint8 array is the currency between pipeline
steps: it is what imbalanced-learn samplers need (2-D X) and four times smaller
than float32.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing_extensions import Self

from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._pixels import FER_N_PIXELS, check_pixel_range, format_pixel_strings, parse_pixel_strings

__all__ = [
    "FER_N_PIXELS",
    "PixelNormalizer",
    "PixelStringParser",
    "format_pixel_strings",
    "parse_pixel_strings",
]


class PixelStringParser(TransformerMixin, BaseEstimator):
    """Turn FER2013 pixel strings into a flat ``(n_samples, n_pixels)`` uint8 array.

    Accepts the ``pixels`` column of the challenge CSV as a pandas Series, a
    one-column DataFrame, a list or a 1-D array of strings. Numeric input
    (already-parsed pixels, flat or as ``(n, h, w)`` images) is checked and passed
    through as uint8, so the parser can lead a pipeline fed either form.

    Parsing is vectorised over chunks of rows; it is strict: a missing string, a
    wrong count, a non-integer or a value outside 0..255 raises a ``ValueError``
    naming the row.

    Parameters
    ----------
    n_pixels : int or None, default=2304
        Values per image (48 × 48 for FER2013). ``None`` infers the count from
        the first row and requires it of every other row.

    Examples
    --------
    >>> import pandas as pd
    >>> parser = PixelStringParser(n_pixels=4)
    >>> parser.fit_transform(pd.Series(["0 1 2 3", "255 254 253 252"]))
    array([[  0,   1,   2,   3],
           [255, 254, 253, 252]], dtype=uint8)
    """

    # Up to 4096x4096 pixels a row: a larger n_pixels is a typo, not an image.
    _parameter_constraints = {"n_pixels": [Interval(Integral, 1, 4096**2, closed="both"), None]}

    def __init__(self, n_pixels=FER_N_PIXELS):
        self.n_pixels = n_pixels

    def fit(self, X, y=None) -> Self:
        """Validate the parameters; the parser learns nothing from data.

        Returns
        -------
        self : PixelStringParser
        """
        self._validate_params()
        return self

    def transform(self, X) -> np.ndarray:
        """Parse pixel strings (or check numeric pixels) into uint8 rows.

        Parameters
        ----------
        X : Series, one-column DataFrame, list or array of str, or numeric array
            Pixel strings, or pixels already parsed.

        Returns
        -------
        ndarray of shape (n_samples, n_pixels), dtype uint8
        """
        strings, numeric = _split_input(X)
        if numeric is not None:
            pixels = check_pixel_range(numeric.reshape(len(numeric), -1))
            if self.n_pixels is not None and pixels.shape[1] != self.n_pixels:
                one_image = numeric.ndim == 2 and numeric.size == self.n_pixels
                hint = (
                    f" (one {numeric.shape[0]}x{numeric.shape[1]} image? pass a batch of one: "
                    "image[None] or image.reshape(1, -1))"
                    if one_image
                    else ""
                )
                raise ValueError(
                    f"expected {self.n_pixels} pixel values per row, got {pixels.shape[1]}{hint}"
                )
            return pixels
        if len(strings) == 0:
            raise ValueError("expected at least one pixel string, got an empty input")
        return parse_pixel_strings(strings, self.n_pixels)

    def inverse_transform(self, X) -> np.ndarray:
        """Format uint8 pixel rows back into pixel strings.

        Returns
        -------
        ndarray of shape (n_samples,), dtype object
        """
        return np.asarray(format_pixel_strings(X), dtype=object)

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns: ``pixel0``, ``pixel1``, …"""
        if self.n_pixels is None:
            raise ValueError("feature names need a fixed n_pixels")
        return np.asarray([f"pixel{i}" for i in range(self.n_pixels)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags


def _split_input(X):
    """Return ``(strings, None)`` for text input or ``(None, numeric_array)``."""
    if isinstance(X, pd.DataFrame):
        if X.shape[1] == 1 and not pd.api.types.is_numeric_dtype(X.dtypes.iloc[0]):
            return X.iloc[:, 0].to_numpy(dtype=object).tolist(), None
        if all(pd.api.types.is_numeric_dtype(t) for t in X.dtypes):
            return None, X.to_numpy()
        raise ValueError(
            f"expected a one-column DataFrame of pixel strings, got columns {list(X.columns)}"
        )
    if isinstance(X, pd.Series):
        return X.to_numpy(dtype=object).tolist(), None
    if isinstance(X, str):
        raise ValueError("expected a sequence of pixel strings, got a single string")
    if X is None or not hasattr(X, "__len__"):
        raise ValueError(f"expected pixel strings or a 2-D pixel array, got {type(X).__name__}")
    if len(X) == 0:
        return [], None
    array = np.asarray(X, dtype=object) if isinstance(X, (list, tuple)) else np.asarray(X)
    if array.dtype.kind in "USO":
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        if array.ndim == 1 and (array.dtype.kind in "US" or _mostly_text(array)):
            return array.tolist(), None
        if array.dtype.kind == "O":
            return None, array
        raise ValueError(f"expected a 1-D sequence of pixel strings, got shape {array.shape}")
    if array.ndim < 2:
        raise ValueError(f"expected pixel strings or a 2-D pixel array, got shape {array.shape}")
    return None, array


def _mostly_text(array: np.ndarray) -> bool:
    """An object column is text unless every entry is a number or a row of numbers."""
    return any(not isinstance(v, (Integral, Real, np.ndarray, list)) for v in array)


class PixelNormalizer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Scale pixels to float32: to [0, 1], or standardised per image.

    Parameters
    ----------
    method : {"scale", "standardize"}, default="scale"
        ``"scale"`` divides by ``max_value``. ``"standardize"`` subtracts each
        image's mean and divides by its standard deviation (a blank image maps
        to zeros), which removes global brightness and contrast differences.
    max_value : float, default=255.0
        The value that maps to 1.0 under ``"scale"``, from 1e-3 to 1e12.

    Attributes
    ----------
    n_features_in_ : int
        Pixels per image seen in ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> PixelNormalizer().fit_transform(np.array([[0, 51, 255]], dtype=np.uint8))
    array([[0. , 0.2, 1. ]], dtype=float32)
    """

    _parameter_constraints = {
        "method": [StrOptions({"scale", "standardize"})],
        # Pixel maxima are 1 (floats) to 65535 (16-bit); beyond 1e-3..1e12 the
        # scaled values would overflow float32 or round to zero.
        "max_value": [Interval(Real, 1e-3, 1e12, closed="both")],
    }

    def __init__(self, method="scale", max_value=255.0):
        self.method = method
        self.max_value = max_value

    def fit(self, X, y=None) -> Self:
        """Record the number of pixels per image.

        Returns
        -------
        self : PixelNormalizer
        """
        self._validate_params()
        validate_data(self, X, dtype="numeric", ensure_all_finite=True)
        return self

    def transform(self, X) -> np.ndarray:
        """Return the normalised pixels as float32 of the same shape."""
        check_is_fitted(self)
        # "numeric" keeps uint8 as it is: the float32 copy below is the only one.
        X = validate_data(self, X, reset=False, dtype="numeric", ensure_all_finite=True)
        if self.method == "scale":
            out = X.astype(np.float32)
            out /= np.float32(self.max_value)  # division rounds 51/255 to exactly 0.2
            return out
        out = X.astype(np.float32)
        out -= out.mean(axis=1, keepdims=True)
        std = out.std(axis=1, keepdims=True)
        out /= np.where(std > 1e-6, std, np.float32(1.0))
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
