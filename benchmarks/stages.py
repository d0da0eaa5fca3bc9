"""Per-image cost of each stage of cxrpipe's image work, and of the codec floor, on one thread.

Sources: NIH-like 1024×1024 8-bit PNGs and CheXpert-like JPEGs (small, about 320×390, and
original-size 2320×2828) drawn by cxrpipe.synth, the real DICOM chest CR that pydicom-data
ships (RG1_UNCR.dcm, 1955×1841, 16-bit, MONOCHROME1) and a synthetic MIMIC-CXR-sized DICOM
(2500×3000, 12 bits stored, windowed). Each figure is the median of --repeats timings after
one warm-up, with cv2.setNumThreads(1) as in a Spark task.

The codec floor is what no implementation can avoid: decode the source once (a large JPEG at
the scale the default decode takes; a DICOM read by pydicom and put through its uint8 table)
and encode each output JPEG. It is printed for one encode and for the four versions of a
training image; for DICOM also with the resize and CLAHE every output needs.

Also printed: how far the speed options and the default decodes move pixels. Mean absolute
difference (gray levels) of the 299×299 base image (before JPEG) against the reference
pipeline (full decode, one INTER_AREA resize, then CLAHE), and the largest pixel difference;
DICOM's table path against pydicom's float path.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import statistics
import sys
import time
from io import BytesIO

import cv2
import numpy as np

from cxrpipe import features
from cxrpipe import dicom
from cxrpipe.imageops import (AUTO_REDUCE_MARGIN, FLIPS, RenderParams, clahe, decode_gray8,
                              encode_jpeg, render, resize_area)
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
    from pydicom.data import get_testdata_file
    with open(get_testdata_file("RG1_UNCR.dcm"), "rb") as f:
        out[REAL_CR] = f.read()
    out[MIMIC_DICOM] = mimic_dicom(rng)
    return out


REAL_CR = "DICOM CR 1955x1841 (real)"
MIMIC_DICOM = "DICOM 2500x3000 (synthetic)"


def mimic_dicom(rng: np.random.Generator, width: int = 2500, height: int = 3000) -> bytes:
    """A MIMIC-CXR-sized DICOM written by pydicom: 12 bits stored, MONOCHROME2, a window."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage

    chest = render_phantom(rng, (height, width), ()).astype(np.uint16) * 16
    chest += rng.integers(0, 16, chest.shape, dtype=np.uint16)  # the 4 low bits a CR fills
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = SecondaryCaptureImageStorage, "1.2.3"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, "1.2.3"
    ds.set_pixel_data(chest, "MONOCHROME2", 12)
    ds.WindowCenter, ds.WindowWidth = 2048, 3500
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def is_dicom(name: str) -> bool:
    return name.startswith("DICOM")


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
        costs.update(jpeg_costs(data, repeats))
    if dicom.looks_like_dicom(data):
        costs.update(dicom_costs(data, repeats))
    costs["floor, 1 encode"] = costs["decode"] + costs["1 JPEG encode"]
    costs["floor, 4 encodes"] = costs["decode"] + 4 * costs["1 JPEG encode"]
    if dicom.looks_like_dicom(data):
        costs["floor + resize + CLAHE"] = (costs["floor, 4 encodes"] + costs["resize exact"]
                                           + costs["CLAHE at 299"])
    return costs


def jpeg_costs(data: bytes, repeats: int) -> dict[str, float]:
    """The decodes at full and default scale, and render under each decode option. "decode"
    is at the default's scale: the floor an implementation with that default cannot avoid."""
    return {
        "decode": median_ms(lambda: decode_with_header(data, LIMIT, SIZE * AUTO_REDUCE_MARGIN), repeats),
        "decode in full": median_ms(lambda: decode_gray8(data, LIMIT), repeats),
        "decode at the smallest scale": median_ms(lambda: decode_with_header(data, LIMIT, SIZE), repeats),
        "render --exact-decode": median_ms(lambda: render(data, RenderParams(decode="exact")), repeats),
        "render --reduced-decode": median_ms(lambda: render(data, RenderParams(decode="reduced")), repeats),
        "render --reduced-decode --clahe-at source": median_ms(
            lambda: render(data, RenderParams(decode="reduced", clahe_at="source")), repeats),
        "render --clahe-at source": median_ms(lambda: render(data, RenderParams(clahe_at="source")), repeats),
    }


