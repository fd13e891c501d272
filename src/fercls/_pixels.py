"""The FER2013 pixel-string codec: vectorised parsing and formatting.

Shared by the loader (``fercls.datasets``) and the transformers
(``fercls.preprocessing``, which re-exports the public functions), so loading
data does not depend on the scikit-learn transformers.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._threads import omp_share, usable_cores

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
    cores = usable_cores()
    share = omp_share()
    if share is not None:
        cores = min(cores, share)
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
    pixels = check_pixel_range(pixels)
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


def check_pixel_range(pixels: np.ndarray) -> np.ndarray:
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
        finite = pixels.dtype.kind == "f" and bool(np.isfinite(pixels).all())
        scaled = finite and 0 <= pixels.min() and pixels.max() <= 1
        hint = " (these look scaled to [0, 1]; this step takes raw 0..255 pixels)" if scaled else ""
        raise ValueError(
            f"row {row}: value {pixels[row, col].item()!r} at position {col} is not an "
            f"integer 0..255{hint}"
        )
    return pixels.astype(np.uint8)
