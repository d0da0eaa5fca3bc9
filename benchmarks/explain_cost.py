"""What `cxrpipe predict --explain` costs: per-image time with heatmaps (auto: the positive or
most probable findings; all: every class) as a ratio to plain `predict`, measured in one run.

Same set-up as predict_throughput.py (synthetic NIH PNGs, a small-backbone model made here);
each way runs pinned to one core over n1 and n2 images as separate processes, and the marginal
time per image (t2 - t1) / (n2 - n1) leaves TensorFlow's import and the model's load out.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from predict_throughput import cxrpipe, make_model, subset  # noqa: E402

WAYS = {"predict": (), "--explain auto": ("--explain-classes", "auto"),
        "--explain all": ("--explain-classes", "all")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n1", type=int, default=50)
    parser.add_argument("--n2", type=int, default=250)
    parser.add_argument("--side", type=int, default=512, help="source side in pixels")
    parser.add_argument("--size", type=int, default=128, help="stored JPEG and model input side")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="cxrpipe-explain-bench-"))
    try:
        images, model = make_model(base, args.n2, args.side, args.size)
        folders = {n: subset(images, base, n) for n in (args.n1, args.n2)}
        marginal = {}
        for way, flags in WAYS.items():
            times = {}
            for n, folder in folders.items():
                explain = ("--explain", str(base / f"maps-{len(marginal)}-{n}"), *flags) if flags else ()
                times[n] = cxrpipe("predict", "--model", str(model), str(folder), "--out",
                                   str(base / f"p-{n}.csv"), *explain, pin=True)
            marginal[way] = (times[args.n2] - times[args.n1]) / (args.n2 - args.n1)
            print(f"{way:<16} t(n1) {times[args.n1]:6.1f} s  t(n2) {times[args.n2]:6.1f} s  "
                  f"{1000 * marginal[way]:7.1f} ms/image  x{marginal[way] / marginal['predict']:.2f}")
        print(f"\n{args.side}px sources -> {args.size}px, small backbone, one core; "
              f"ratios against plain predict in this run")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
