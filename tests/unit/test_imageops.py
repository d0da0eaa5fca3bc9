"""Tests of the image core against independent references: OpenCV called directly, numpy
formulas, pydicom's own pixel arrays, and images built by hand."""

import struct
import tracemalloc
import zlib
from io import BytesIO

import cv2
import numpy as np
import pytest

from cxrpipe.decode import decode_with_header
from dicoms import dicom_bytes
from cxrpipe.errors import ImageRejected
from cxrpipe.imageops import (
    FLIPS, RenderParams, clahe, decode_gray8, encode_jpeg, flip, parse_flips, probe, render,
    resize_area,
)

LIMIT = 50_000_000


# --- inputs built for the tests ------------------------------------------------------

def phantom(height=480, width=400, seed=0) -> np.ndarray:
    """A non-square 8-bit image with structure (gradients, a disc, noise), not symmetric."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    img = 40 + 120 * x / width + 60 * (y / height) ** 2
    img[(y - height / 3) ** 2 + (x - width / 4) ** 2 < (width / 6) ** 2] += 50
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def smooth_phantom(height=600, width=500) -> np.ndarray:
    """A phantom without pixel noise: CLAHE amplifies noise, which JPEG then cannot keep."""
    return cv2.GaussianBlur(phantom(height, width), (9, 9), 0)


def png_bytes(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def jpeg_bytes(img: np.ndarray, quality=95) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def png_chunk(chunk_type: bytes, body: bytes) -> bytes:
    return (struct.pack(">I", len(body)) + chunk_type + body
            + struct.pack(">I", zlib.crc32(chunk_type + body)))


def bomb_png(side: int) -> bytes:
    """A valid 1-bit gray PNG of zeros, side × side: ~50 KB on disk for side=20000."""
    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat)
            + png_chunk(b"IEND", b""))


def rejected(data: bytes, max_pixels=LIMIT) -> ImageRejected:
    with pytest.raises(ImageRejected) as info:
        decode_gray8(data, max_pixels)
    return info.value


@pytest.fixture(scope="module")
def rg1():
    """The real chest CR shipped by pydicom-data: (file bytes, dataset)."""
    import pydicom
    import pydicom.data as pydicom_data

    path = pydicom_data.get_testdata_file("RG1_UNCR.dcm")
    return open(path, "rb").read(), pydicom.dcmread(path)


# --- probe ---------------------------------------------------------------------------

def test_probe_reads_png_and_jpeg_sizes_from_real_encodings():
    img = phantom(123, 77)
    assert probe(png_bytes(img)) == ("png", 77, 123)
    assert probe(jpeg_bytes(img)) == ("jpeg", 77, 123)


def test_probe_reads_progressive_jpeg_size():
    ok, buf = cv2.imencode(".jpg", phantom(50, 90), [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert probe(buf.tobytes()) == ("jpeg", 90, 50)


def test_probe_reads_dicom_columns_as_width(rg1):
    data, ds = rg1
    assert probe(data) == ("dicom", ds.Columns, ds.Rows)


@pytest.mark.parametrize("data, reason", [
    (b"", "empty"),
    (b"hello", "not_an_image"),
    (b"GIF89a" + bytes(100), "not_an_image"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", "truncated"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "truncated"),
    (b"\xff\xd8\xff\xda\x00\x08" + bytes(10), "undecodable"),  # scan before any frame
])
def test_probe_rejects_bad_headers(data, reason):
    with pytest.raises(ImageRejected) as info:
        probe(data)
    assert info.value.reason == reason


def test_probe_rejects_png_with_corrupt_ihdr_crc():
    data = bytearray(png_bytes(phantom(20, 20)))
    data[29] ^= 0xFF  # last byte of the IHDR CRC
    with pytest.raises(ImageRejected) as info:
        probe(bytes(data))
    assert info.value.reason == "undecodable"


# --- rejects -------------------------------------------------------------------------

def test_empty_and_non_images_are_rejected():
    assert rejected(b"").reason == "empty"
    assert rejected(b"hello").reason == "not_an_image"


@pytest.mark.parametrize("encode", [png_bytes, jpeg_bytes])
def test_file_cut_in_the_middle_is_truncated(encode):
    data = encode(phantom())
    assert rejected(data[: len(data) // 2]).reason == "truncated"


def test_jpeg_with_zero_padding_after_end_marker_is_accepted():
    img = phantom()
    data = jpeg_bytes(img)
    reference = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert np.array_equal(decode_gray8(data + bytes(64), LIMIT), reference)


def test_decompression_bomb_is_rejected_before_any_pixel_allocation():
    data = bomb_png(20_000)  # 400 million pixels declared, ~50 KB of file
    assert len(data) < 200_000
    tracemalloc.start()
    try:
        error = rejected(data, max_pixels=LIMIT)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert error.reason == "too_many_pixels"
    assert "20000x20000" in error.detail and "50,000,000" in error.detail
    assert peak < 10_000_000


def test_tracemalloc_does_see_opencv_decoding():
    # Control for the bomb test: the same kind of file under the limit is decoded, and
    # tracemalloc reports the buffer (numpy's allocator reports to it).
    data = bomb_png(4000)
    tracemalloc.start()
    try:
        gray = decode_gray8(data, LIMIT)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert gray.shape == (4000, 4000) and not gray.any()
    assert peak >= 16_000_000


# --- conversions ---------------------------------------------------------------------

def test_8bit_gray_png_is_returned_unchanged():
    img = phantom()
    out = decode_gray8(png_bytes(img), LIMIT)
    assert out.dtype == np.uint8 and np.array_equal(out, img)


def test_16bit_png_is_scaled_from_its_own_min_max():
    rng = np.random.default_rng(1)
    img = rng.integers(1000, 40000, (60, 70)).astype(np.uint16)
    low, high = img.min().astype(float), img.max().astype(float)
    expected = np.round((img - low) / (high - low) * 255)
    out = decode_gray8(png_bytes(img), LIMIT)
    assert out.dtype == np.uint8
    assert np.abs(out.astype(float) - expected).max() <= 1
    assert out.min() == 0 and out.max() == 255


def test_constant_16bit_png_gives_zeros():
    out = decode_gray8(png_bytes(np.full((10, 12), 777, np.uint16)), LIMIT)
    assert out.dtype == np.uint8 and out.shape == (10, 12) and not out.any()


@pytest.mark.parametrize("code", [cv2.COLOR_GRAY2BGR, cv2.COLOR_GRAY2BGRA])
def test_colour_png_is_converted_like_opencv(code):
    rng = np.random.default_rng(2)
    colour = cv2.cvtColor(phantom(), code)
    colour[..., 0] = rng.integers(0, 255, colour.shape[:2])  # make the channels differ
    if colour.shape[2] == 4:
        colour[..., 3] = rng.integers(0, 255, colour.shape[:2])  # alpha must be ignored
    reference = cv2.cvtColor(colour[..., :3], cv2.COLOR_BGR2GRAY)
    assert np.array_equal(decode_gray8(png_bytes(colour), LIMIT), reference)


def test_gray_alpha_png_keeps_the_gray_channel():
    from PIL import Image as image  # Pillow (test extra) only builds the input
    gray = phantom()
    pil = image.merge("LA", [image.fromarray(gray), image.fromarray(255 - gray)])
    buf = BytesIO()
    pil.save(buf, "PNG")
    assert np.array_equal(decode_gray8(buf.getvalue(), LIMIT), gray)


def test_cmyk_jpeg_decodes_to_the_right_gray():
    from PIL import Image as image  # Pillow (test extra) only builds the input
    gray = cv2.GaussianBlur(phantom(), (9, 9), 3)  # smooth, so JPEG loss stays small
    rgb = cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)
    buf = BytesIO()
    image.fromarray(rgb).convert("CMYK").save(buf, "JPEG", quality=95)  # Adobe-inverted
    assert b"Adobe" in buf.getvalue()
    out = decode_gray8(buf.getvalue(), LIMIT)
    assert out.shape == gray.shape
    assert np.abs(out.astype(float) - gray).mean() <= 1.5


# --- DICOM ---------------------------------------------------------------------------

def test_real_monochrome1_radiograph_matches_windowed_inverted_reference(rg1):
    data, ds = rg1
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    out = decode_gray8(data, LIMIT)
    assert out.dtype == np.uint8 and out.shape == (ds.Rows, ds.Columns)

    # PS3.3 C.11.2.1.2.1 linear window, written out here independently of pydicom's LUTs.
    expected = 255 - windowed_reference(ds.pixel_array, ds)
    assert np.abs(out - expected).mean() <= 1


def windowed_reference(pixels: np.ndarray, ds) -> np.ndarray:
    """Rescale, then the PS3.3 C.11.2.1.2.1 linear window, then min-max to 0..255: written
    out here independently of pydicom's LUT functions."""
    slope, intercept = float(ds.get("RescaleSlope", 1)), float(ds.get("RescaleIntercept", 0))
    values = pixels * slope + intercept
    center, width = float(ds.WindowCenter), float(ds.WindowWidth)
    windowed = np.clip((values - (center - 0.5)) / (width - 1) + 0.5, 0, 1)
    return (windowed - windowed.min()) / (windowed.max() - windowed.min()) * 255