def dicom_costs(data: bytes, repeats: int) -> dict[str, float]:
    """DICOM's decode in parts: pydicom's read and pixel array, the table, the lookup, and the
    float path the table replaced."""
    import pydicom
    from pydicom.pixels import pixel_array

    ds = pydicom.dcmread(BytesIO(data))
    pixels = pixel_array(ds, index=0)
    kind = str(ds.PhotometricInterpretation)
    table = dicom.gray8_table(ds, pixels, kind)
    read = median_ms(lambda: pixel_array(pydicom.dcmread(BytesIO(data)), index=0), repeats)
    build = median_ms(lambda: dicom.gray8_table(ds, pixels, kind), repeats)
    look = median_ms(lambda: dicom.lookup(table, pixels), repeats)
    return {"dcmread + pixel array": read, "table": build, "lookup": look,
            "decode": read + build + look,  # the floor's decode: no probe, no checks
            "decode (cxrpipe, all checks)": median_ms(lambda: decode_gray8(data, LIMIT), repeats),
            "decode, float path (before)": read + median_ms(
                lambda: dicom.float_gray8(ds, pixels, kind), repeats)}


def base_image(data: bytes, resize: str = "exact", reduce_to: int | None = None,
               at: str = "output") -> np.ndarray:
    gray = decode_with_header(data, LIMIT, reduce_to)[3]
    if at == "source":
        return resize_area(clahe(gray), SIZE, resize)
    return clahe(resize_area(gray, SIZE, resize))


def float_path(data: bytes) -> np.ndarray:
    import pydicom
    from pydicom.pixels import pixel_array

    ds = pydicom.dcmread(BytesIO(data))
    return dicom.float_gray8(ds, pixel_array(ds, index=0), str(ds.PhotometricInterpretation))


def compared(data: bytes) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """option -> (its image, the reference it is measured against)."""
    ref = base_image(data)
    pairs = {"--resize fast": (base_image(data, "fast"), ref)}
    if data[:2] == b"\xff\xd8":
        pairs["default decode (reduced where >= 3x the output)"] = (
            base_image(data, reduce_to=SIZE * AUTO_REDUCE_MARGIN), ref)
        pairs["--reduced-decode"] = (base_image(data, reduce_to=SIZE), ref)
        pairs["--reduced-decode --resize fast"] = (base_image(data, "fast", SIZE), ref)
        pairs["--reduced-decode --clahe-at source (vs --clahe-at source)"] = (
            base_image(data, reduce_to=SIZE, at="source"), base_image(data, at="source"))
    if dicom.looks_like_dicom(data):
        pairs["table decode vs float path (full-size gray)"] = (decode_gray8(data, LIMIT), float_path(data))
    return pairs


def pixel_differences(seeds: int) -> list[tuple[str, str, float, float, int]]:
    """(source kind, option, mean MAD, worst MAD, largest pixel difference) over `seeds`
    phantoms (the real CR once)."""
    rows: dict[tuple[str, str], list[tuple[float, int]]] = {}
    for seed in range(seeds):
        for name, data in sources(1000 + seed).items():
            if seed and name == REAL_CR:
                continue
            for option, (img, ref) in compared(data).items():
                diff = np.abs(img.astype(np.int16) - ref)
                rows.setdefault((name, option), []).append((float(diff.mean()), int(diff.max())))
    return [(n, o, statistics.mean(m for m, _ in v), max(m for m, _ in v), max(x for _, x in v))
            for (n, o), v in rows.items()]


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
        if "floor + resize + CLAHE" in c:
            print(f"{n}: render(default) / (floor + resize + CLAHE) = "
                  f"{c['render (default)'] / c['floor + resize + CLAHE']:.2f}; table decode is "
                  f"{c['decode, float path (before)'] / c['decode (cxrpipe, all checks)']:.1f}x the float path's speed")
    print(f"\npixel difference of the 299x299 base image vs the reference (full decode, INTER_AREA, CLAHE), "
          f"gray levels; {args.seeds} phantoms per kind (the real CR once)")
    print(f"{'source':<30}{'option':<62}{'mean MAD':>10}{'worst MAD':>11}{'max px':>8}")
    for name, option, mean, worst, largest in pixel_differences(args.seeds):
        print(f"{name:<30}{option:<62}{mean:>10.2f}{worst:>11.2f}{largest:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
