"""Images per second per core of `cxrpipe run` on local Spark, for sizing an EMR cluster.

Times the whole command (JVM and Spark start-up included) on a synthetic NIH set at two dataset
sizes and for each core count, then separates Spark's fixed start-up cost from the marginal
cost per image: marginal rate = (n2 - n1) / (t2 - t1). Each point is the fastest of --repeats
runs (after one warm-up run), because a shared machine only ever adds time. Outputs are written
to local disk, so the figures are compute only (no S3 transfer).

Wall time on a busy machine says more about the neighbours than about cxrpipe, so the CPU time
of the whole process tree (JVM, driver, Python workers) is measured too, by reading
/proc/PID/stat of every descendant every 0.1 s (this process becomes a child subreaper, so
orphaned workers stay in its tree). Marginal CPU seconds per image is the figure to size a
cluster with (cores x seconds).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


PR_SET_CHILD_SUBREAPER = 36
TICKS = os.sysconf("SC_CLK_TCK")
# Long-lived children (an S3 server) that a measured command's tree neither includes nor waits for.
OUTSIDE: set[int] = set()


def become_subreaper() -> None:
    """Orphaned descendants (the JVM, Spark's Python daemon and workers) are re-parented here
    instead of to init, so they stay in this process's tree (Linux only)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _stat(pid: str) -> tuple[int, str, float] | None:
    """(parent pid, start time, CPU seconds) of a process, or None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), fields[19], (int(fields[11]) + int(fields[12])) / TICKS


def _outside(pid: int, parents: dict) -> bool:
    while pid in parents:
        if pid in OUTSIDE:
            return True
        pid = parents[pid]
    return False


def _measured_children() -> bool:
    me = os.getpid()
    return any(st[0] == me and int(pid) not in OUTSIDE
               for pid in os.listdir("/proc") if pid.isdigit() and (st := _stat(pid)))


def tree_cpu(seen: dict) -> None:
    """Record the CPU seconds so far of every descendant of this process into ``seen``."""
    stats = {pid: st for pid in os.listdir("/proc") if pid.isdigit() and (st := _stat(pid))}
    me, parents = os.getpid(), {int(pid): st[0] for pid, st in stats.items()}
    for pid, (ppid, start, cpu) in stats.items():
        p = int(pid)
        while p in parents and p != me:
            p = parents[p]
        if p == me and int(pid) != me and not _outside(int(pid), parents):
            seen[(pid, start)] = cpu


def cxrpipe(*args: str) -> tuple[float, float, str]:
    """Run one `cxrpipe` command in a fresh process tree; returns its wall and CPU seconds and its output."""
    return tree_run([sys.executable, "-m", "cxrpipe.cli", *args])


def tree_run(cmd: list[str]) -> tuple[float, float, str]:
    """Run a command in a fresh process tree; returns its wall and CPU seconds and its output."""
    seen: dict = {}
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYSPARK_PYTHON": sys.executable})
    output = threading.Thread(target=lambda: setattr(proc, "captured", proc.communicate()))
    output.start()
    while output.is_alive():
        tree_cpu(seen)
        time.sleep(0.1)
    wall = time.monotonic() - started
    while True:  # reap the orphans, measuring them until they are gone
        tree_cpu(seen)
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                if not _measured_children():
                    break
                time.sleep(0.1)
        except ChildProcessError:
            break
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, proc.args, *proc.captured)
    return wall, sum(seen.values()), proc.captured[0]


def synthesize(work: Path, n: int, image_size: int) -> Path:
    raw = work / f"raw-{n}"
    cxrpipe("synth", "--layout", "nih", "--out", str(raw), "--n", str(n), "--image-size", str(image_size))
    return raw


def time_run(raw: Path, out: Path, cores: int) -> tuple[float, float, float]:
    """(wall seconds, the job's own seconds as its summary prints them, CPU seconds) of one fresh run."""
    shutil.rmtree(out, ignore_errors=True)
    wall, cpu, printed = cxrpipe("run", "--dataset", "nih", "--index", str(raw / "Data_Entry_2017.csv"),
                            "--images", str(raw / "images"), "--output", str(out), "--master", f"local[{cores}]")
    job = float(re.search(r"in ([\d,.]+) s wall time", printed).group(1).replace(",", ""))
    return wall, job, cpu


def fastest(raw: Path, out: Path, cores: int, repeats: int) -> tuple[float, float, float]:
    runs = [time_run(raw, out, cores) for _ in range(repeats)]
    return tuple(min(r[i] for r in runs) for i in range(3))


def core_loop(raw: Path, out: Path) -> tuple[int, float, float]:
    """(images, CPU seconds, wall seconds) of the preprocessing work in this one process, no Spark.

    The per-image cost without any scheduler; CPU time (this process and its I/O threads) does
    not grow when other programs compete for the cores, so it is the steadiest figure here.
    """
    from cxrpipe.cli import build_parser
    from cxrpipe.cli.data import preprocess_job
    from cxrpipe.spark.preprocess import plan_preprocess
    from cxrpipe.preprocessing.task import JobContext, run_task

    shutil.rmtree(out, ignore_errors=True)
    args = build_parser().parse_args(["preprocess", "--dataset", "nih", "--index", str(raw / "Data_Entry_2017.csv"),
                                      "--images", str(raw / "images"), "--output", str(out)])
    job = preprocess_job(args)
    plan = plan_preprocess(job)
    ctx = JobContext(job.images_uri, job.output_uri, job.storage, job.render, plan.classes, job.augment_splits)
    cpu, wall = time.process_time(), time.monotonic()
    for number, items in enumerate(plan.tasks):
        run_task(number, items, ctx)
    return plan.inputs, time.process_time() - cpu, time.monotonic() - wall


def fit(n1: int, t1: float, n2: int, t2: float) -> tuple[float, float]:
    """(fixed seconds, marginal images/second) of the line through (n1, t1) and (n2, t2)."""
    rate = (n2 - n1) / (t2 - t1)
    return t1 - n1 / rate, rate


def measure(raws: dict[int, Path], work: Path, cores: int, repeats: int) -> dict:
    """The fitted fixed cost and marginal rate, by wall, job and CPU time, for ``local[cores]``."""
    (n1, raw1), (n2, raw2) = sorted(raws.items())
    (t1, j1, c1), (t2, j2, c2) = (fastest(raw, work / f"out-{cores}-{n}", cores, repeats)
                                  for n, raw in ((n1, raw1), (n2, raw2)))
    fixed, rate = fit(n1, t1, n2, t2)
    job_fixed, job_rate = fit(n1, j1, n2, j2)
    cpu_fixed, cpu_rate = fit(n1, c1, n2, c2)
    return {"t_small": t1, "t_large": t2, "fixed_s": fixed, "images_per_s": rate,
            "images_per_s_per_core": rate / cores, "job_s_small": j1, "job_s_large": j2,
            "job_fixed_s": job_fixed, "job_images_per_s": job_rate, "cpu_s_small": c1,
            "cpu_s_large": c2, "cpu_fixed_s": cpu_fixed, "images_per_cpu_s": cpu_rate}


def report(results: dict, sizes: tuple[int, int], image_size: int, repeats: int, loop: tuple) -> None:
    n1, n2 = sizes
    images, cpu, loop_wall = loop
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"cxrpipe run, NIH layout, {image_size}x{image_size} PNG -> 299 JPEGs (default flips) + TFRecords")
    print(f"fastest of {repeats} runs per point; 'job' = the time the run's own summary reports")
    print(f"{'master':<10}{f't({n1}) s':>10}{f't({n2}) s':>10}{'fixed s':>10}{'img/s':>10}{'img/s/core':>12}"
          f"{'job fixed s':>13}{'job img/s':>11}{f'cpu({n1}) s':>12}{f'cpu({n2}) s':>12}{'img/cpu-s':>11}")
    for c, r in results.items():
        print(f"{f'local[{c}]':<10}{r['t_small']:>10.1f}{r['t_large']:>10.1f}{r['fixed_s']:>10.1f}"
              f"{r['images_per_s']:>10.2f}{r['images_per_s_per_core']:>12.2f}"
              f"{r['job_fixed_s']:>13.1f}{r['job_images_per_s']:>11.2f}"
              f"{r['cpu_s_small']:>12.1f}{r['cpu_s_large']:>12.1f}{r['images_per_cpu_s']:>11.2f}")
    print(f"single-process loop, no Spark (preprocess only, {images} images): {images / cpu:.1f} images per "
          f"CPU-second, {images / loop_wall:.1f} images/s wall")
    for c in (c for c in results if c != 1 and 1 in results):
        print(f"speed-up local[{c}] / local[1]: {results[c]['images_per_s'] / results[1]['images_per_s']:.2f}")
    print(json.dumps({"sizes": [n1, n2], "image_size": image_size, "results": results,
                      "core_loop": {"images": images, "cpu_s": cpu, "wall_s": loop_wall}}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="150,400", help="two dataset sizes (images)")
    parser.add_argument("--cores", default="1,2", help="local[N] core counts to time")
    parser.add_argument("--image-size", type=int, default=1024, help="side of the synthetic PNGs (NIH: 1024)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per point; the fastest counts")
    parser.add_argument("--work", default=None, help="working folder (default: a temporary one)")
    args = parser.parse_args(argv)
    sizes = tuple(sorted(int(s) for s in args.sizes.split(",")))
    cores = [int(c) for c in args.cores.split(",")]
    work = Path(args.work or tempfile.mkdtemp(prefix="cxrpipe-bench-"))
    become_subreaper()
    raws = {n: synthesize(work, n, args.image_size) for n in sizes}
    time_run(raws[sizes[0]], work / "warm-up", max(cores))  # page cache, JIT, imports: not what we measure
    loop = core_loop(raws[sizes[1]], work / "core-loop")
    results = {c: measure(raws, work, c, args.repeats) for c in cores}
    report(results, sizes, args.image_size, args.repeats, loop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
