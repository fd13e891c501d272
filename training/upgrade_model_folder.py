"""Rewrite model folders of fercls' first layout (``model.json`` + ``model.weights.h5``)
as model folders of the current format (``fercls.json`` + ``network-0.weights.h5``).

The weights file is kept byte for byte (a float16 teacher stays float16, and
git sees a rename); the manifest is the one :func:`fercls.save` writes for the
pipeline the old folder loads as, with the old card. Each folder is replaced
only after the new one predicts exactly what the old one did on 64 random
images. Prints one JSON line per folder.

    python training/upgrade_model_folder.py src/fercls/models/fer2013_vgg_small \\
        training/teachers/*
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from fercls._containers import LEGACY_METADATA, LEGACY_WEIGHTS, MODEL_FOLDER, network_file
from fercls._io import write_folder_atomic

NEW_WEIGHTS = network_file(0, weights_only=True)
PROBE_IMAGES = 64


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", type=Path, nargs="+", help="model folders to upgrade in place")
    args = parser.parse_args(argv)
    for folder in args.folders:
        print(json.dumps(upgrade(folder)), flush=True)


def upgrade(folder: Path) -> dict:
    from fercls import load, save
    from fercls.persistence import load_with_card

    if not (folder / LEGACY_METADATA).is_file():
        return {"folder": str(folder), "upgraded": False, "reason": f"no {LEGACY_METADATA}"}
    old, card = load_with_card(folder)
    probe = np.random.default_rng(0).random((PROBE_IMAGES, old[-1].n_features_in_)) * 255

    def write(staging):
        save(old, staging, folder=True, card=card)
        shutil.copy2(folder / LEGACY_WEIGHTS, Path(staging, NEW_WEIGHTS))
        difference = np.abs(load(staging).predict_proba(probe) - old.predict_proba(probe)).max()
        if difference != 0:
            raise SystemExit(f"{folder}: the upgraded folder predicts differently ({difference})")

    # The old folder is swapped out only once the new one is written and checked.
    write_folder_atomic(folder, write, kind=MODEL_FOLDER)
    return {"folder": str(folder), "upgraded": True, "probe_images": PROBE_IMAGES}


if __name__ == "__main__":
    main()
