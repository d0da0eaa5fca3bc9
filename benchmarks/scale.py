"""The driver at dataset scale: wall time and peak memory of each phase of `cxrpipe run`,
`verify` and `report` on NIH-sized and CheXpert-sized synthetic datasets, and the driver's
memory per million index rows from reading and planning alone.

Images are tiny (the driver never sees pixels, so their size does not change what it holds or
does); the executors' work still scales with the count. Each case runs in a fresh process that
samples its own resident memory every 20 ms and reads the phases the job recorded
(``cxrpipe.phases``). Driver memory is the Python driver's; the JVM is a process of its own
(its peak is shown apart). The S3 case runs against moto's server on 127.0.0.1, whose own
speed bounds it: compare its shares, not its seconds, with AWS.

    .venv/bin/python benchmarks/scale.py                       # NIH and CheXpert sizes, local
    .venv/bin/python benchmarks/scale.py --cases nih-s3 --s3-rows 10000
    .venv/bin/python benchmarks/scale.py --cases planning --planning-rows 100000,400000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CXRPIPE = [sys.executable, "-m", "cxrpipe.cli"]
NIH_ROWS, CHEXPERT_ROWS = 112_120, 224_316
BUCKET = "cxrpipe-scale"

# The measured process: runs the commands in-process, samples RSS, prints one JSON line.
_MEASURED = r'''
import gc, json, os, sys, threading, time
from cxrpipe import phases
from cxrpipe.cli import main

samples, stop = [], threading.Event()
page = os.sysconf("SC_PAGE_SIZE")

def rss(pid="self"):
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * page / 2**20
    except OSError:
        return 0.0

def jvm_pids():
    me, found = str(os.getpid()), []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{entry}/comm") as f:
                    name = f.read().strip()
            except OSError:
                continue
            if fields[1] == me and name == "java":
                found.append(entry)
    return found

def sample():
    jvms, tick = [], 0
    while not stop.is_set():
        if tick % 50 == 0:
            jvms = jvm_pids()
        samples.append((time.monotonic(), rss(), sum(rss(p) for p in jvms)))
        tick += 1
        time.sleep(0.02)

threading.Thread(target=sample, daemon=True).start()
commands = json.loads(sys.argv[1])
spans = []
for name, argv in commands:
    start = time.monotonic()
    code = main(argv)
    if code != 0:
        raise SystemExit(f"{name} failed with exit {code}")
    spans.append((name, "command", start, time.monotonic()))
stop.set()
spans += [(s.name, s.where, s.start, s.end) for s in phases.recorded()]
print(json.dumps({"spans": spans, "samples": samples}))
'''


def synth(raw: Path, layout: str, rows: int, extra: list[str] = ()) -> None:
    marker = raw / ".complete"
    if marker.exists():
        return
    shutil.rmtree(raw, ignore_errors=True)
    started = time.monotonic()
    subprocess.run(CXRPIPE + ["synth", "--layout", layout, "--out", str(raw), "--n", str(rows),
                              "--image-size", "32", *extra], check=True, capture_output=True)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{time.monotonic() - started:.0f} s\n")


def run_args(layout: str, raw: str, output: str) -> list[str]:
    if layout == "nih":
        inputs = ["--dataset", "nih", "--index", f"{raw}/Data_Entry_2017.csv", "--images", f"{raw}/images"]
    else:
        inputs = ["--dataset", "chexpert", "--index", f"{raw}/CheXpert-v1.0-small/train.csv", "--images", raw]
    # One flip keeps the executors' share near a real run's per image without tripling the files.
    return ["run", *inputs, "--output", output, "--flips", "h", "--images-per-task", "2000"]


def measure(commands: list[tuple[str, list[str]]], env: dict | None = None) -> dict:
    done = subprocess.run([sys.executable, "-c", _MEASURED, json.dumps(commands)], capture_output=True,
                          text=True, env=env, cwd=REPO)
    if done.returncode != 0:
        raise SystemExit(f"measured run failed: {done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def phase_table(measured: dict) -> list[tuple[str, str, float, float, float]]:
    """(name, where, seconds, driver peak MB, JVM peak MB) per span, in order of start."""
    samples = measured["samples"]
    rows = []
    for name, where, start, end in sorted(measured["spans"], key=lambda s: (s[2], s[2] - s[3])):
        inside = [s for s in samples if start <= s[0] <= end] or [min(samples, key=lambda s: abs(s[0] - end))]
        rows.append((name, where, end - start, max(s[1] for s in inside), max(s[2] for s in inside)))
    return rows


def print_case(title: str, rows: list) -> None:
    print(f"\n## {title}")
    print(f"{'phase':<16} {'where':<8} {'seconds':>8} {'share':>6} {'driver MB':>10} {'JVM MB':>8}")
    run_total = next(r[2] for r in rows if r[0] == "run" and r[1] == "command")
    for name, where, seconds, driver, jvm in rows:
        share = f"{seconds / run_total:6.1%}" if where != "command" or name == "run" else ""
        print(f"{name:<16} {where:<8} {seconds:>8.2f} {share:>6} {driver:>10.0f} {jvm:>8.0f}")
    inside_run = [r for r in rows if r[1] == "driver"]
    driver_seconds = sum(r[2] for r in inside_run)
    print(f"driver-side phases of the run (Spark start-up apart): {driver_seconds:.2f} s = "
          f"{driver_seconds / run_total:.1%} of the run")


def local_case(root: Path, layout: str, rows: int) -> None:
    raw = root / f"raw-{layout}-{rows}"
    synth(raw, layout, rows)
    out = root / f"out-{layout}-{rows}"
    shutil.rmtree(out, ignore_errors=True)
    measured = measure([("run", run_args(layout, str(raw), str(out))),
                        ("verify", ["verify", str(out)]),
                        ("report", ["report", str(out), "--out", str(root / f"report-{layout}-{rows}")])])
    print_case(f"{layout}, {rows:,} images, local files", phase_table(measured))


def s3_case(root: Path, rows: int) -> None:
    sys.path.insert(0, str(REPO))
    from tests.conftest import free_port, stop_process, wait_for_http

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
    proc = subprocess.Popen(["timeout", "7200", server, "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "scale", "AWS_SECRET_ACCESS_KEY": "scale",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint}
    try:
        wait_for_http(endpoint + "/", 60)
        import boto3
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="scale",
                     aws_secret_access_key="scale").create_bucket(Bucket=BUCKET)
        raw, out = f"s3://{BUCKET}/raw", f"s3://{BUCKET}/out"
        started = time.monotonic()
        subprocess.run(CXRPIPE + ["synth", "--layout", "nih", "--out", raw, "--n", str(rows), "--image-size", "32"],
                       check=True, capture_output=True, env=env)
        print(f"\n(synth to S3: {time.monotonic() - started:.0f} s)")
        measured = measure([("run", run_args("nih", raw, out)), ("verify", ["verify", out]),
                            ("report", ["report", out, "--out", str(root / f"report-s3-{rows}")])], env)
        print_case(f"nih, {rows:,} images, S3 (moto server on 127.0.0.1)", phase_table(measured))
    finally:
        stop_process(proc)


_PLANNING = r'''
import gc, json, os, sys
from cxrpipe.index import READERS
from cxrpipe.preprocessing.plan import PlanOptions, build_plan
from cxrpipe.synth.layouts import NIH_HEADER, _csv, nih_plan

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

rows = int(sys.argv[1])
text = _csv(NIH_HEADER, [r.fields() for r in nih_plan(rows, 7)]).decode()
gc.collect(); before = rss()
index = READERS["nih"].read(text)
plan = build_plan(index, PlanOptions())
gc.collect(); after = rss()
print(json.dumps({"rows": rows, "held_bytes": after - before, "index_text_bytes": len(text)}))
'''


def planning_case(sizes: list[int]) -> None:
    print("\n## driver memory held by the read index and its plan")
    print(f"{'rows':>9} {'held MB':>8} {'bytes/row':>10}")
    points = []
    for rows in sizes:
        done = subprocess.run([sys.executable, "-c", _PLANNING, str(rows)], capture_output=True, text=True,
                              check=True, cwd=REPO)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        points.append((rows, result["held_bytes"]))
        print(f"{rows:>9,} {result['held_bytes'] / 2**20:>8.1f} {result['held_bytes'] / rows:>10.0f}")
    (n0, b0), (n1, b1) = points[0], points[-1]
    slope = (b1 - b0) / (n1 - n0)
    print(f"growth: {slope:.0f} bytes per row = {slope * 1e6 / 2**20:.0f} MB per million rows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="planning,nih,chexpert",
                        help="comma-separated: planning, nih, chexpert, nih-s3")
    parser.add_argument("--nih-rows", type=int, default=NIH_ROWS)
    parser.add_argument("--chexpert-rows", type=int, default=CHEXPERT_ROWS)
    parser.add_argument("--s3-rows", type=int, default=10_000)
    parser.add_argument("--planning-rows", default="100000,200000,400000")
    parser.add_argument("--out", default="/tmp/cxrpipe-scale")
    args = parser.parse_args()
    root = Path(args.out)
    root.mkdir(parents=True, exist_ok=True)
    cases = args.cases.split(",")
    if "planning" in cases:
        planning_case([int(n) for n in args.planning_rows.split(",")])
    if "nih" in cases:
        local_case(root, "nih", args.nih_rows)
    if "chexpert" in cases:
        local_case(root, "chexpert", args.chexpert_rows)
    if "nih-s3" in cases:
        s3_case(root, args.s3_rows)


if __name__ == "__main__":
    main()