def test_dicom_rescale_and_narrow_window_are_applied():
    import pydicom

    # The window covers a slice of the data, so clipping at both ends shows.
    pixels = (phantom(40, 50).astype(np.uint16) * 16)
    data = dicom_bytes(pixels, RescaleSlope=2, RescaleIntercept=-1024, WindowCenter=2800,
                       WindowWidth=1200)
    out = decode_gray8(data, LIMIT)
    expected = windowed_reference(pixels, pydicom.dcmread(BytesIO(data)))
    assert 0 < (expected == 0).mean() < 1 and 0 < (expected == 255).mean() < 1
    assert np.abs(out - expected).max() <= 1


def test_dicom_without_pixel_data_is_rejected():
    data = dicom_bytes(pixels=None)
    assert probe(data) == ("dicom", 48, 64)
    assert rejected(data).reason == "dicom_no_pixels"


def test_dicom_cut_in_its_pixel_data_is_truncated(rg1):
    data, _ = rg1
    assert rejected(data[: len(data) // 2]).reason == "truncated"


def test_compressed_dicom_without_a_decoder_names_the_transfer_syntax():
    import pydicom
    import pydicom.data as pydicom_data
    from pydicom.pixels import get_decoder

    path = pydicom_data.get_testdata_file("MR_small_jpeg_ls_lossless.dcm")
    syntax = pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID
    # The set-up installs no JPEG-LS plugin for pydicom; this is the case users without one hit.
    assert not get_decoder(syntax).is_available
    error = rejected(open(path, "rb").read())
    assert error.reason == "undecodable" and str(syntax) in error.detail


def test_multiframe_dicom_uses_the_first_frame():
    frames = np.stack([phantom(32, 40, seed=3), phantom(32, 40, seed=4)])
    first = frames[0].astype(float)
    expected = (first - first.min()) / (first.max() - first.min()) * 255
    out = decode_gray8(dicom_bytes(frames), LIMIT)
    assert out.shape == (32, 40)
    assert np.abs(out - expected).max() <= 1


def test_palette_colour_dicom_is_an_unsupported_mode():
    data = dicom_bytes(phantom(16, 16), photometric="PALETTE COLOR")
    assert rejected(data).reason == "unsupported_mode"


# --- pixel operations ----------------------------------------------------------------

def test_clahe_matches_opencv():
    img = phantom()
    expected = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(4, 4)).apply(img)
    assert np.array_equal(clahe(img, 3.0, 4), expected)
    default = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(img)
    assert np.array_equal(clahe(img), default)


def test_resize_area_matches_opencv_and_ignores_aspect():
    img = phantom(480, 400)
    expected = cv2.resize(img, (299, 299), interpolation=cv2.INTER_AREA)
    assert np.array_equal(resize_area(img, 299), expected)


@pytest.mark.parametrize("name, reference", [
    ("hflip", np.fliplr), ("vflip", np.flipud), ("hvflip", lambda a: a[::-1, ::-1]),
])
def test_flips_match_numpy(name, reference):
    img = phantom(30, 20)
    assert np.array_equal(flip(img, name), reference(img))
    assert np.array_equal(FLIPS[name](img), reference(img))


def test_flip_none_is_identity_and_unknown_names_fail():
    img = phantom(8, 8)
    assert np.array_equal(flip(img, "none"), img)
    with pytest.raises(ValueError, match="rot90"):
        flip(img, "rot90")


@pytest.mark.parametrize("text, expected", [
    ("h,v,hv", ("hflip", "vflip", "hvflip")),
    ("hv,v,h", ("hflip", "vflip", "hvflip")),
    ("h", ("hflip",)),
    ("v, h, v", ("hflip", "vflip")),
    ("none", ()),
])
def test_parse_flips(text, expected):
    assert parse_flips(text) == expected


@pytest.mark.parametrize("text, bad", [("h,x", "'x'"), ("", "''"), ("none,h", "'none'")])
def test_parse_flips_names_the_bad_token_and_valid_ones(text, bad):
    with pytest.raises(ValueError) as info:
        parse_flips(text)
    message = str(info.value)
    assert bad in message and "hv" in message and "none" in message


def test_encode_jpeg_round_trips_within_jpeg_loss():
    img = phantom()
    decoded = cv2.imdecode(np.frombuffer(encode_jpeg(img), np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded.ndim == 2 and decoded.shape == img.shape
    assert np.abs(decoded.astype(float) - img).mean() <= 3


def test_encode_jpeg_rejects_colour_arrays():
    with pytest.raises(ValueError, match="2-D uint8"):
        encode_jpeg(np.zeros((4, 4, 3), np.uint8))


# --- RenderParams and render ---------------------------------------------------------

@pytest.mark.parametrize("field, value", [
    ("size", 0), ("size", 2.5), ("clahe_clip", 0.0), ("clahe_grid", 0),
    ("clahe_at", "middle"), ("flips", ("hflip", "hflip")), ("flips", ["hflip"]),
    ("flips", ("h",)), ("jpeg_quality", 101), ("max_pixels", 0),
    ("resize", "quick"), ("decode", "fast"), ("decode", True),
])
def test_render_params_reject_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError) as info:
        RenderParams(**{field: value})
    assert field in str(info.value) and repr(value) in str(info.value)


def reference_versions(img: np.ndarray, clahe_at: str) -> dict:
    """The pipeline written with OpenCV and numpy directly."""
    equalize = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply
    if clahe_at == "output":
        base = equalize(cv2.resize(img, (299, 299), interpolation=cv2.INTER_AREA))
    else:
        base = cv2.resize(equalize(img), (299, 299), interpolation=cv2.INTER_AREA)
    return {"none": base, "hflip": np.fliplr(base), "vflip": np.flipud(base),
            "hvflip": base[::-1, ::-1]}


@pytest.mark.parametrize("clahe_at", ["output", "source"])
def test_render_matches_an_opencv_reference_pipeline(clahe_at):
    img = smooth_phantom()
    result = render(png_bytes(img), RenderParams(clahe_at=clahe_at))
    assert (result.source_format, result.source_width, result.source_height) == ("png", 500, 600)
    assert [name for name, _ in result.versions] == ["none", "hflip", "vflip", "hvflip"]
    expected = reference_versions(img, clahe_at)
    for name, jpeg in result.versions:
        decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_UNCHANGED)
        assert decoded.shape == (299, 299), name
        assert np.abs(decoded.astype(float) - expected[name]).mean() <= 1, name


def test_clahe_at_source_differs_from_output():
    data = png_bytes(smooth_phantom())
    at_output = dict(render(data, RenderParams(clahe_at="output")).versions)["none"]
    at_source = dict(render(data, RenderParams(clahe_at="source")).versions)["none"]
    decode = lambda jpeg: cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.abs(decode(at_output).astype(float) - decode(at_source)).mean() > 2


def test_render_without_flips_gives_only_the_original():
    result = render(jpeg_bytes(phantom()), RenderParams(flips=(), size=64))
    assert [name for name, _ in result.versions] == ["none"]
    decoded = cv2.imdecode(np.frombuffer(result.versions[0][1], np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded.shape == (64, 64)


def test_render_keeps_the_requested_flip_order():
    result = render(png_bytes(phantom()), RenderParams(flips=("vflip", "hflip")))
    assert [name for name, _ in result.versions] == ["none", "vflip", "hflip"]


def test_render_is_byte_deterministic(rg1):
    data, _ = rg1
    first, second = render(data, RenderParams()), render(data, RenderParams())
    assert first == second
    assert first.source_format == "dicom" and len(first.versions) == 4


def test_render_raises_for_bad_input_and_never_returns_partial_results():
    data = png_bytes(phantom())
    with pytest.raises(ImageRejected) as info:
        render(data[:-20], RenderParams())
    assert info.value.reason == "truncated"
    with pytest.raises(ImageRejected) as info:
        render(data, RenderParams(max_pixels=1000))
    assert info.value.reason == "too_many_pixels"


# --- speed options: fast resize and reduced JPEG decode --------------------------------

def box_mean(img: np.ndarray, fy: int, fx: int) -> np.ndarray:
    """An integer-factor area shrink written with numpy: the mean of each fy × fx block."""
    h, w = img.shape
    return img.reshape(h // fy, fy, w // fx, fx).mean(axis=(1, 3))


def test_fast_resize_is_an_integer_box_shrink_then_area():
    img = smooth_phantom(1200, 1000)  # height: 4 divides 1200 and 1200 / 4 >= 299; width: 3 does not divide 1000, 2 does
    shrunk = np.rint(box_mean(img.astype(np.float64), 4, 2)).astype(np.uint8)
    expected = cv2.resize(shrunk, (299, 299), interpolation=cv2.INTER_AREA)
    got = resize_area(img, 299, "fast")
    assert got.shape == (299, 299)
    assert np.abs(got.astype(int) - expected).max() <= 1


def test_fast_resize_is_exact_when_no_integer_shrink_fits():
    img = phantom(400, 350)  # 400 // 299 = 1: nothing to shrink
    assert np.array_equal(resize_area(img, 299, "fast"), resize_area(img, 299))


def test_resize_rejects_an_unknown_method():
    with pytest.raises(ValueError, match="quick"):
        resize_area(phantom(), 64, "quick")


def test_render_fast_stays_within_a_gray_level_of_the_reference_before_clahe():
    img = smooth_phantom(1200, 1000)
    exact = cv2.resize(img, (299, 299), interpolation=cv2.INTER_AREA)
    assert np.abs(resize_area(img, 299, "fast").astype(float) - exact).mean() < 0.5


def test_reduced_decode_uses_the_largest_scale_keeping_the_output_size():
    img = smooth_phantom(1300, 1250)  # /4 -> 325 x 313 >= 299; /8 -> 163 would be too small
    data = jpeg_bytes(img)
    fmt, width, height, gray = decode_with_header(data, LIMIT, reduce_to=299)
    assert (fmt, width, height) == ("jpeg", 1250, 1300)
    reference = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_4)
    assert gray.shape == (325, 313) and np.array_equal(gray, reference)


def test_reduced_decode_leaves_small_jpegs_and_pngs_at_full_size():
    small = jpeg_bytes(phantom(480, 400))
    assert decode_with_header(small, LIMIT, reduce_to=299)[3].shape == (480, 400)
    png = png_bytes(smooth_phantom(1300, 1250))
    assert decode_with_header(png, LIMIT, reduce_to=299)[3].shape == (1300, 1250)


def test_render_with_reduced_decode_matches_a_reduced_read_reference():
    data = jpeg_bytes(smooth_phantom(1300, 1250))
    result = render(data, RenderParams(decode="reduced"))
    assert (result.source_width, result.source_height) == (1250, 1300)
    reduced = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_4)
    expected = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(
        cv2.resize(reduced, (299, 299), interpolation=cv2.INTER_AREA))
    decoded = cv2.imdecode(np.frombuffer(result.versions[0][1], np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.abs(decoded.astype(float) - expected).mean() <= 1
