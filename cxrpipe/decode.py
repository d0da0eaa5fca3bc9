"""Decode PNG, JPEG and DICOM bytes into 2-D uint8 gray arrays, reading the size first.

The header is read and checked against a pixel limit before any pixel buffer exists: a
valid PNG of zeros under 1 MB can declare 900 million pixels. Truncation is detected
here rather than trusted to OpenCV, which can decode a cut JPEG into a partly grey image
and only log a warning. DICOM is decoded by cxrpipe.dicom.
"""

import struct
import zlib
from numbers import Integral

import cv2
import numpy as np
import simplejpeg

from cxrpipe.dicom import decode_dicom, dicom_size, looks_like_dicom
from cxrpipe.errors import ImageRejected
from cxrpipe.gray8 import nonzero_size, to_gray, to_uint8

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SOI = b"\xff\xd8"
_JPEG_EOI = b"\xff\xd9"

# Start-of-frame markers. C4 (DHT), C8 (reserved JPG) and CC (DAC) share the range but
# carry no frame size.
_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7,
                       0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
# Arithmetic-coded frames, whose blocks can take less than a bit each.
_ARITHMETIC_SOF = (b"\xff\xc9", b"\xff\xca", b"\xff\xcb", b"\xff\xcd", b"\xff\xce", b"\xff\xcf")
# Markers with no length field: TEM and the restart markers RST0-7.
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})

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
    if looks_like_dicom(data):
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
    return nonzero_size(width, height, "PNG")


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
    return nonzero_size(width, height, "JPEG")


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


# --- PNG and JPEG pixels through OpenCV ----------------------------------------------

def _decode_png(data: bytes) -> np.ndarray:
    _check_png_complete(data)
    return _imdecode_gray8(data, "PNG")


def _decode_jpeg(data: bytes, scale: int = 1) -> np.ndarray:
    _check_jpeg_complete(data)
    height, width, colorspace, _ = _strict_jpeg(simplejpeg.decode_jpeg_header, data)
    if scale > 1:
        return _decode_jpeg_scaled(data, scale, height, width, colorspace)
    if colorspace == "Gray":
        return _strict_jpeg(simplejpeg.decode_jpeg, data, colorspace="GRAY")[:, :, 0]
    if colorspace in ("CMYK", "YCCK"):
        # libjpeg-turbo's TurboJPEG cannot turn CMYK into RGB; OpenCV can (Adobe-inverted
        # included). simplejpeg reads it first only to report corrupt data.
        _strict_jpeg(simplejpeg.decode_jpeg, data, colorspace="CMYK")
        return _imdecode_gray8(data, "JPEG")
    return cv2.cvtColor(_strict_jpeg(simplejpeg.decode_jpeg, data, colorspace="RGB"), cv2.COLOR_RGB2GRAY)


def _decode_jpeg_scaled(data: bytes, scale: int, height: int, width: int, colorspace: str) -> np.ndarray:
    """libjpeg's DCT-scaled decode at 1/``scale``, strict like the full read: the luma plane,
    pixel for pixel what OpenCV's reduced gray read gives, but a corrupt scan raises instead of
    decoding to grey. EXIF orientation stays unapplied so the shape follows the header."""
    size = {"min_height": -(-height // scale), "min_width": -(-width // scale), "min_factor": scale}
    if colorspace in ("CMYK", "YCCK"):
        _strict_jpeg(simplejpeg.decode_jpeg, data, colorspace="CMYK", **size)  # only to report corrupt data
        return _imdecode_gray8(data, "JPEG", _REDUCED_GRAY[scale] | cv2.IMREAD_IGNORE_ORIENTATION)
    return _strict_jpeg(simplejpeg.decode_jpeg, data, colorspace="GRAY", **size)[:, :, 0]


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
    return to_uint8(to_gray(img, cv2.COLOR_BGR2GRAY, cv2.COLOR_BGRA2GRAY))


_HEADER_READERS = {"png": _png_size, "jpeg": _jpeg_size, "dicom": dicom_size}
_DECODERS = {"png": _decode_png, "jpeg": _decode_jpeg, "dicom": decode_dicom}
