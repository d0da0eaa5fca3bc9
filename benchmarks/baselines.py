"""End-to-end `cxrpipe run` throughput against the codec floor and two baselines, in one run.

On NIH-like 1024×1024 PNGs (cxrpipe synth), every image written in all four versions
(`--augment-splits train,val,test`, so every figure below does the same work per image):

- codec floor: one process, one thread, only `cv2.imdecode` of each source and `cv2.imencode`
  of its four 299×299 versions are timed (CPU time);
- Pillow loop: a straightforward single process: Pillow decode, convert L, BOX resize, CLAHE
  (OpenCV's: Pillow has none), Pillow flips and JPEG encode, files written, one TFRecord file;
- collect on driver: Spark's binaryFile source collected to the driver, rendered there by
  cxrpipe's own `render`, written from the driver (what DESIGN.md forbids, for comparison);
- `cxrpipe run` on local Spark, outputs to local files and, with the inputs, to an S3 server
  (moto, started here on 127.0.0.1 and stopped by PID), for each core count.

With --kinds cr,dicom,jpeg (any of them; nih is the above): `cxrpipe run --dataset folders` over
copies of the real DICOM CR (RG1_UNCR.dcm), synthetic MIMIC-CXR-sized DICOMs (2500×3000, 12
bits stored) or original-size CheXpert-like JPEGs (2320×2828), against each kind's floor in
the same run: for DICOM pydicom's read, cxrpipe's uint8 table and lookup, resize, CLAHE and the
four encodes; for the JPEGs the decode at the default decode's scale and the four encodes.

Spark runs are timed at two dataset sizes; marginal rate = (n2 - n1) / (t2 - t1) separates
Spark's start-up. Each populated (split, class) partition adds a shard-writing task with a fixed
cost, and small datasets leave some of NIH's 45 partitions empty, so sizes under 300 count
some of that fixed cost as per-image cost: the defaults, 300 and 700 images (about 41 and 44
partitions), take about 8 minutes with the S3 runs. CPU time of the whole process tree (JVM, driver, Python workers) is read from
/proc; the S3 server's own CPU is measured apart and reported, not counted in cxrpipe's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from io import BytesIO
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import run_throughput  # noqa: E402
from run_throughput import _stat, become_subreaper, cxrpipe, fit, tree_run  # noqa: E402
from stages import example_of, mimic_dicom  # noqa: E402

ALL_SPLITS = ("--augment-splits", "train,val,test")
VERSIONS = 4


def synthesize(out: str, n: int, extra: tuple = ()) -> None:
    cxrpipe("synth", "--layout", "nih", "--out", out, "--n", str(n), *extra)


def image_paths(raw: Path) -> list[Path]:
    return sorted((raw / "images").rglob("*.png"))


def codec_floor(paths: list[Path]) -> float:
    """CPU seconds per image of decoding each source and encoding its four versions."""
    from cxrpipe.imageops import RenderParams, render
    total = 0.0
    for path in paths:
        data = path.read_bytes()
        bases = [cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_UNCHANGED)
                 for _, jpeg in render(data, RenderParams()).versions]
        started = time.process_time()
        cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        for img in bases:
            cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])
        total += time.process_time() - started
    return total / len(paths)


def pillow_loop(paths: list[Path], out: Path) -> tuple[float, float]:
    """(CPU, wall) seconds per image of the straightforward Pillow pipeline."""
    from PIL import Image
    from cxrpipe.tfrecord import RecordWriter
    transposes = {"hflip": Image.Transpose.FLIP_LEFT_RIGHT, "vflip": Image.Transpose.FLIP_TOP_BOTTOM,
                  "hvflip": Image.Transpose.ROTATE_180}
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    equalize = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply
    cpu, wall = time.process_time(), time.monotonic()
    with open(out / "pillow.tfrecord", "wb") as sink:
        writer = RecordWriter(sink)
        for path in paths:
            img = Image.open(path).convert("L").resize((299, 299), Image.Resampling.BOX)
            base = Image.fromarray(equalize(np.asarray(img)))
            versions = {"none": base, **{k: base.transpose(t) for k, t in transposes.items()}}
            for name, version in versions.items():
                buffer = BytesIO()
                version.save(buffer, "JPEG", quality=95)
                (out / f"{path.stem}_{name}.jpg").write_bytes(buffer.getvalue())
                writer.write(example_of(buffer.getvalue())[12:-4])  # the Example inside the frame
    return (time.process_time() - cpu) / len(paths), (time.monotonic() - wall) / len(paths)


def collect_on_driver(images: str, out: str, cores: int) -> None:
    """The anti-pattern, run in its own process: every image's bytes collected to the driver."""
    from cxrpipe.imageops import RenderParams, render
    from cxrpipe.spark.session import spark_session
    from cxrpipe.tfrecord import RecordWriter
    spark = spark_session(f"local[{cores}]")
    rows = spark.read.format("binaryFile").load(images).select("path", "content").collect()
    Path(out).mkdir(parents=True, exist_ok=True)
    with open(Path(out) / "driver.tfrecord", "wb") as sink:
        writer = RecordWriter(sink)
        for row in rows:
            stem = Path(row.path).stem
            for name, jpeg in render(bytes(row.content), RenderParams()).versions:
                (Path(out) / f"{stem}_{name}.jpg").write_bytes(jpeg)
                writer.write(example_of(jpeg)[12:-4])
    print(f"collected {len(rows)} images in 0.0 s wall time")  # parsed like cxrpipe's summary
    spark.stop()


