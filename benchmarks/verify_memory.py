"""Driver memory and wall time of `cxrpipe verify`, by dataset size and path.

Builds synthetic NIH datasets of tiny images with `cxrpipe run` (the image size does not matter
to what the driver holds), then times `cxrpipe verify` in a fresh process per case and reads
its peak resident memory (the Python driver; the JVM and Spark's workers are other processes).
Prints one line per case; compare the growth between sizes, not the absolute numbers.

    .venv/bin/python benchmarks/verify_memory.py [--sizes 1000,4000] [--out /tmp/verify-bench]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

CXRPIPE = [sys.executable, "-m", "cxrpipe.cli"]


def build(root: Path, n: int) -> Path:
    raw, out = root / f"raw-{n}", root / f"out-{n}"
    if not (out / "_MANIFEST.json").exists():
        subprocess.run(CXRPIPE + ["synth", "--layout", "nih", "--out", str(raw), "--n", str(n),
                                  "--image-size", "32"], check=True, capture_output=True)
        subprocess.run(CXRPIPE + ["run", "--dataset", "nih", "--index", str(raw / "Data_Entry_2017.csv"),
                                  "--images", str(raw / "images"), "--output", str(out), "--flips", "h",
                                  "--num-shards", "1"], check=True, capture_output=True)
    return out


_MEASURED = ("import json, resource, sys; from cxrpipe.cli import main; code = main(sys.argv[1:]); "
             "print(json.dumps([code, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]))")


def measure(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, peak MB) of one verify process, which reports its own peak."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", _MEASURED, *argv], capture_output=True, text=True)
    seconds = time.monotonic() - started
    code, peak = json.loads(done.stdout.strip().splitlines()[-1])
    if code != 0:
        raise SystemExit(f"verify failed: {done.stdout[-500:]} {done.stderr[-500:]}")
    return seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,4000")
    parser.add_argument("--out", default="/tmp/cxrpipe-verify-bench")
    args = parser.parse_args()
    root = Path(args.out)
    root.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    datasets = {n: build(root, n) for n in sizes}
    print(f"{'images':>7} {'path':<8} {'wall s':>7} {'driver peak MB':>15}")
    for path, extra in (("threads", []), ("spark", ["--master", "local[2]"])):
        for n in sizes:
            seconds, peak = measure(["verify", str(datasets[n]), *extra])
            print(f"{n:>7} {path:<8} {seconds:>7.1f} {peak:>15.0f}")


if __name__ == "__main__":
    main()
