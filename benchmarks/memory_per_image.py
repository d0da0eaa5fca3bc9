"""Peak memory of rendering one image at the default --max-pixels, per source format.

The inputs are built first, in files; each case then runs in a fresh Python process: peak
resident memory (ru_maxrss) after `render` minus the same process's peak after importing
everything and reading the file. Prints MB.

    .venv/bin/python benchmarks/memory_per_image.py [--pixels 50000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

MAKE = r"""
import io, math, sys
import cv2, numpy as np
kind, pixels, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
side = int(math.isqrt(pixels))
rng = np.random.default_rng(0)
img = cv2.GaussianBlur((rng.random((side, side)) * 255).astype(np.uint8), (0, 0), 3)
if kind == "png8":
    data = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 1])[1].tobytes()
elif kind == "png16":
    data = cv2.imencode(".png", img.astype(np.uint16) * 257, [cv2.IMWRITE_PNG_COMPRESSION, 1])[1].tobytes()
elif kind == "jpeg":
    data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
else:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid
    ds = Dataset(); ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.Rows = ds.Columns = side; ds.BitsAllocated = 16; ds.BitsStored = 12; ds.HighBit = 11
    ds.PixelRepresentation = 0; ds.SamplesPerPixel = 1; ds.PhotometricInterpretation = "MONOCHROME1"
    ds.WindowCenter, ds.WindowWidth = 2048, 4096
    ds.PixelData = (img.astype(np.uint16) * 16).tobytes()
    buffer = io.BytesIO(); ds.save_as(buffer, enforce_file_format=True); data = buffer.getvalue()
open(path, "wb").write(data)
"""

CASE = r"""
import json, resource, sys
from cxrpipe.imageops import RenderParams, render
data = open(sys.argv[1], "rb").read()
import pydicom.pixels  # imported lazily by the DICOM path: not counted as image memory
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
render(data, RenderParams())
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"file_mb": len(data) / 1e6, "render_peak_mb": after - before}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pixels", type=int, default=50_000_000)
    args = parser.parse_args()
    print(f"{args.pixels:,} pixels per image")
    print(f"{'source':<8} {'file MB':>8} {'peak MB over baseline':>22}")
    with tempfile.TemporaryDirectory() as folder:
        for kind in ("png8", "png16", "jpeg", "dicom16"):
            path = f"{folder}/{kind}"
            subprocess.run([sys.executable, "-c", MAKE, kind, str(args.pixels), path], check=True)
            out = subprocess.run([sys.executable, "-c", CASE, path], capture_output=True, text=True,
                                 check=True).stdout
            row = json.loads(out.strip().splitlines()[-1])
            print(f"{kind:<8} {row['file_mb']:>8.1f} {row['render_peak_mb']:>22.0f}")


if __name__ == "__main__":
    main()
