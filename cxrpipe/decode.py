"""Decode PNG, JPEG and DICOM bytes into 2-D uint8 gray arrays, reading the size first.

The header is read and checked against a pixel limit before any pixel buffer exists: a
valid PNG of zeros under 1 MB can declare 900 million pixels. Truncation is detected
here rather than trusted to OpenCV, which can decode a cut JPEG into a partly grey image
and only log a warning. pydicom is imported lazily so that PNG/JPEG-only workers never
pay for it.
"""

import struct
import zlib
from io import BytesIO
from numbers import Integral

import cv2
import numpy as np
import simplejpeg

from cxrpipe.errors import ImageRejected

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SOI = b"\xff\xd8"
_JPEG_EOI = b"\xff\xd9"
_DICOM_MAGIC = b"DICM"
_DICOM_MAGIC_OFFSET = 128  # after the 128-byte preamble (PS3.10 section 7.1)
# DICOM written without the preamble (older modalities, some PACS exports) starts with a
# little-endian tag of group 0002 (file meta) or 0008 (identification): read with force.
_DICOM_BARE_STARTS = (b"\x02\x00", b"\x08\x00")

# Start-of-frame markers. C4 (DHT), C8 (reserved JPG) and CC (DAC) share the range but
# carry no frame size.
_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7,
                       0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
# Arithmetic-coded frames, whose blocks can take less than a bit each.
_ARITHMETIC_SOF = (b"\xff\xc9", b"\xff\xca", b"\xff\xcb", b"\xff\xcd", b"\xff\xce", b"\xff\xcf")
# Markers with no length field: TEM and the restart markers RST0-7.
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})

# pydicom signals a malformed file or dataset with these rather than one base class.
_PYDICOM_ERRORS = (EOFError, struct.error, ValueError, KeyError, TypeError,
                   AttributeError, NotImplementedError, RuntimeError, OverflowError)

_DICOM_MONOCHROME = frozenset({"MONOCHROME1", "MONOCHROME2"})
# pydicom converts these to RGB when decoding (its default as_rgb=True).
_DICOM_COLOR = frozenset({"RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT",
                          "YBR_PARTIAL_420"})


def probe(data: bytes) -> tuple[str, int, int]:
    """Read the format and pixel size from the header only, decoding no pixels.

    Args:
        data: the whole file's bytes.

    Returns:
        ``(format, width, height)`` with format one of ``"png"``, ``"jpeg"``, ``"dicom"``.

    Raises:
        ImageRejected: ``empty``, ``not_an_image`` (unknown magic bytes), ``truncated``
            (the header is cut), ``undecodable`` (the header is malformed) or
            ``dicom_no_pixels`` (a DICOM header without image geometry).
    """
    fmt = _sniff(data)
    width, height = _HEADER_READERS[fmt](data)
    return fmt, width, height


def decode_gray8(data: bytes, max_pixels: int) -> np.ndarray:
    """Decode an image to 8-bit gray after checking its declared size against a limit.

    The same as ``decode_with_header(data, max_pixels)[3]``; see there.
    """
    return decode_with_header(data, max_pixels)[3]


