"""Per-image cost of each stage of cxrpipe's image work, and of the codec floor, on one thread.

Sources: NIH-like 1024×1024 8-bit PNGs and CheXpert-like JPEGs (small, about 320×390, and
original-size 2320×2828) drawn by cxrpipe.synth, and the real DICOM chest CR that pydicom-data
ships (RG1_UNCR.dcm, 1955×1841, 16-bit). Each figure is the median of --repeats timings after
one warm-up, with cv2.setNumThreads(1) as in a Spark task.

The codec floor is what no implementation can avoid: decode the source once and encode each
output JPEG. It is printed for one encode and for the four versions of a training image.

Also printed: how far the speed options move pixels. Mean absolute difference (gray levels) of
the 299×299 base image (before JPEG) against the reference pipeline (decode, one INTER_AREA
resize, then CLAHE), for --resize fast and --reduced-decode.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import statistics
import sys
import time

import cv2
import numpy as np

from cxrpipe import features
from cxrpipe.imageops import (FLIPS, RenderParams, clahe, decode_gray8, encode_jpeg, render,
                              resize_area)
from cxrpipe.decode import decode_with_header
from cxrpipe.synth import render_phantom
from cxrpipe.tfrecord import frame

SIZE = 299
LIMIT = 50_000_000


def sources(seed: int) -> dict[str, bytes]:
    """name -> file bytes of one image of each kind."""
    rng = np.random.default_rng(seed)
    nih = render_phantom(rng, (1024, 1024), ())
    small = render_phantom(rng, (390, 320), ())
    large = render_phantom(rng, (2828, 2320), ())
    out = {
        "NIH PNG 1024x1024": cv2.imencode(".png", nih)[1].tobytes(),
        "CheXpert-small JPEG 320x390": cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes(),
        "CheXpert JPEG 2320x2828": cv2.imencode(".jpg", large, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes(),
    }
    try:
        from pydicom.data import get_testdata_file
        with open(get_testdata_file("RG1_UNCR.dcm"), "rb") as f:
            out["DICOM CR 1955x1841 (real)"] = f.read()
    except Exception as exc:  # pydicom-data missing: the rest still runs
        print(f"# no DICOM: {exc}", file=sys.stderr)
    return out


def median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


def example_of(jpeg: bytes) -> bytes:
    return frame(features.build_example(
        14, encoded=jpeg, height=SIZE, width=SIZE, id="00000001_000.png", patient_id="1",
        split="train", partition="Effusion", augmentation="none", class_label=[3],
        class_text=["Effusion"], class_multi_hot=[0, 0, 0, 1] + [0] * 10, class_uncertain=[0] * 14,
        primary=1, source="nih", view="PA"))


def stage_costs(data: bytes, repeats: int) -> dict[str, float]:
    gray = decode_gray8(data, LIMIT)
    small = resize_area(gray, SIZE)
    base = clahe(small)
    jpeg = encode_jpeg(base)
    costs = {
        "decode": median_ms(lambda: decode_gray8(data, LIMIT), repeats),
        "resize exact": median_ms(lambda: resize_area(gray, SIZE), repeats),
        "resize fast": median_ms(lambda: resize_area(gray, SIZE, "fast"), repeats),
        "CLAHE at 299": median_ms(lambda: clahe(small), repeats),
        "CLAHE at source": median_ms(lambda: clahe(gray), repeats),
        "3 flips": median_ms(lambda: [f(base) for f in FLIPS.values()], repeats),
        "1 JPEG encode": median_ms(lambda: encode_jpeg(base), repeats),
        "sha256 + Example + framing": median_ms(
            lambda: (hashlib.sha256(jpeg).hexdigest(), example_of(jpeg)), repeats),
        "render (default)": median_ms(lambda: render(data, RenderParams()), repeats),
        "render --resize fast": median_ms(lambda: render(data, RenderParams(resize="fast")), repeats),
    }
    if data[:2] == b"\xff\xd8":
        costs["decode reduced"] = median_ms(lambda: decode_with_header(data, LIMIT, SIZE), repeats)
        costs["render --reduced-decode"] = median_ms(
            lambda: render(data, RenderParams(reduced_decode=True)), repeats)
        costs["render --reduced-decode --clahe-at source"] = median_ms(
            lambda: render(data, RenderParams(reduced_decode=True, clahe_at="source")), repeats)
        costs["render --clahe-at source"] = median_ms(
            lambda: render(data, RenderParams(clahe_at="source")), repeats)
    costs["floor, 1 encode"] = costs["decode"] + costs["1 JPEG encode"]
    costs["floor, 4 encodes"] = costs["decode"] + 4 * costs["1 JPEG encode"]
    return costs


def base_image(data: bytes, resize: str = "exact", reduced: bool = False, at: str = "output") -> np.ndarray:
    gray = decode_with_header(data, LIMIT, SIZE if reduced else None)[3]
    if at == "source":
        return resize_area(clahe(gray), SIZE, resize)
    return clahe(resize_area(gray, SIZE, resize))


def mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b).mean())


def pixel_differences(seeds: int) -> list[tuple[str, str, float, float]]:
    """(source kind, option, mean MAD, worst MAD) over `seeds` phantoms (and the one DICOM)."""
    rows: dict[tuple[str, str], list[float]] = {}
    for seed in range(seeds):
        for name, data in sources(1000 + seed).items():
            if seed and name.startswith("DICOM"):
                continue
            ref = base_image(data)
            options = {"--resize fast": base_image(data, "fast")}
            if data[:2] == b"\xff\xd8":
                options["--reduced-decode"] = base_image(data, reduced=True)
                options["--reduced-decode --resize fast"] = base_image(data, "fast", True)
                options["--reduced-decode --clahe-at source (vs --clahe-at source)"] = mad(
                    base_image(data, reduced=True, at="source"), base_image(data, at="source"))
            for option, img in options.items():
                value = img if isinstance(img, float) else mad(img, ref)
                rows.setdefault((name, option), []).append(value)
    return [(n, o, statistics.mean(v), max(v)) for (n, o), v in rows.items()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15, help="timings per stage; the median counts")
    parser.add_argument("--seeds", type=int, default=5, help="phantoms per kind for the pixel differences")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"OpenCV {cv2.__version__}, one OpenCV thread; median of {args.repeats} runs, ms per image")
    table = {name: stage_costs(data, args.repeats) for name, data in sources(0).items()}
    stages = list(dict.fromkeys(s for costs in table.values() for s in costs))
    names = list(table)
    print(f"{'stage':<44}" + "".join(f"{n[:26]:>28}" for n in names))
    for stage in stages:
        print(f"{stage:<44}" + "".join(
            f"{table[n][stage]:>28.2f}" if stage in table[n] else f"{'-':>28}" for n in names))
    for n in names:
        c = table[n]
        print(f"{n}: render(default) / floor(4 encodes) = {c['render (default)'] / c['floor, 4 encodes']:.2f}; "
              f"floor rate / render rate = {c['floor, 4 encodes'] / c['render (default)']:.2f}")
    print(f"\npixel difference of the 299x299 base image vs the reference (decode, INTER_AREA, CLAHE), "
          f"gray levels; {args.seeds} phantoms per kind")
    print(f"{'source':<30}{'option':<62}{'mean MAD':>10}{'worst MAD':>11}")
    for name, option, mean, worst in pixel_differences(args.seeds):
        print(f"{name:<30}{option:<62}{mean:>10.2f}{worst:>11.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
