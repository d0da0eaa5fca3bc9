"""Hostile inputs for a NIH-layout dataset: files and index rows, each with what must become of it.

``None`` as the expected reason means the input is odd but usable (16-bit, RGBA, CMYK): it
must be converted and written, not rejected.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Hostile:
    image_id: str             # the index's Image Index
    data: bytes | None        # the object's bytes; None: no object at all
    reason: str | None        # the reject reason it must get; None: must be written
    key: str | None = None    # object name when it differs from the id (duplicates, escapes)


def png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def jpeg(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return buf.tobytes()


def bomb_png(width: int, height: int) -> bytes:
    """A tiny valid PNG header declaring width x height (a decompression bomb's shape)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 16)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def cmyk_jpeg(img: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).convert("CMYK").save(buf, "JPEG", quality=90)
    return buf.getvalue()


def dicom_without_pixels() -> bytes:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.PatientID, ds.Modality, ds.SOPInstanceUID = "X", "CR", meta.MediaStorageSOPInstanceUID
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def hostile_set(rng: np.random.Generator, copies: int = 1, first_id: int = 90000000) -> list[Hostile]:
    """``copies`` of every hostile kind, with ids from ``first_id`` (each its own patient)."""
    made = []
    for c in range(copies):
        gray = (rng.random((240, 200)) * 255).astype(np.uint8)
        color = (rng.random((240, 200, 3)) * 255).astype(np.uint8)
        kinds = [
            (png(gray)[:400], "truncated"),
            (jpeg(gray)[:-300], "truncated"),
            (b"", "empty"),
            (b"%PDF-1.4 not a radiograph\n", "not_an_image"),
            (bomb_png(30000, 30000), "too_many_pixels"),
            (dicom_without_pixels(), "dicom_no_pixels"),
            (None, "missing"),
            (png((gray.astype(np.uint16) * 200 + 500)), None),
            (png(np.dstack([color, gray])), None),
            (cmyk_jpeg(color), None),
        ]
        for k, (data, reason) in enumerate(kinds):
            made.append(Hostile(f"{first_id + c * 100 + k:08d}_000.png", data, reason))
    return made


def index_rows(hostiles: list[Hostile], duplicate_of: list[str], escapes: int) -> tuple[list[str], dict]:
    """NIH index rows for the hostile files, plus duplicate-id and ../ rows.

    Returns:
        (rows, expected reject reason per image id of the extra rows)
    """
    rows, expected = [], {}
    for n, h in enumerate(hostiles):
        rows.append(f"{h.image_id},Mass,0,{90000000 + n},040Y,M,PA,200,240,0.143,0.143")
    for image_id in duplicate_of:
        rows.append(f"{image_id},Nodule,1,{image_id[:8].lstrip('0') or 0},041Y,M,PA,200,240,0.143,0.143")
    for e in range(escapes):
        escaped = f"../outside_{e}.png"
        rows.append(f"{escaped},Mass,0,{91000000 + e},040Y,M,PA,200,240,0.143,0.143")
        expected[escaped] = "path_escape"
    return rows, expected
