"""Peak memory (RSS) of fitting the design-card pipeline on FER2013 Training, and its growth with n.

For each n (a quarter, half and all of the 28,709 Training images), a fresh
process loads the zip, formats the images as pixel strings (as the challenge
CSV holds them) and fits PixelStringParser -> RandomOverSampler ->
PixelNormalizer -> FERClassifier("simple", max_iter=1). It reports the RSS
after loading and the peak RSS of the whole run; the slope between the sizes
is the memory each training image costs. For scale: one image is 2,304 bytes as
uint8 and 9,216 bytes as the float32 the network needs; RandomOverSampler
grows the 28,709 images to 50,505 (7 x 7,215 happy).

    python benchmarks/fit_memory.py
"""

import argparse
import json
from pathlib import Path

from child_process import run_child

from fercls.datasets import fer2013_path

DEFAULT_DATA = fer2013_path(__file__)  # $FERCLS_FER2013, or ../shared/data/fer2013.zip

CHILD = """
import json, sys
import numpy as np
from imblearn.over_sampling import RandomOverSampler
from imblearn.pipeline import make_pipeline
from fercls import FERClassifier, PixelNormalizer, PixelStringParser, load_fer2013
from fercls.preprocessing import format_pixel_strings

data = load_fer2013(sys.argv[1])
rows = np.flatnonzero(data.usage == "Training")[: int(sys.argv[2])]
strings, target = format_pixel_strings(data.data[rows]), data.target[rows]
del data
import tensorflow  # counted in the baseline, not in training
loaded = rss_mb()
pipe = make_pipeline(
    PixelStringParser(), RandomOverSampler(random_state=0), PixelNormalizer(),
    FERClassifier("simple", max_iter=1, random_state=0),
)
pipe.fit(strings, target)
print(json.dumps({"n": len(rows), "resampled": int(pipe[1].sample_indices_.size),
                  "rss_after_load_mb": round(loaded), "peak_rss_mb": round(rss_mb())}))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sizes", type=int, nargs="+", default=[7177, 14354, 28709])
    args = parser.parse_args()
    runs = []
    for n in args.sizes:
        runs.append(run_child(CHILD, args.data, n, env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": ""}))
    first, last = runs[0], runs[-1]
    growth = (last["peak_rss_mb"] - last["rss_after_load_mb"]) - (
        first["peak_rss_mb"] - first["rss_after_load_mb"]
    )
    per_image_kb = 1024 * growth / (last["resampled"] - first["resampled"])
    print(json.dumps({"runs": runs, "training_kb_per_resampled_image": round(per_image_kb, 1)}))


if __name__ == "__main__":
    main()
