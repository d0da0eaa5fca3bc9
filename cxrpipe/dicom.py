"""Decode DICOM bytes into a 2-D uint8 gray array, through one lookup table per file.

For integer pixel data of 8 or 16 bits allocated, everything between the stored value and
the output gray level (modality LUT or rescale, VOI LUT or window with its function,
min-max scaling to 8 bits, MONOCHROME1 inversion) is a function of the stored value alone.
pydicom's own transforms are run once over every value the pixel type can hold (65,536 at
most) and the pixels are looked up in the resulting uint8 table: the same arithmetic as
running them over every pixel in float64, at a fraction of the cost. Float pixel data and
32-bit integers take that float path. pydicom is imported lazily so that PNG/JPEG-only
workers never pay for it.
"""

import struct
from io import BytesIO

import cv2
import numpy as np

from cxrpipe.errors import ImageRejected
from cxrpipe.gray8 import finite_bounds, nonzero_size, scale_to_uint8, to_gray, to_uint8

_MAGIC = b"DICM"
_MAGIC_OFFSET = 128  # after the 128-byte preamble (PS3.10 section 7.1)
# DICOM written without the preamble (older modalities, some PACS exports) starts with a
# little-endian tag of group 0002 (file meta) or 0008 (identification): read with force.
_BARE_STARTS = (b"\x02\x00", b"\x08\x00")

# pydicom signals a malformed file or dataset with these rather than one base class.
_PYDICOM_ERRORS = (EOFError, struct.error, ValueError, KeyError, TypeError,
                   AttributeError, NotImplementedError, RuntimeError, OverflowError)

_MONOCHROME = frozenset({"MONOCHROME1", "MONOCHROME2"})
# pydicom converts these to RGB when decoding (its default as_rgb=True).
_COLOR = frozenset({"RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420"})
# Rows per np.take call: its index temporary (8 bytes a pixel) then stays in the CPU's cache,
# which makes the lookup about twice as fast as one call over the whole image.
_TAKE_ROWS = 32


def looks_like_dicom(data: bytes) -> bool:
    """True for the DICM magic after the preamble, or a bare dataset's first tag."""
    return data[_MAGIC_OFFSET:_MAGIC_OFFSET + 4] == _MAGIC or data[:2] in _BARE_STARTS


def dicom_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the header, no pixels read.

    Raises:
        ImageRejected: ``truncated``, ``undecodable`` or ``dicom_no_pixels``.
    """
    ds = _read_dicom(data, stop_before_pixels=True)
    try:
        rows, columns = ds.get("Rows"), ds.get("Columns")
    except _PYDICOM_ERRORS as err:
        raise ImageRejected("undecodable", f"DICOM Rows/Columns unreadable: {err}") from err
    if rows is None or columns is None:
        raise ImageRejected("dicom_no_pixels", "DICOM header has no Rows/Columns")
    return nonzero_size(int(columns), int(rows), "DICOM")


def decode_dicom(data: bytes) -> np.ndarray:
    """The first frame as 2-D uint8 gray: modality LUT, VOI LUT/window, MONOCHROME1 inverted.

    Raises:
        ImageRejected: ``truncated``, ``undecodable``, ``unsupported_mode`` or
            ``dicom_no_pixels``.
    """
    ds = _read_dicom(data, stop_before_pixels=False)
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise ImageRejected("dicom_no_pixels", "DICOM dataset has no pixel data element")
    _check_decodable(ds)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    if photometric not in _MONOCHROME | _COLOR:
        raise ImageRejected("unsupported_mode", f"DICOM PhotometricInterpretation {photometric}")
    try:
        return _pixels_gray8(ds, photometric)
    except _PYDICOM_ERRORS as err:
        raise ImageRejected("undecodable", f"pydicom could not decode the pixels: {err}") from err


def _read_dicom(data: bytes, stop_before_pixels: bool):
    from pydicom import dcmread
    from pydicom.errors import BytesLengthException, InvalidDicomError

    bare = data[_MAGIC_OFFSET:_MAGIC_OFFSET + 4] != _MAGIC
    try:
        ds = dcmread(BytesIO(data), stop_before_pixels=stop_before_pixels, force=bare)
    except EOFError as err:
        raise ImageRejected("truncated", f"DICOM ends inside an element: {err}") from err
    except (InvalidDicomError, BytesLengthException, *_PYDICOM_ERRORS) as err:
        raise ImageRejected("undecodable", f"pydicom could not parse the file: {err}") from err
    if bare:
        _default_transfer_syntax(ds)
    return ds


def _default_transfer_syntax(ds) -> None:
    """A bare dataset (no file meta) is stored as pydicom read it: set that transfer syntax."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return
    implicit, little = getattr(ds, "original_encoding", (True, True))
    if meta is None:
        ds.file_meta = meta = FileMetaDataset()
    meta.TransferSyntaxUID = (ImplicitVRLittleEndian if implicit else
                              ExplicitVRLittleEndian if little else ExplicitVRBigEndian)


