"""scikit-learn transformers for FER2013 pixels: string parsing and normalisation.

The flat ``(n_samples, n_pixels)`` uint8 array is the currency between pipeline
steps: it is what imbalanced-learn samplers need (2-D X) and four times smaller
than float32.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

FER_N_PIXELS = 48 * 48

# Rows per vectorised chunk: the chunk's byte buffers (~0.6 MB each) stay in
# cache; 1024-row chunks measured 1.6x slower from page faults on fresh arrays.
_CHUNK_ROWS = 64
# Below this many chunks, starting threads costs more than it saves.
_MIN_PARALLEL_CHUNKS = 16
_SPACE = 32
_NEWLINE = 10
_ZERO = 48


def parse_pixel_strings(strings, n_pixels: int | None = FER_N_PIXELS) -> np.ndarray:
    """Parse FER2013 pixel strings (``"70 80 82 ..."``) into a uint8 array.

    Parameters
    ----------
    strings : sequence of str
        One string of space-separated integers 0..255 per image.
    n_pixels : int or None, default=2304
        Values expected in every string. ``None`` takes the count of the first
        string and requires the same count in all others.

    Returns
    -------
    ndarray of shape (n_strings, n_pixels), dtype uint8

    Raises
    ------
    ValueError
        Naming the first bad row: missing string, wrong count, a value that is
        not an integer, or one outside 0..255.

    Examples
    --------
    >>> parse_pixel_strings(["0 128 255", "1 2 3"], n_pixels=3)
    array([[  0, 128, 255],
           [  1,   2,   3]], dtype=uint8)
    """
    strings = list(strings)
    if n_pixels is None:
        if not strings:
            raise ValueError("cannot infer n_pixels from zero strings")
        n_pixels = len(_parse_row_strictly(strings[0], 0, None))
    out = np.empty((len(strings), n_pixels), dtype=np.uint8)

    def parse(start):
        chunk = strings[start : start + _CHUNK_ROWS]
        parsed = _parse_chunk_fast(chunk, n_pixels)
        if parsed is None:  # something unusual: let the strict path parse or name the row
            parsed = np.stack(
                [_parse_row_strictly(s, start + i, n_pixels) for i, s in enumerate(chunk)]
            )
        out[start : start + len(chunk)] = parsed

    starts = range(0, len(strings), _CHUNK_ROWS)
    threads = _parse_threads(len(starts))
    if threads == 1:
        for start in starts:
            parse(start)
    else:
        # NumPy releases the GIL inside its byte operations, so chunks parse in
        # parallel. map() re-raises in chunk order: the error names the first bad row.
        with ThreadPoolExecutor(threads) as pool:
            for _ in pool.map(parse, starts):
                pass
    return out


def _parse_threads(n_chunks: int) -> int:
    """Threads for parsing: the cores this process may use (its OMP_NUM_THREADS
    share inside joblib/Dask workers), at most 8, and one for small inputs."""
    if n_chunks < _MIN_PARALLEL_CHUNKS:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    share = os.environ.get("OMP_NUM_THREADS", "")
    if share.isdigit() and int(share) > 0:
        cores = min(cores, int(share))
    return max(1, min(cores, 8))


def _parse_chunk_fast(chunk: list, n_pixels: int) -> np.ndarray | None:
    """Vectorised parse of well-formed rows; ``None`` if anything is unusual.

    Rows are joined with newlines into one byte buffer and parsed with
    whole-buffer byte operations and no per-token index arrays: each byte gets
    the value its token would have if it ended there (from it and the two bytes
    before it), and one ``np.compress`` keeps the values at token ends. Bit 15
    of each value carries "a newline follows", so the same compaction also
    yields the row boundaries. Anything unusual (a character other than a digit
    or a space, a token of four or more digits, a value above 255, a row with
    the wrong count) sends the chunk to the strict per-row path, which either
    parses it exactly or raises naming the row.
    """
    if not all(type(s) is str for s in chunk):
        return None
    try:
        buffer = ("\n".join(chunk) + "\n").encode("ascii")
    except UnicodeEncodeError:
        return None
    b = np.frombuffer(buffer, dtype=np.uint8)
    digits = b - np.uint8(_ZERO)  # wraps around for non-digits, so one comparison suffices
    is_digit = digits < 10
    is_newline = b == _NEWLINE
    if not np.all(is_digit | is_newline | (b == _SPACE)):
        return None
    if np.count_nonzero(is_newline) != len(chunk):
        # A line break inside a row (two images' values in one CSV field): rows
        # would no longer line up with their strings, so the strict path names it.
        return None
    if np.any(is_digit[3:] & is_digit[2:-1] & is_digit[1:-2] & is_digit[:-3]):
        return None  # four-digit tokens (leading zeros or too large): strict path
    digits *= is_digit
    value = digits.astype(np.uint16)
    value[1:] += digits[:-1] * np.uint16(10)
    value[2:] += (digits[:-2] * is_digit[1:-1]) * np.uint16(100)
    value[:-1] |= is_newline[1:].astype(np.uint16) << np.uint16(15)
    token_end = is_digit.copy()
    token_end[:-1] &= ~is_digit[1:]  # the buffer ends with a newline: the last byte is no digit
    values = np.compress(token_end, value)  # 3x faster than value[token_end] here
    if values.size != len(chunk) * n_pixels:
        return None
    values = values.reshape(len(chunk), n_pixels)
    row_ends = values >> np.uint16(15)
    # Right counts in every row iff the only tokens followed by a newline are the last of each row.
    if not np.all(row_ends[:, -1]) or np.count_nonzero(row_ends) != len(chunk):
        return None
    values &= np.uint16(0x7FFF)
    if values.max(initial=0) > 255:
        return None
    return values.astype(np.uint8)


def _parse_row_strictly(value, row: int, n_pixels: int | None) -> np.ndarray:
    """Parse one row with full checks, raising a ValueError that names the row."""
    if not isinstance(value, str):
        raise ValueError(
            f"row {row}: expected a string of space-separated pixel values, got {value!r}"
        )
    inner = value.strip()
    if "\n" in inner or "\r" in inner:
        raise ValueError(
            f"row {row}: the pixel string contains a line break (two rows merged into one "
            "field?); expected one row of space-separated values"
        )
    tokens = value.split()
    if n_pixels is not None and len(tokens) != n_pixels:
        raise ValueError(f"row {row}: expected {n_pixels} pixel values, got {len(tokens)}")
    if not tokens:
        raise ValueError(f"row {row}: empty pixel string")
    for position, token in enumerate(tokens):
        if not token.isascii() or not token.isdigit():
            raise ValueError(
                f"row {row}: value {token!r} at position {position} is not an integer 0..255"
            )
        if int(token) > 255:
            raise ValueError(f"row {row}: value {token} at position {position} is outside 0..255")
    return np.asarray([int(t) for t in tokens], dtype=np.uint8)


def format_pixel_strings(pixels) -> list[str]:
    """Format uint8 pixel rows as FER2013 pixel strings (the inverse of parsing).

    Vectorised: digits are scattered into one byte buffer per chunk of rows.

    Examples
    --------
    >>> format_pixel_strings(np.array([[0, 128, 255]], dtype=np.uint8))
    ['0 128 255']
    """
    pixels = np.asarray(pixels)
    if pixels.ndim != 2:
        pixels = pixels.reshape(len(pixels), -1)
    pixels = _check_pixel_range(pixels)
    strings: list[str] = []
    for start in range(0, len(pixels), _CHUNK_ROWS):
        strings.extend(_format_chunk(pixels[start : start + _CHUNK_ROWS]))
    return strings


def _format_chunk(chunk: np.ndarray) -> list[str]:
    if chunk.shape[1] == 0:
        return [""] * len(chunk)
    v = chunk.reshape(-1)
    n_digits = 1 + (v >= 10).astype(np.int64) + (v >= 100)
    ends = np.cumsum(n_digits + 1)  # each value is followed by one separator byte
    out = np.full(ends[-1], _SPACE, dtype=np.uint8)
    out[ends - 2] = _ZERO + v % 10
    two = n_digits >= 2
    out[ends[two] - 3] = _ZERO + (v[two] // 10) % 10
    three = n_digits == 3
    out[ends[three] - 4] = _ZERO + v[three] // 100
    out[ends[chunk.shape[1] - 1 :: chunk.shape[1]] - 1] = ord("\n")
    return out.tobytes().decode("ascii").split("\n")[:-1]


def _check_pixel_range(pixels: np.ndarray) -> np.ndarray:
    """Numeric pixels -> uint8, rejecting non-finite, fractional or out-of-range values."""
    if pixels.dtype == np.uint8:
        return pixels
    if pixels.dtype == object or pixels.dtype.kind not in "biuf":
        try:
            pixels = pixels.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"expected numeric pixel values 0..255: {exc}") from None
    bad = ~np.isfinite(pixels) if pixels.dtype.kind == "f" else np.zeros(pixels.shape, bool)
    bad |= (pixels < 0) | (pixels > 255)
    if pixels.dtype.kind == "f":
        bad |= pixels != np.round(pixels)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(
            f"row {row}: value {pixels[row, col]!r} at position {col} is not an integer 0..255"
        )
    return pixels.astype(np.uint8)


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

    _parameter_constraints = {"n_pixels": [Interval(Integral, 1, None, closed="left"), None]}

    def __init__(self, n_pixels=FER_N_PIXELS):
        self.n_pixels = n_pixels

    def fit(self, X, y=None):
        """Validate the parameters; the parser learns nothing from data.

        Returns
        -------
        self : PixelStringParser
        """
        self._validate_params()
        return self

    def transform(self, X):
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
            pixels = _check_pixel_range(numeric.reshape(len(numeric), -1))
            if self.n_pixels is not None and pixels.shape[1] != self.n_pixels:
                raise ValueError(
                    f"expected {self.n_pixels} pixel values per row, got {pixels.shape[1]}"
                )
            return pixels
        if len(strings) == 0:
            raise ValueError("expected at least one pixel string, got an empty input")
        return parse_pixel_strings(strings, self.n_pixels)

    def inverse_transform(self, X):
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
        The value that maps to 1.0 under ``"scale"``.

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
        "max_value": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, method="scale", max_value=255.0):
        self.method = method
        self.max_value = max_value

    def fit(self, X, y=None):
        """Record the number of pixels per image.

        Returns
        -------
        self : PixelNormalizer
        """
        self._validate_params()
        validate_data(self, X, dtype="numeric", ensure_all_finite=True)
        return self

    def transform(self, X):
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
