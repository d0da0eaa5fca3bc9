"""Reduced (DCT-scaled) JPEG decode by default where it stays within a gray level.

The measure is the one docs/performance.md uses: mean absolute difference, in gray levels,
of the 299×299 base image (after CLAHE, before JPEG) against the full decode, over chest
phantoms drawn by cxrpipe.synth; each case also states the largest per-image mean and the
largest pixel difference.
"""

import cv2
import numpy as np
import pytest

from cxrpipe.cli import build_parser
from cxrpipe.decode import decode_with_header
from cxrpipe.imageops import (AUTO_REDUCE_MARGIN, RenderParams, clahe, encode_jpeg, render,
                              resize_area)
from cxrpipe.synth import render_phantom

LIMIT = 50_000_000
REDUCED = {2: cv2.IMREAD_REDUCED_GRAYSCALE_2, 4: cv2.IMREAD_REDUCED_GRAYSCALE_4}


def chest_jpeg(height: int, width: int, seed: int) -> bytes:
    img = render_phantom(np.random.default_rng(seed), (height, width), ())
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()


def base_image(gray: np.ndarray) -> np.ndarray:
    return clahe(resize_area(gray, 299))


def decoded_at(data: bytes, scale: int) -> np.ndarray:
    flags = REDUCED.get(scale, cv2.IMREAD_GRAYSCALE)
    return cv2.imdecode(np.frombuffer(data, np.uint8), flags)


@pytest.mark.parametrize("height, width, scale", [
    (2828, 2320, 2),   # CheXpert's original size
    (3056, 2544, 2),   # MIMIC-CXR-JPG's most common size
    (2153, 1794, 2),   # the smallest JPEG the default halves: 1794 / 2 = 3 × 299
    (4306, 3588, 4),   # the smallest it quarters
])
def test_default_decode_stays_within_a_gray_level_of_the_full_decode(height, width, scale):
    means, worst_pixel = [], 0
    for seed in range(3):
        data = chest_jpeg(height, width, seed)
        gray = decode_with_header(data, LIMIT, 299 * AUTO_REDUCE_MARGIN)[3]
        # The scale chosen is the one expected, and the decode is libjpeg's reduced read.
        assert np.array_equal(gray, decoded_at(data, scale))
        diff = np.abs(base_image(gray).astype(np.int16) - base_image(decoded_at(data, 1)))
        means.append(diff.mean())
        worst_pixel = max(worst_pixel, int(diff.max()))
    mean = float(np.mean(means))
    print(f"{height}x{width} at 1/{scale}: mean {mean:.2f}, worst image {max(means):.2f}, "
          f"largest pixel difference {worst_pixel}")
    assert mean <= 1, f"mean {mean:.2f} (worst image {max(means):.2f}, pixel {worst_pixel})"


def test_render_default_is_the_reduced_decode_and_exact_decode_the_full_one():
    data = chest_jpeg(2828, 2320, seed=7)
    default = dict(render(data, RenderParams()).versions)["none"]
    exact = dict(render(data, RenderParams(decode="exact")).versions)["none"]
    # Byte for byte: the encoder is deterministic, so each pipeline's base image says which
    # decode ran.
    assert default == encode_jpeg(base_image(decoded_at(data, 2)))
    assert exact == encode_jpeg(base_image(decoded_at(data, 1)))
    assert default != exact


@pytest.mark.parametrize("height, width, params", [
    (1790, 2200, RenderParams()),                       # shorter side below 6 × 299: no halving
    (1300, 1250, RenderParams()),
    (2828, 2320, RenderParams(clahe_at="source")),      # CLAHE would see the scaled pixels
    (2828, 2320, RenderParams(size=600)),               # 2320 / 2 < 3 × 600
])
def test_default_decodes_in_full_outside_the_bound(height, width, params):
    data = chest_jpeg(height, width, seed=1)
    exact = RenderParams(**{**params.__dict__, "decode": "exact"})
    assert render(data, params) == render(data, exact)


def test_large_png_is_never_reduced():
    img = render_phantom(np.random.default_rng(3), (2828, 2320), ())
    data = cv2.imencode(".png", img)[1].tobytes()
    assert render(data, RenderParams()) == render(data, RenderParams(decode="exact"))


def test_reduced_decode_option_keeps_the_old_smallest_scale():
    data = chest_jpeg(2828, 2320, seed=2)
    reduced = dict(render(data, RenderParams(decode="reduced")).versions)["none"]
    assert reduced == encode_jpeg(base_image(decoded_at(data, 4)))


@pytest.mark.parametrize("flags, expected", [
    ([], "auto"), (["--exact-decode"], "exact"), (["--reduced-decode"], "reduced"),
])
def test_decode_flags(flags, expected):
    from cxrpipe.cli.data import preprocess_job

    args = build_parser().parse_args(["preprocess", "--dataset", "nih", "--index", "x.csv",
                                      "--images", "imgs", "--output", "out", *flags])
    assert preprocess_job(args).render.decode == expected


def test_exact_and_reduced_decode_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["preprocess", "--dataset", "nih", "--images", "imgs", "--output",
                                   "out", "--exact-decode", "--reduced-decode"])
    assert info.value.code == 2 and "--exact-decode" in capsys.readouterr().err