class MotoServer:
    """An S3 server on 127.0.0.1 in its own process, stopped by PID."""

    def __init__(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        moto = Path(sys.executable).with_name("moto_server")
        self.proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        run_throughput.OUTSIDE.add(self.proc.pid)  # its CPU is measured apart
        self.url = f"http://127.0.0.1:{self.port}"
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("moto_server did not start")

    def cpu(self) -> float:
        return _stat(str(self.proc.pid))[2]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def timed(args: list[str], moto: MotoServer | None) -> dict:
    """One fresh command: wall, CPU of cxrpipe's tree (the S3 server is not in it: its CPU is
    measured apart), peak worker MB."""
    before = moto.cpu() if moto else 0.0
    wall, cpu, printed = cxrpipe(*args)
    server = (moto.cpu() - before) if moto else 0.0
    peak = re.search(r"peak Python worker memory ([\d,]+) MB", printed)
    return {"wall": wall, "cpu": cpu, "server_cpu": server,
            "peak_mb": float(peak.group(1).replace(",", "")) if peak else None}


def run_args(where: dict, n: int, cores: int) -> list[str]:
    return ["run", "--dataset", "nih", "--index", f"{where['raw'][n]}/Data_Entry_2017.csv",
            "--images", f"{where['raw'][n]}/images", "--output", f"{where['out']}-{cores}-{n}",
            "--master", f"local[{cores}]", *ALL_SPLITS, *where["extra"]]


def marginal(points: dict[int, dict], key: str) -> float:
    """Marginal seconds per image of `key` between the two sizes."""
    (n1, a), (n2, b) = sorted(points.items())
    return (b[key] - a[key]) / (n2 - n1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="300,700", help="two dataset sizes (images)")
    parser.add_argument("--cores", default="1,2", help="local[N] core counts")
    parser.add_argument("--repeats", type=int, default=1, help="runs per Spark point; the fastest counts")
    parser.add_argument("--no-s3", action="store_true", help="skip the runs against the S3 server")
    parser.add_argument("--work", default=None, help="working folder (default: a temporary one)")
    parser.add_argument("--kinds", default="nih",
                        help="comma list of sources: nih (the baselines above), cr, dicom, jpeg")
    parser.add_argument("--large-sizes", default="40,120", help="two dataset sizes for cr, dicom, jpeg")
    parser.add_argument("--collect-driver", nargs=3, metavar=("IMAGES", "OUT", "CORES"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.collect_driver:
        images, out, cores = args.collect_driver
        collect_on_driver(images, out, int(cores))
        return 0
    cv2.setNumThreads(1)
    become_subreaper()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    cores = [int(c) for c in args.cores.split(",")]
    work = Path(args.work or tempfile.mkdtemp(prefix="cxrpipe-baselines-"))
    kinds = args.kinds.split(",")
    for kind in kinds:
        if kind in LARGE_KINDS:
            large_kind(kind, sorted(int(n) for n in args.large_sizes.split(",")), cores, work, args.repeats)
    if "nih" not in kinds:
        return 0
    local = {"raw": {n: str(work / f"raw-{n}") for n in sizes}, "out": str(work / "out"), "extra": ()}
    for n in sizes:
        synthesize(local["raw"][n], n)
    paths = image_paths(Path(local["raw"][sizes[-1]]))
    floor = codec_floor(paths)
    pillow_cpu, pillow_wall = pillow_loop(paths, work / "pillow")
    cxrpipe(*run_args(local, sizes[0], max(cores)))  # warm-up: page cache, imports

    def best(where, n, c, moto=None):
        runs = []
        for _ in range(args.repeats):
            shutil.rmtree(f"{where['out']}-{c}-{n}", ignore_errors=True)
            runs.append(timed(run_args(where, n, c), moto))
        return min(runs, key=lambda r: r["wall"])

    results = {"local": {c: {n: best(local, n, c) for n in sizes} for c in cores}}
    driver = {}
    for n in sizes:
        out = work / f"driver-{n}"
        shutil.rmtree(out, ignore_errors=True)
        try:
            wall, cpu, _ = cxrpipe_self("--collect-driver", f"{local['raw'][n]}/images", str(out), str(max(cores)))
        except subprocess.CalledProcessError as exc:  # the driver's memory is the approach's limit
            errors = [line for line in exc.stderr.splitlines() if "Error" in line or "Exception" in line]
            print(f"collect on driver failed at {n} images: {errors[-1] if errors else exc}", file=sys.stderr)
            wall = cpu = float("nan")
        driver[n] = {"wall": wall, "cpu": cpu}
    if not args.no_s3:
        results["s3"] = s3_runs(sizes, cores, best)
    report(sizes, cores, floor, (pillow_cpu, pillow_wall), driver, results)
    return 0


LARGE_KINDS = {"cr": "DICOM CR 1955x1841 (real)", "dicom": "DICOM 2500x3000 (synthetic, 12-bit)",
               "jpeg": "JPEG 2320x2828 (CheXpert original size)"}


def large_pool(kind: str, count: int = 4) -> list[tuple[str, bytes]]:
    """(extension, bytes) of a few distinct source files of one kind."""
    from cxrpipe.synth import render_phantom
    rng = np.random.default_rng(7)
    if kind == "cr":
        from pydicom.data import get_testdata_file
        return [(".dcm", Path(get_testdata_file("RG1_UNCR.dcm")).read_bytes())]
    if kind == "dicom":
        return [(".dcm", mimic_dicom(rng)) for _ in range(count)]
    return [(".jpg", cv2.imencode(".jpg", render_phantom(rng, (2828, 2320), ()),
                                  [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()) for _ in range(count)]


def write_folders(root: Path, pool: list[tuple[str, bytes]], n: int) -> None:
    """n files under root/train/NORMAL, the pool's files in turn (the work per image is the same)."""
    folder = root / "train" / "NORMAL"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        ext, data = pool[i % len(pool)]
        (folder / f"img{i:05d}{ext}").write_bytes(data)


def large_floor(pool: list[tuple[str, bytes]], repeats: int = 5) -> float:
    """CPU seconds per image of the kind's floor (see the module's docstring)."""
    from cxrpipe.imageops import AUTO_REDUCE_MARGIN, clahe, encode_jpeg, resize_area
    from cxrpipe.decode import decode_with_header
    reads = {2: cv2.IMREAD_REDUCED_GRAYSCALE_2, 4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
             8: cv2.IMREAD_REDUCED_GRAYSCALE_8}
    total = 0.0
    for _ in range(repeats):
        for ext, data in pool:
            if ext == ".dcm":
                started = time.process_time()
                base = clahe(resize_area(dicom_table_decode(data), 299))
            else:
                _, width, _, gray = decode_with_header(data, 10**9, 299 * AUTO_REDUCE_MARGIN)
                base = clahe(resize_area(gray, 299))
                started = time.process_time()
                cv2.imdecode(np.frombuffer(data, np.uint8), reads.get(width // gray.shape[1], cv2.IMREAD_GRAYSCALE))
            for img in (base, base[:, ::-1], base[::-1], base[::-1, ::-1]):
                encode_jpeg(np.ascontiguousarray(img))
            total += time.process_time() - started
    return total / (repeats * len(pool))


def dicom_table_decode(data: bytes) -> np.ndarray:
    import pydicom
    from pydicom.pixels import pixel_array
    from cxrpipe import dicom
    ds = pydicom.dcmread(BytesIO(data))
    pixels = pixel_array(ds, index=0)
    return dicom.lookup(dicom.gray8_table(ds, pixels, str(ds.PhotometricInterpretation)), pixels)


def large_kind(kind: str, sizes: list[int], cores: list[int], work: Path, repeats: int) -> None:
    """`cxrpipe run` over one kind at two sizes and each core count, against its floor."""
    pool = large_pool(kind)
    raws = {n: work / f"{kind}-raw-{n}" for n in sizes}
    for n, raw in raws.items():
        shutil.rmtree(raw, ignore_errors=True)
        write_folders(raw, pool, n)
    floor = large_floor(pool)
    print(f"{LARGE_KINDS[kind]}: floor {floor * 1e3:.1f} ms CPU/image = {1 / floor:.1f} images/s/core")
    for c in cores:
        points = {}
        for n, raw in raws.items():
            out = work / f"{kind}-out-{c}-{n}"
            runs = []
            for _ in range(repeats):
                shutil.rmtree(out, ignore_errors=True)
                runs.append(timed(["run", "--dataset", "folders", "--images", str(raw), "--output", str(out),
                                   "--master", f"local[{c}]", "--images-per-task", "16", *ALL_SPLITS], None))
            points[n] = min(runs, key=lambda r: r["wall"])
        (n1, p1), (n2, p2) = sorted(points.items())
        fixed, rate = fit(n1, p1["wall"], n2, p2["wall"])
        per_cpu = 1 / marginal(points, "cpu")
        print(f"  cxrpipe run local[{c}]: t({n1}) {p1['wall']:.1f} s, t({n2}) {p2['wall']:.1f} s, fixed "
              f"{fixed:.1f} s, marginal {rate:.1f} images/s = {rate / c:.1f} per core, {per_cpu:.1f} per "
              f"CPU-second; per core / floor = {rate / c * floor:.2f}, per CPU-second / floor = {per_cpu * floor:.2f}")


def cxrpipe_self(*args: str) -> tuple[float, float, str]:
    """Run this script in a child process, its tree's CPU measured like cxrpipe's."""
    return tree_run([sys.executable, __file__, *args])


def s3_runs(sizes, cores, best) -> dict:
    import boto3
    for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ.setdefault(key, value)
    moto = MotoServer()
    try:
        boto3.client("s3", endpoint_url=moto.url).create_bucket(Bucket="bench")
        extra = ("--s3-endpoint", moto.url)
        where = {"raw": {n: f"s3://bench/raw-{n}" for n in sizes}, "out": "s3://bench/out", "extra": extra}
        for n in sizes:
            synthesize(where["raw"][n], n, extra)
        return {c: {n: best(where, n, c, moto) for n in sizes} for c in cores}
    finally:
        moto.stop()


def report(sizes, cores, floor, pillow, driver, results) -> None:
    n1, n2 = sizes
    floor_rate = 1 / floor
    print(f"machine: {os.cpu_count()} cores; NIH-like 1024x1024 PNGs, {VERSIONS} JPEG versions per image, "
          f"TFRecords; sizes {n1} and {n2}")
    print(f"codec floor (decode + {VERSIONS} encodes, 1 thread): {floor * 1e3:.1f} ms CPU/image = "
          f"{floor_rate:.1f} images/s/core")
    print(f"Pillow loop (1 process): {pillow[0] * 1e3:.1f} ms CPU/image, {pillow[1] * 1e3:.1f} ms wall/image "
          f"= {1 / pillow[1]:.1f} images/s")
    d_wall = marginal(driver, "wall")
    print(f"collect on driver (local[{max(cores)}]): t({n1}) {driver[n1]['wall']:.1f} s, t({n2}) "
          f"{driver[n2]['wall']:.1f} s, marginal {1 / d_wall:.1f} images/s, "
          f"{1 / marginal(driver, 'cpu'):.1f} images/CPU-s")
    print(f"{'cxrpipe run':<16}{f't({n1}) s':>9}{f't({n2}) s':>9}{'fixed s':>9}{'img/s':>8}{'img/s/core':>11}"
          f"{'img/CPU-s':>10}{'vs floor':>9}{'vs Pillow':>10}{'S3 srv CPU':>11}{'peak MB':>14}")
    summary = {}
    for where, by_cores in results.items():
        for c in cores:
            p = by_cores[c]
            fixed, rate = fit(n1, p[n1]["wall"], n2, p[n2]["wall"])
            per_cpu = 1 / marginal(p, "cpu")
            server = marginal(p, "server_cpu") * rate / c if where == "s3" else 0.0
            summary[(where, c)] = rate
            print(f"{f'{where} local[{c}]':<16}{p[n1]['wall']:>9.1f}{p[n2]['wall']:>9.1f}{fixed:>9.1f}{rate:>8.1f}"
                  f"{rate / c:>11.1f}{per_cpu:>10.1f}{rate / c / floor_rate:>9.2f}{rate / c * pillow[1]:>10.2f}"
                  f"{server:>10.0%} {p[n1]['peak_mb'] or 0:>6.0f}/{p[n2]['peak_mb'] or 0:<6.0f}")
    for where in results:
        if (where, 1) in summary and (where, 2) in summary:
            print(f"{where}: local[2] / local[1] = {summary[(where, 2)] / summary[(where, 1)]:.2f}")
    print("vs floor = marginal images/s per core / floor images/s; vs Pillow = per core / Pillow loop's "
          "images/s; S3 srv CPU = the S3 server's share of the cores' time; peak MB = largest Python "
          f"worker at {n1}/{n2} images")
    print(json.dumps({"floor_s": floor, "pillow": pillow, "driver": driver,
                      "results": {w: {str(c): v for c, v in r.items()} for w, r in results.items()}}))


if __name__ == "__main__":
    sys.exit(main())