def decode_with_header(data: bytes, max_pixels: int,
                       reduce_to: int | None = None) -> tuple[str, int, int, np.ndarray]:
    """Decode an image to 8-bit gray after checking its declared size against a limit.

    16-bit images are scaled linearly from their own min-max to 0..255; colour is
    converted with OpenCV's BGR→gray weights; alpha is ignored. DICOM goes through its
    modality LUT and VOI LUT/window, MONOCHROME1 is inverted, and only the first frame
    of a multi-frame dataset is used.

    Args:
        data: the whole file's bytes.
        max_pixels: the largest width × height accepted.
        reduce_to: if given, a JPEG may be decoded at 1/2, 1/4 or 1/8 of its size (libjpeg's
            DCT scaling, several times faster than a full decode) as long as both decoded
            sides stay at least this many pixels. Pixels then differ from a full decode
            followed by an area resize; PNG and DICOM are always decoded in full.

    Returns:
        ``(format, width, height, gray)``: the header's format and size, and a 2-D uint8
        array of shape (height, width), or the reduced shape when reduce_to allowed one.

    Raises:
        ImageRejected: any reason from ``probe``, and ``too_many_pixels``, ``truncated``,
            ``undecodable``, ``unsupported_mode`` or ``dicom_no_pixels``.
        ValueError: max_pixels is not a positive integer.
    """
    if not isinstance(max_pixels, Integral) or isinstance(max_pixels, bool) or max_pixels < 1:
        raise ValueError(f"max_pixels: expected a positive integer, got {max_pixels!r}")
    fmt, width, height = probe(data)
    if width * height > max_pixels:
        raise ImageRejected(
            "too_many_pixels",
            f"header declares {width}x{height} = {width * height:,} pixels; "
            f"the limit is {max_pixels:,}")
    scale = _jpeg_scale(width, height, reduce_to) if fmt == "jpeg" and reduce_to else 1
    gray = _decode_jpeg(data, scale) if scale > 1 else _DECODERS[fmt](data)
    expected = (-(-height // scale), -(-width // scale))  # libjpeg rounds scaled sides up
    if gray.shape != expected:
        # The size check above is only a guard if the pixels are the size the header says.
        raise ImageRejected(
            "undecodable",
            f"decoded {gray.shape[1]}x{gray.shape[0]} but the header declares {width}x{height}"
            + (f" (1/{scale} scale)" if scale > 1 else ""))
    return fmt, width, height, gray


# OpenCV's reduced gray reads, by libjpeg scale denominator.
_REDUCED_GRAY = {2: cv2.IMREAD_REDUCED_GRAYSCALE_2, 4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
                 8: cv2.IMREAD_REDUCED_GRAYSCALE_8}


def _jpeg_scale(width: int, height: int, reduce_to: int) -> int:
    """The largest libjpeg scale denominator keeping both sides >= reduce_to (1 if none)."""
    fits = [k for k in _REDUCED_GRAY if min(-(-width // k), -(-height // k)) >= reduce_to]
    return max(fits, default=1)


def _sniff(data: bytes) -> str:
    if not data:
        raise ImageRejected("empty", "zero bytes")
    if data.startswith(_PNG_SIGNATURE):
        return "png"
    if data.startswith(_JPEG_SOI):
        return "jpeg"
    if data[_DICOM_MAGIC_OFFSET:_DICOM_MAGIC_OFFSET + 4] == _DICOM_MAGIC or data[:2] in _DICOM_BARE_STARTS:
        return "dicom"
    raise ImageRejected("not_an_image", f"unknown magic bytes {data[:8].hex()}")


# --- PNG -----------------------------------------------------------------------------

def _png_size(data: bytes) -> tuple[int, int]:
    # IHDR must be the first chunk: length 13, type, width, height, 5 more bytes, CRC.
    ihdr = data[8:33]
    if len(ihdr) < 25:
        raise ImageRejected("truncated", f"PNG ends inside its IHDR chunk ({len(data)} bytes)")
    length, chunk_type = struct.unpack(">I4s", ihdr[:8])
    if chunk_type != b"IHDR" or length != 13:
        raise ImageRejected("undecodable", "PNG does not start with a 13-byte IHDR chunk")
    if zlib.crc32(ihdr[4:21]) != struct.unpack(">I", ihdr[21:25])[0]:
        raise ImageRejected("undecodable", "PNG IHDR chunk fails its CRC")
    width, height = struct.unpack(">II", ihdr[8:16])
    return _nonzero_size(width, height, "PNG")


def _check_png_complete(data: bytes) -> None:
    # Walk the chunk lengths instead of searching for b"IEND": those bytes can occur
    # inside compressed data, and a walk also finds a chunk cut short.
    pos = len(_PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, chunk_type = struct.unpack_from(">I4s", data, pos)
        pos += 12 + length  # length, type, data, CRC
        if chunk_type == b"IEND" and pos <= len(data):
            return
    raise ImageRejected("truncated", f"PNG has no complete IEND chunk ({len(data)} bytes)")


# --- JPEG ----------------------------------------------------------------------------

def _jpeg_size(data: bytes) -> tuple[int, int]:
    pos = len(_JPEG_SOI)
    while True:
        marker, pos = _next_jpeg_marker(data, pos)
        if marker in _JPEG_STANDALONE:
            continue
        if marker in (0xD8, 0xD9, 0xDA):
            raise ImageRejected("undecodable",
                                f"JPEG marker FF{marker:02X} before any frame header")
        if pos + 2 > len(data):
            break
        (length,) = struct.unpack_from(">H", data, pos)
        if length < 2:
            raise ImageRejected("undecodable", f"JPEG segment length {length} at offset {pos}")
        if marker in _JPEG_SOF:
            return _jpeg_frame_size(data, pos)
        pos += length
    raise ImageRejected("truncated", f"JPEG ends before its frame header ({len(data)} bytes)")


def _next_jpeg_marker(data: bytes, pos: int) -> tuple[int, int]:
    """Return the marker code at pos (after any 0xFF fill bytes) and the offset after it."""
    if pos < len(data) and data[pos] != 0xFF:
        raise ImageRejected("undecodable", f"JPEG: expected a marker at offset {pos}")
    while pos < len(data) and data[pos] == 0xFF:
        pos += 1
    if pos >= len(data):
        raise ImageRejected("truncated", f"JPEG ends before its frame header ({len(data)} bytes)")
    return data[pos], pos + 1


def _jpeg_frame_size(data: bytes, pos: int) -> tuple[int, int]:
    # SOFn payload: length (2), sample precision (1), height (2), width (2), components.
    if pos + 7 > len(data):
        raise ImageRejected("truncated", "JPEG ends inside its frame header")
    height, width = struct.unpack_from(">HH", data, pos + 3)
    # Height 0 means "given later by a DNL marker", which libjpeg does not support.
    return _nonzero_size(width, height, "JPEG")


def _check_jpeg_complete(data: bytes) -> None:
    """The main image's scans end in an FFD9 marker; bytes after it are allowed (the entropy
    data cannot hold FFD9, and an EXIF thumbnail's FFD9 comes before the main scan)."""
    if data.find(_JPEG_EOI, _jpeg_scan_start(data)) < 0:
        raise ImageRejected("truncated", "JPEG has no FFD9 end-of-image marker after its scan")
    width, height = _jpeg_size(data)
    blocks = -(-width // 8) * -(-height // 8)
    # A Huffman-coded block takes at least one bit (its DC code): a 64x64 file whose header
    # says 7000x7000 cannot hold that image, whatever libjpeg makes of it.
    if len(data) * 8 < blocks and not _jpeg_arithmetic(data):
        raise ImageRejected("undecodable", f"header declares {width}x{height} ({blocks:,} blocks) but the "
                            f"file has {len(data):,} bytes, too few to code them")


def _jpeg_scan_start(data: bytes) -> int:
    """The offset of the first start-of-scan marker, walking segment lengths (not a search:
    an EXIF thumbnail holds markers of its own)."""
    pos = len(_JPEG_SOI)
    while True:
        marker, pos = _next_jpeg_marker(data, pos)
        if marker == 0xDA:
            return pos
        if marker in _JPEG_STANDALONE:
            continue
        if pos + 2 > len(data):
            raise ImageRejected("truncated", f"JPEG ends before its scan ({len(data)} bytes)")
        pos += struct.unpack_from(">H", data, pos)[0]


def _jpeg_arithmetic(data: bytes) -> bool:
    return any(marker in data[:_jpeg_scan_start(data)] for marker in _ARITHMETIC_SOF)


def _nonzero_size(width: int, height: int, fmt: str) -> tuple[int, int]:
    if width == 0 or height == 0:
        raise ImageRejected("undecodable", f"{fmt} header declares {width}x{height}")
    return width, height


# --- PNG and JPEG pixels through OpenCV ----------------------------------------------

def _decode_png(data: bytes) -> np.ndarray:
    _check_png_complete(data)
    return _imdecode_gray8(data, "PNG")


def _decode_jpeg(data: bytes, scale: int = 1) -> np.ndarray:
    _check_jpeg_complete(data)
    if scale > 1:
        # As in the full read, EXIF orientation stays unapplied so the shape follows the header.
        return _imdecode_gray8(data, "JPEG", _REDUCED_GRAY[scale] | cv2.IMREAD_IGNORE_ORIENTATION)
    colorspace = _strict_jpeg(simplejpeg.decode_jpeg_header, data)[2]
    if colorspace == "Gray":
        return _strict_jpeg(simplejpeg.decode_jpeg, data, colorspace="GRAY")[:, :, 0]
    if colorspace in ("CMYK", "YCCK"):
        # libjpeg-turbo's TurboJPEG cannot turn CMYK into RGB; OpenCV can (Adobe-inverted
        # included). simplejpeg reads it first only to report corrupt data.
        _strict_jpeg(simplejpeg.decode_jpeg, data, colorspace="CMYK")
        return _imdecode_gray8(data, "JPEG")
    return cv2.cvtColor(_strict_jpeg(simplejpeg.decode_jpeg, data, colorspace="RGB"), cv2.COLOR_RGB2GRAY)


def _strict_jpeg(decode, data: bytes, **options):
    """simplejpeg (libjpeg-turbo) raising on what OpenCV only logs: libjpeg's "Corrupt JPEG
    data" warnings, which OpenCV turns into a grey or garbled image."""
    try:
        return decode(data, **options)
    except ValueError as err:
        reason = "truncated" if "premature end" in str(err).lower() else "undecodable"
        raise ImageRejected(reason, f"libjpeg: {err}") from err


def _imdecode_gray8(data: bytes, fmt: str, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray:
    # IMREAD_UNCHANGED keeps 16 bits and alpha so that the conversion below is ours and
    # explicit. It also leaves EXIF orientation unapplied, so pixels match the header size.
    # OpenCV turns CMYK JPEGs (Adobe-inverted included) into 3-channel BGR itself.
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error as err:
        raise ImageRejected("undecodable", f"OpenCV could not decode the {fmt}: {err}") from err
    if img is None:
        raise ImageRejected("undecodable", f"OpenCV could not decode the {fmt}")
    return _to_uint8(_to_gray(img, cv2.COLOR_BGR2GRAY, cv2.COLOR_BGRA2GRAY))


def _to_gray(img: np.ndarray, three_to_gray: int, four_to_gray: int) -> np.ndarray:
    channels = 1 if img.ndim == 2 else img.shape[2]
    if img.ndim > 3 or channels not in (1, 2, 3, 4):
        raise ImageRejected("unsupported_mode", f"pixel array of shape {img.shape}")
    if channels == 1:
        return img.reshape(img.shape[:2])
    if channels == 2:
        return np.ascontiguousarray(img[:, :, 0])  # gray + alpha: the alpha is dropped
    return cv2.cvtColor(img, three_to_gray if channels == 3 else four_to_gray)


def _to_uint8(gray: np.ndarray) -> np.ndarray:
    if gray.dtype == np.uint8:
        return gray
    if gray.dtype.kind not in "uif":
        raise ImageRejected("unsupported_mode", f"pixel type {gray.dtype}")
    return _minmax_to_uint8(gray)


def _minmax_to_uint8(values: np.ndarray) -> np.ndarray:
    """Scale linearly from the array's own min-max to 0..255; a constant array gives zeros."""
    low, high = float(values.min()), float(values.max())
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ImageRejected("undecodable", "pixel values are not finite")
    if high <= low:
        return np.zeros(values.shape, np.uint8)
    # float32 holds every 16-bit value exactly and halves the temporary of float64.
    scaled = values.astype(np.float32)
    scaled -= low
    scaled *= 255.0 / (high - low)
    return np.rint(scaled, out=scaled).astype(np.uint8)


# --- DICOM ---------------------------------------------------------------------------

def _dicom_size(data: bytes) -> tuple[int, int]:
    ds = _read_dicom(data, stop_before_pixels=True)
    try:
        rows, columns = ds.get("Rows"), ds.get("Columns")
    except _PYDICOM_ERRORS as err:
        raise ImageRejected("undecodable", f"DICOM Rows/Columns unreadable: {err}") from err
    if rows is None or columns is None:
        raise ImageRejected("dicom_no_pixels", "DICOM header has no Rows/Columns")
    return _nonzero_size(int(columns), int(rows), "DICOM")


def _read_dicom(data: bytes, stop_before_pixels: bool):
    from pydicom import dcmread
    from pydicom.errors import BytesLengthException, InvalidDicomError

    bare = data[_DICOM_MAGIC_OFFSET:_DICOM_MAGIC_OFFSET + 4] != _DICOM_MAGIC
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


def _decode_dicom(data: bytes) -> np.ndarray:
    ds = _read_dicom(data, stop_before_pixels=False)
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise ImageRejected("dicom_no_pixels", "DICOM dataset has no pixel data element")
    _check_dicom_decodable(ds)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    if photometric not in _DICOM_MONOCHROME | _DICOM_COLOR:
        raise ImageRejected("unsupported_mode", f"DICOM PhotometricInterpretation {photometric}")
    try:
        return _dicom_pixels_gray8(ds, photometric)
    except _PYDICOM_ERRORS as err:
        raise ImageRejected("undecodable", f"pydicom could not decode the pixels: {err}") from err


def _check_dicom_decodable(ds) -> None:
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


def _dicom_pixels_gray8(ds, photometric: str) -> np.ndarray:
    from pydicom.pixels import apply_modality_lut, apply_voi_lut, pixel_array

    pixels = pixel_array(ds, index=0)  # decodes the first frame only
    if photometric in _DICOM_COLOR:
        return _to_uint8(_to_gray(pixels, cv2.COLOR_RGB2GRAY, cv2.COLOR_RGBA2GRAY))
    if pixels.ndim != 2:
        raise ImageRejected("unsupported_mode", f"{photometric} frame of shape {pixels.shape}")
    gray = _minmax_to_uint8(apply_voi_lut(apply_modality_lut(pixels, ds), ds))
    # MONOCHROME1 stores X-ray absorption as dark; the rest of the pipeline expects bright.
    return 255 - gray if photometric == "MONOCHROME1" else gray


_HEADER_READERS = {"png": _png_size, "jpeg": _jpeg_size, "dicom": _dicom_size}
_DECODERS = {"png": _decode_png, "jpeg": _decode_jpeg, "dicom": _decode_dicom}