def _check_decodable(ds) -> None:
    from pydicom.pixels import get_decoder
    from pydicom.pixels.utils import get_expected_length

    syntax = ds.file_meta.get("TransferSyntaxUID")
    if syntax is None:
        raise ImageRejected("undecodable", "DICOM file meta has no TransferSyntaxUID")
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError as err:
        raise ImageRejected("undecodable", f"no decoder for transfer syntax {syntax.name} "
                            f"({syntax})") from err
    if not decoder.is_available:
        raise ImageRejected("undecodable", f"transfer syntax {syntax.name} ({syntax}) needs a "
                            f"plugin: {'; '.join(decoder.missing_dependencies)}")
    if not syntax.is_compressed and "PixelData" in ds:
        expected, got = get_expected_length(ds, "bytes"), len(ds.PixelData)
        if got < expected:
            raise ImageRejected("truncated", f"DICOM pixel data has {got} of {expected} bytes")


def _pixels_gray8(ds, photometric: str) -> np.ndarray:
    from pydicom.pixels import pixel_array

    pixels = pixel_array(ds, index=0)  # decodes the first frame only
    if photometric in _COLOR:
        return to_uint8(to_gray(pixels, cv2.COLOR_RGB2GRAY, cv2.COLOR_RGBA2GRAY))
    if pixels.ndim != 2:
        raise ImageRejected("unsupported_mode", f"{photometric} frame of shape {pixels.shape}")
    if table_applies(pixels.dtype):
        return lookup(gray8_table(ds, pixels, photometric), pixels)
    return float_gray8(ds, pixels, photometric)


def float_gray8(ds, pixels: np.ndarray, photometric: str) -> np.ndarray:
    """The reference path: pydicom's transforms over every pixel in float, then min-max.

    Args:
        ds: the pydicom dataset the pixels come from (its LUT, window and rescale elements).
        pixels: the 2-D stored values of one frame.
        photometric: MONOCHROME1 (inverted) or MONOCHROME2.

    Returns:
        2-D uint8 gray of the pixels' shape.
    """
    values = _transformed(ds, pixels)
    gray = scale_to_uint8(values, *finite_bounds(values))
    # MONOCHROME1 stores X-ray absorption as dark; the rest of the pipeline expects bright.
    return 255 - gray if photometric == "MONOCHROME1" else gray


def table_applies(dtype: np.dtype) -> bool:
    """True for the integer pixel types a table of at most 65,536 entries covers."""
    return dtype.kind in "ui" and dtype.itemsize <= 2


def gray8_table(ds, pixels: np.ndarray, photometric: str) -> np.ndarray:
    """The uint8 gray level of every value of the pixels' type, as ``float_gray8`` makes it.

    Args:
        ds: the pydicom dataset (LUTs, window, rescale).
        pixels: the 2-D stored values; only their type and which values occur are used.
        photometric: MONOCHROME1 (inverted) or MONOCHROME2.

    Returns:
        A 1-D uint8 table indexed by the pixels' bit pattern read as unsigned (``lookup``).
    """
    domain = _every_value(pixels.dtype)
    values = _transformed(ds, domain)
    table = scale_to_uint8(values, *finite_bounds(values[_occurring(pixels, values)]))
    return 255 - table if photometric == "MONOCHROME1" else table


def lookup(table: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """Each pixel's entry of a ``gray8_table``."""
    index = pixels.view(_unsigned(pixels.dtype))
    if index.dtype == np.uint8:
        return cv2.LUT(index, table).reshape(index.shape)
    gray = np.empty(index.shape, np.uint8)
    for row in range(0, index.shape[0], _TAKE_ROWS):
        np.take(table, index[row:row + _TAKE_ROWS], out=gray[row:row + _TAKE_ROWS])
    return gray


def _transformed(ds, stored: np.ndarray) -> np.ndarray:
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    return apply_voi_lut(apply_modality_lut(stored, ds), ds)


def _unsigned(dtype: np.dtype) -> np.dtype:
    return np.dtype(f"u{dtype.itemsize}").newbyteorder(dtype.byteorder)


def _every_value(dtype: np.dtype) -> np.ndarray:
    """Every value of an 8- or 16-bit integer type, ordered by its bit pattern as unsigned,
    so that the unsigned view of a pixel is its index (no offset for signed data)."""
    unsigned = _unsigned(dtype)
    return np.arange(2 ** (8 * dtype.itemsize), dtype=np.int64).astype(unsigned).view(dtype)


def _occurring(pixels: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Table positions whose values the min-max scaling ranges over (those that occur).

    A monotone transform takes its extremes at the smallest and largest stored value, so
    those two stand in for all present; any other (a LUT sequence may bend back) needs a
    histogram of the pixels.
    """
    size = values.size
    first, last = int(pixels.min()) % size, int(pixels.max()) % size
    # Signed values wrap in bit-pattern order: negatives sit after the positives.
    order = np.arange(first, last + 1) if first <= last else np.r_[first:size, 0:last + 1]
    steps = np.diff(values[order].astype(np.float64))  # unsigned LUT outputs would wrap
    if (steps >= 0).all() or (steps <= 0).all():
        return np.array([first, last])
    return np.flatnonzero(np.bincount(pixels.view(_unsigned(pixels.dtype)).ravel(), minlength=size))
