"""The image core against independent OpenCV/numpy references."""

from __future__ import annotations

import tracemalloc

import cv2
import numpy as np
import pytest

from cxrpipe.errors import ImageRejected
from cxrpipe.imageops import (RenderParams, clahe, decode_gray8, encode_jpeg, flip, parse_flips, probe,
                              render, resize_area)
from hostile import bomb_png, cmyk_jpeg, dicom_without_pixels, jpeg, png

RNG = np.random.default_rng(5)
GRAY = cv2.GaussianBlur((RNG.random((320, 280)) * 255).astype(np.uint8), (9, 9), 3)
LIMIT = 50_000_000


def decoded(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


def reasons(data: bytes) -> str:
    with pytest.raises(ImageRejected) as rejected:
        decode_gray8(data, LIMIT)
    return rejected.value.reason


def test_probe_reads_sizes_from_headers():
    assert probe(png(GRAY)) == ("png", 280, 320)
    assert probe(jpeg(GRAY)) == ("jpeg", 280, 320)
    assert probe(bomb_png(30000, 20000)) == ("png", 30000, 20000)


def test_broken_inputs_get_their_reasons():
    assert reasons(b"") == "empty"
    assert reasons(b"hello, not an image") == "not_an_image"
    assert reasons(png(GRAY)[:-200]) == "truncated"
    assert reasons(jpeg(GRAY)[: len(jpeg(GRAY)) // 2]) == "truncated"
    assert reasons(dicom_without_pixels()) == "dicom_no_pixels"


def test_decompression_bomb_is_refused_before_allocating():
    tracemalloc.start()
    try:
        assert reasons(bomb_png(30000, 30000)) == "too_many_pixels"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 * 1024 * 1024  # 900 MB of pixels were never allocated


def test_eight_bit_gray_passes_unchanged():
    assert np.array_equal(decode_gray8(png(GRAY), LIMIT), GRAY)


def test_sixteen_bit_is_scaled_by_its_own_min_and_max():
    raw = (RNG.random((64, 48)) * 3000 + 700).astype(np.uint16)
    expected = (raw.astype(float) - raw.min()) / (raw.max() - raw.min()) * 255
    got = decode_gray8(png(raw), LIMIT)
    assert got.dtype == np.uint8 and np.abs(got - expected).max() <= 1


def test_color_and_alpha_become_gray_like_opencv_says():
    bgr = (RNG.random((40, 30, 3)) * 255).astype(np.uint8)
    bgra = np.dstack([bgr, np.full((40, 30), 7, np.uint8)])
    reference = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    assert np.array_equal(decode_gray8(png(bgr), LIMIT), reference)
    assert np.array_equal(decode_gray8(png(bgra), LIMIT), reference)  # alpha ignored


def test_cmyk_jpeg_becomes_the_right_gray():
    rgb = np.dstack([GRAY, GRAY, GRAY])
    got = decode_gray8(cmyk_jpeg(rgb), LIMIT)
    assert got.shape == GRAY.shape and np.abs(got.astype(float) - GRAY).mean() < 4


def test_real_monochrome1_dicom_is_windowed_and_inverted():
    import pydicom
    from pydicom.data import get_testdata_file

    path = get_testdata_file("RG1_UNCR.dcm")
    ds = pydicom.dcmread(path)
    raw = ds.pixel_array.astype(float)
    center, width = float(ds.WindowCenter), float(ds.WindowWidth)
    # DICOM PS3.3 C.11.2.1.2 linear window, then MONOCHROME1 inverted, then min-max to 8 bits.
    windowed = np.clip((raw - (center - 0.5)) / (width - 1) + 0.5, 0, 1)
    inverted = 1 - windowed
    expected = (inverted - inverted.min()) / (inverted.max() - inverted.min()) * 255
    got = decode_gray8(open(path, "rb").read(), LIMIT)
    assert got.shape == (ds.Rows, ds.Columns) == (1955, 1841)
    assert np.abs(got - expected).mean() <= 1


def test_clahe_resize_and_flips_match_opencv_and_numpy():
    assert np.array_equal(clahe(GRAY, 3.0, 4), cv2.createCLAHE(clipLimit=3.0, tileGridSize=(4, 4)).apply(GRAY))
    assert np.array_equal(resize_area(GRAY, 99), cv2.resize(GRAY, (99, 99), interpolation=cv2.INTER_AREA))
    assert np.array_equal(flip(GRAY, "hflip"), GRAY[:, ::-1])
    assert np.array_equal(flip(GRAY, "vflip"), GRAY[::-1, :])
    assert np.array_equal(flip(GRAY, "hvflip"), GRAY[::-1, ::-1])
    assert np.array_equal(flip(GRAY, "none"), GRAY)


def test_parse_flips():
    assert parse_flips("hv,h") == ("hflip", "hvflip")
    assert parse_flips("h,v,hv") == ("hflip", "vflip", "hvflip")
    assert parse_flips("none") == ()
    with pytest.raises(ValueError, match="d"):
        parse_flips("h,d")


def test_render_gives_clahe_of_the_resized_source_and_its_flips():
    data = png(GRAY)
    out = render(data, RenderParams())
    assert [name for name, _ in out.versions] == ["none", "hflip", "vflip", "hvflip"]
    assert (out.source_format, out.source_width, out.source_height) == ("png", 280, 320)
    reference = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(
        cv2.resize(GRAY, (299, 299), interpolation=cv2.INTER_AREA))
    images = {name: decoded(jpg) for name, jpg in out.versions}
    assert all(img.shape == (299, 299) and img.dtype == np.uint8 for img in images.values())
    assert np.abs(images["none"].astype(float) - reference).mean() < 1.0
    assert np.abs(images["hvflip"].astype(float) - reference[::-1, ::-1]).mean() < 1.0
    assert render(data, RenderParams()) == out  # byte-deterministic
    assert [n for n, _ in render(data, RenderParams(flips=())).versions] == ["none"]


def test_clahe_at_source_is_a_different_choice():
    output = decoded(render(png(GRAY), RenderParams(flips=())).versions[0][1]).astype(float)
    source = decoded(render(png(GRAY), RenderParams(flips=(), clahe_at="source")).versions[0][1]).astype(float)
    assert np.abs(output - source).mean() > 1.0


@pytest.mark.parametrize("bad", [{"size": 0}, {"clahe_at": "middle"}, {"jpeg_quality": 101},
                                 {"flips": ("sideways",)}, {"max_pixels": 0}])
def test_render_params_refuse_bad_values_naming_the_field(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        RenderParams(**bad)


def test_encode_jpeg_is_gray_and_decodes_close():
    img = decoded(encode_jpeg(GRAY, 95))
    assert img.ndim == 2 and np.abs(img.astype(float) - GRAY).mean() < 1.5
