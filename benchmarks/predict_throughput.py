"""`cxrpipe predict` throughput: the Spark job (`--output`, local[C]) against a single-process
loop (`--out`, pinned to one core with taskset), in images per second per core, in one run.

On NIH-like PNGs (cxrpipe synth, --side px) through a model directory made here (`cxrpipe run`
at --size px, then one step of `train classifier` with the small backbone: throughput does not
depend on how well the model learned). Each way is timed over n1 and n2 images as separate
processes; the marginal rate (n2 - n1) / (t2 - t1) leaves out the start-up (TensorFlow's import,
Spark's JVM, the model's load) that the total rate n2 / t2 includes. Prints a table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CXRPIPE = [sys.executable, "-m", "cxrpipe.cli"]


def cxrpipe(*args: str, pin: bool = False) -> float:
    """Run one cxrpipe command; its wall time in seconds (fails loudly on a non-zero exit)."""
    command = (["taskset", "-c", "0"] if pin else []) + CXRPIPE + list(args)
    started = time.monotonic()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYSPARK_PYTHON": sys.executable})
    return time.monotonic() - started


def make_model(base: Path, n: int, side: int, size: int) -> tuple[Path, Path]:
    """(raw images folder, model directory)."""
    raw, shards, model = base / "raw", base / "shards", base / "model"
    cxrpipe("synth", "--layout", "nih", "--out", str(raw), "--n", str(n), "--image-size", str(side))
    cxrpipe("run", "--dataset", "nih", "--index", str(raw / "Data_Entry_2017.csv"), "--images",
            str(raw / "images"), "--output", str(shards), "--size", str(size), "--flips", "none",
            "--num-shards", "1")
    cxrpipe("train", "classifier", "--dataset", str(shards), "--out", str(model), "--backbone", "small",
            "--no-autoencoders", "--image-size", str(size), "--epochs", "1", "--steps-per-epoch", "1",
            "--progress", "none")
    return raw / "images", model


def subset(images: Path, base: Path, n: int) -> Path:
    folder = base / f"inputs-{n}"
    folder.mkdir()
    for path in sorted(images.iterdir())[:n]:
        os.symlink(path, folder / path.name)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n1", type=int, default=100)
    parser.add_argument("--n2", type=int, default=400)
    parser.add_argument("--side", type=int, default=1024, help="source side in pixels")
    parser.add_argument("--size", type=int, default=128, help="stored JPEG and model input side")
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="cxrpipe-predict-bench-"))
    try:
        images, model = make_model(base, args.n2, args.side, args.size)
        folders = {n: subset(images, base, n) for n in (args.n1, args.n2)}
        times = {}
        for n, folder in folders.items():
            times["loop", n] = cxrpipe("predict", "--model", str(model), str(folder), "--format", "parquet",
                                       "--out", str(base / f"loop-{n}.parquet"), pin=True)
            times["spark", n] = cxrpipe("predict", "--model", str(model), str(folder), "--output",
                                        str(base / f"spark-{n}"), "--master", f"local[{args.cores}]",
                                        "--images-per-task", str(max(args.n1 // args.cores, 1)))
        print(f"{args.side}px sources -> {args.size}px, small backbone, {args.cores} cores for Spark\n")
        print(f"{'way':<22}{'cores':>6}{'t(n1) s':>9}{'t(n2) s':>9}{'img/s':>8}{'marginal':>10}{'/core':>8}")
        for way, cores in (("loop (1 process)", 1), (f"spark local[{args.cores}]", args.cores)):
            key = "loop" if cores == 1 else "spark"
            t1, t2 = times[key, args.n1], times[key, args.n2]
            marginal = (args.n2 - args.n1) / (t2 - t1)
            print(f"{way:<22}{cores:>6}{t1:>9.1f}{t2:>9.1f}{args.n2 / t2:>8.1f}{marginal:>10.1f}"
                  f"{marginal / cores:>8.1f}")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
