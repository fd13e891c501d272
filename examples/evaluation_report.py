"""An evaluation report for the bundled model: metrics, confusion matrix, plots, HTML.

Writes metrics.json, classification_report.txt, the confusion matrix, per-class
F1, the most confident mistakes and index.html into --output.

    python examples/evaluation_report.py --quick --output report/
"""

import argparse
from pathlib import Path

import numpy as np

from fercls import load_fer2013, load_pretrained
from fercls.datasets import fer2013_path
from fercls.evaluation import make_report

DEFAULT_DATA = fer2013_path(__file__)  # $FERCLS_FER2013, or ../shared/data/fer2013.zip


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--output", type=Path, default=Path("report"))
    parser.add_argument("--quick", action="store_true", help="the first 500 PrivateTest images")
    args = parser.parse_args()

    data = load_fer2013(args.data)
    private = np.flatnonzero(data.usage == "PrivateTest")[: 500 if args.quick else None]
    names = np.asarray(data.target_names)[data.target[private]]
    metrics = make_report(
        load_pretrained(),
        data.data[private],
        names,
        args.output,
        title=f"Bundled model on {len(private)} PrivateTest images",
    )
    print(f"accuracy {metrics['accuracy']:.3f}, macro-F1 {metrics['macro_f1']:.3f}")
    print(f"open {args.output / 'index.html'}")


if __name__ == "__main__":
    main()
