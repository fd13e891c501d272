"""PixelStringParser vs the tutorials' per-row parse, on all FER2013 pixel strings.

Prints one JSON line: seconds for each, the ratio, and whether outputs are
identical. The strings are rebuilt from ../shared/data/fer2013.zip (or --data)
in the challenge CSV's format; both parsers run in this process.

    python benchmarks/parse_pixels.py
"""

import argparse
import json
import time
import tracemalloc
from pathlib import Path

import numpy as np

from fercls.datasets import fer2013_path

DEFAULT_DATA = fer2013_path(__file__)  # $FERCLS_FER2013, or ../shared/data/fer2013.zip


def per_row_baseline(strings):
    """The usual tutorial code: split each string, build a float array per row."""
    return np.array([np.array(s.split(), dtype=float) for s in strings]).astype(np.uint8)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    from fercls import PixelStringParser, load_fer2013
    from fercls.preprocessing import format_pixel_strings

    pixels = load_fer2013(args.data).data
    strings = format_pixel_strings(pixels)
    input_mb = sum(map(len, strings)) / 1e6

    start = time.perf_counter()
    ours = PixelStringParser().transform(strings)
    ours_seconds = time.perf_counter() - start

    tracemalloc.start()
    PixelStringParser().transform(strings)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    start = time.perf_counter()
    baseline = per_row_baseline(strings)
    baseline_seconds = time.perf_counter() - start

    print(
        json.dumps(
            {
                "benchmark": "parse_pixels",
                "rows": len(strings),
                "input_mb": round(input_mb, 1),
                "baseline_seconds": round(baseline_seconds, 2),
                "fercls_seconds": round(ours_seconds, 2),
                "speedup": round(baseline_seconds / ours_seconds, 1),
                "identical": bool(np.array_equal(ours, baseline) and np.array_equal(ours, pixels)),
                "peak_extra_mb": round(peak / 1e6, 1),
                "result_mb": round(ours.nbytes / 1e6, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
