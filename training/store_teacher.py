"""Store a saved model folder as a distillation teacher: its weights in float16.

Half the size of float32, so the teachers kept in ``training/teachers/`` stay
within their budget; the float16 values load into the float32 network
(``fercls.pretrained.load_classifier``). Prints one JSON line: the largest
probability difference between the stored and the original weights on the
first 500 PublicTest images, and whether any prediction changed there.

    python training/store_teacher.py runs/teacher/model training/teachers/NAME
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import h5py
import numpy as np

from fercls._containers import MODEL_FOLDER, network_file
from fercls._io import check_replaceable_folder, write_folder_atomic
from fercls._manifest import MANIFEST
from fercls.datasets import fer2013_path

CHECKED_IMAGES = 500
WEIGHTS = network_file(0, weights_only=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="a model folder (fercls.json + weights)")
    parser.add_argument("destination", type=Path, help="the teacher folder to write")
    parser.add_argument("--data", type=Path, default=fer2013_path(__file__))
    args = parser.parse_args(argv)
    if args.destination.resolve() == args.source.resolve():
        parser.error("the destination must not be the source")
    try:  # only an empty folder or an earlier model folder is replaced, never anything else
        check_replaceable_folder(args.destination, str(args.destination), kind=MODEL_FOLDER)
    except ValueError as exc:
        parser.error(str(exc))
    report = {}

    def write(staging):
        staging = Path(staging)
        shutil.copy2(args.source / MANIFEST, staging / MANIFEST)
        halve_weights(args.source / WEIGHTS, staging / WEIGHTS)
        report.update(compare(args.source, staging, args.data))

    write_folder_atomic(args.destination, write, kind=MODEL_FOLDER)
    print(json.dumps({"teacher": str(args.destination), **report}))


def halve_weights(source: Path, destination: Path) -> None:
    """A copy of a Keras weights file with every float32 array stored as float16."""
    with h5py.File(source, "r") as old, h5py.File(destination, "w") as new:

        def copy(name, item):
            if isinstance(item, h5py.Dataset):
                data = item[()]
                if getattr(data, "dtype", None) == np.float32:
                    data = data.astype(np.float16)
                new.create_dataset(name, data=data)
            else:
                new.require_group(name)
            for key, value in item.attrs.items():
                new[name].attrs[key] = value

        for key, value in old.attrs.items():
            new.attrs[key] = value
        old.visititems(copy)


def compare(original: Path, stored: Path, data_path: Path) -> dict:
    from fercls import load_fer2013
    from fercls.pretrained import load_pipeline

    data = load_fer2013(data_path)
    rows = np.flatnonzero(data.usage == "PublicTest")[:CHECKED_IMAGES]
    before = load_pipeline(original).predict_proba(data.data[rows])
    after = load_pipeline(stored).predict_proba(data.data[rows])
    return {
        "checked_images": len(rows),
        "largest_probability_difference": round(float(np.abs(before - after).max()), 4),
        "predictions_changed": int((before.argmax(1) != after.argmax(1)).sum()),
    }


if __name__ == "__main__":
    main()
