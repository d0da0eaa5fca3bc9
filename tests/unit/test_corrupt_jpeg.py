"""Corrupt JPEGs are rejects, never training images: libjpeg's "Corrupt JPEG data" warnings
(which OpenCV only logs, returning a grey or garbled image) and headers that lie about the
size. Bytes after a valid end marker are not truncation."""

import struct

import cv2
import numpy as np
import pytest

from cxrpipe.decode import decode_gray8
from cxrpipe.errors import ImageRejected

LIMIT = 50_000_000


def jpeg(shape=(64, 64), seed=0, color=False) -> bytes:
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur((rng.random(shape) * 255).astype(np.uint8), (0, 0), 2)
    if color:
        img = cv2.merge([img, img // 2, 255 - img])
    return cv2.imencode(".jpg", img)[1].tobytes()


def scan(data: bytes) -> int:
    sos = data.index(b"\xff\xda")
    return sos + 2 + struct.unpack(">H", data[sos + 2:sos + 4])[0]


def reason(data: bytes) -> str:
    with pytest.raises(ImageRejected) as info:
        decode_gray8(data, LIMIT)
    return info.value.reason


def test_a_small_jpeg_whose_header_claims_7000x7000_is_rejected():
    data = bytearray(jpeg())
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, 7000, 7000)
    assert reason(bytes(data)) == "undecodable"


@pytest.mark.parametrize("color", [False, True])
def test_zeroed_entropy_data_with_an_intact_end_marker_is_rejected(color):
    data = jpeg(color=color)
    start = scan(data)
    corrupt = data[:start] + b"\x00" * (len(data) - 2 - start) + data[-2:]
    assert cv2.imdecode(np.frombuffer(corrupt, np.uint8), cv2.IMREAD_UNCHANGED) is not None  # OpenCV takes it
    assert reason(corrupt) in ("truncated", "undecodable")  # libjpeg words it either way


def test_scan_cut_short_but_ended_with_a_marker_is_truncated():
    data = jpeg((256, 256))
    start = scan(data)
    cut = data[:start + (len(data) - start) // 3] + b"\xff\xd9"
    assert reason(cut) == "truncated"


@pytest.mark.parametrize("tail", [b"\x00" * 100, b"trailing garbage after the image", b"\xff\xd9\x00"])
def test_bytes_after_a_valid_end_marker_are_not_truncation(tail):
    data = jpeg()
    want = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(decode_gray8(data + tail, LIMIT), want)


def test_a_thumbnail_end_marker_does_not_hide_a_cut_main_image():
    data = jpeg((256, 256))
    thumbnail = jpeg((16, 16), seed=3)
    app1 = b"\xff\xe1" + struct.pack(">H", len(thumbnail) + 2) + thumbnail
    with_thumb = data[:2] + app1 + data[2:]
    assert decode_gray8(with_thumb, LIMIT).shape == (256, 256)
    assert reason(with_thumb[: scan(with_thumb) + 100]) == "truncated"


def test_gray_and_color_pixels_equal_opencvs():
    for data in (jpeg((300, 200)), jpeg((300, 200), color=True)):
        ref = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if ref.ndim == 3:
            ref = cv2.cvtColor(ref, cv2.COLOR_BGR2GRAY)
        assert np.array_equal(decode_gray8(data, LIMIT), ref)


# --- DICOM without its 128-byte preamble ------------------------------------------------------

def test_dicom_without_preamble_decodes_like_the_file_with_it():
    from io import BytesIO
    from pathlib import Path

    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    data = Path(get_testdata_file("RG1_UNCR.dcm")).read_bytes()
    want = decode_gray8(data, LIMIT)
    no_preamble = data[132:]                      # file meta kept, preamble and DICM gone
    assert np.array_equal(decode_gray8(no_preamble, LIMIT), want)
    ds = pydicom.dcmread(BytesIO(data))
    bare = DicomBytesIO()
    bare.is_little_endian, bare.is_implicit_VR = True, True   # a bare dataset, no meta, no preamble
    write_dataset(bare, ds)
    assert bare.getvalue()[:2] == b"\x08\x00"
    assert np.array_equal(decode_gray8(bare.getvalue(), LIMIT), want)


def test_bytes_that_only_start_like_dicom_are_rejected_not_crashing():
    assert reason(b"\x08\x00" + b"\x00" * 10) in ("undecodable", "truncated", "dicom_no_pixels")


@pytest.mark.parametrize("shape, rejected", [((1, 2000), True), ((100, 501), True), ((100, 500), False),
                                             ((2828, 2320), False)])
def test_images_far_from_square_are_rejected_not_smeared(shape, rejected):
    from cxrpipe.imageops import RenderParams, render

    data = cv2.imencode(".png", np.full(shape, 128, np.uint8))[1].tobytes()
    if rejected:
        with pytest.raises(ImageRejected) as info:
            render(data, RenderParams(flips=()))
        assert info.value.reason == "extreme_aspect" and f"{shape[1]}x{shape[0]}" in info.value.detail
    else:
        assert len(render(data, RenderParams(flips=())).versions) == 1


def _work_item():
    from cxrpipe.preprocessing.plan import WorkItem

    return WorkItem(image_id="a.png", source="a.png", patient_id="1", split="train", stem="a",
                    partitions=("Mass",), multi_hot=(1,), uncertain=(0,), view="PA")


@pytest.mark.parametrize("error", [cv2.error("bad pixels"), ValueError("odd shape"), MemoryError()])
def test_what_a_bad_image_raises_past_the_decoders_checks_is_an_undecodable_reject(monkeypatch, error):
    from cxrpipe.preprocessing import task as tasks
    from cxrpipe.imageops import RenderParams

    def failing(data, params):
        raise error

    monkeypatch.setattr(tasks, "render", failing)
    rejected = tasks._process(_work_item(), b"bytes", RenderParams())
    assert isinstance(rejected, ImageRejected) and rejected.reason == "undecodable"
    assert type(error).__name__ in rejected.detail


def test_a_bug_in_cxrpipe_fails_the_task_instead_of_rejecting_every_image(monkeypatch):
    from cxrpipe.preprocessing import task as tasks
    from cxrpipe.imageops import RenderParams

    def buggy(data, params):
        return len(None)  # a TypeError, as a bug would raise

    monkeypatch.setattr(tasks, "render", buggy)
    with pytest.raises(TypeError):
        tasks._process(_work_item(), b"bytes", RenderParams())


@pytest.mark.parametrize("color", [False, True])
@pytest.mark.parametrize("scale", [2, 4, 8])
def test_a_corrupt_large_jpeg_is_rejected_by_the_reduced_decode_too(color, scale):
    """The reduced (DCT-scaled) decode is the default for large JPEGs: it must be as strict."""
    from cxrpipe.decode import decode_with_header as decode_gray

    data = jpeg((1600, 1600), color=color)
    start = scan(data)
    corrupt = data[:start] + b"\x00" * (len(data) - 2 - start) + data[-2:]
    flag = {2: cv2.IMREAD_REDUCED_GRAYSCALE_2, 4: cv2.IMREAD_REDUCED_GRAYSCALE_4, 8: cv2.IMREAD_REDUCED_GRAYSCALE_8}[scale]
    assert cv2.imdecode(np.frombuffer(corrupt, np.uint8), flag) is not None  # OpenCV's reduced read takes it
    with pytest.raises(ImageRejected) as rejected:
        decode_gray(corrupt, 50_000_000, reduce_to=1600 // scale)
    assert rejected.value.reason in ("truncated", "undecodable")
    # The intact file decodes at that scale to OpenCV's reduced gray pixels exactly.
    _, _, _, gray = decode_gray(data, 50_000_000, reduce_to=1600 // scale)
    assert np.array_equal(gray, cv2.imdecode(np.frombuffer(data, np.uint8), flag))
