"""DICOM through one lookup table against the float path it replaces.

The reference is the float path (`cxrpipe.dicom.float_gray8`): pydicom's modality LUT and
VOI LUT/window over every pixel in float64, min-max scaling, MONOCHROME1 inverted. Each case
measures the mean absolute difference and the maximum of the table path against it; the
table applies the same float32 arithmetic to each stored value, so both are 0 everywhere
measured. Synthetic files are written by pydicom here; the real CR is pydicom-data's.
"""

from io import BytesIO

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import pixel_array
from pydicom.uid import ExplicitVRLittleEndian

from cxrpipe import dicom
from dicoms import dicom_bytes
from cxrpipe.decode import decode_gray8

LIMIT = 50_000_000


def stored_values(bits_stored: int, signed: bool, shape=(96, 80), seed=0) -> np.ndarray:
    """A gradient with a bright disc and noise spanning the whole stored range."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:shape[0], 0:shape[1]]
    unit = 0.6 * x / shape[1] + 0.3 * (y / shape[0]) ** 2
    unit[(y - shape[0] / 3) ** 2 + (x - shape[1] / 4) ** 2 < (shape[1] / 6) ** 2] += 0.1
    unit = np.clip(unit + rng.normal(0, 0.02, shape), 0, 1)
    low = -(2 ** (bits_stored - 1)) if signed else 0
    values = np.rint(low + unit * (2 ** bits_stored - 1)).astype(np.int64)
    dtype = (np.int16 if signed else np.uint16) if bits_stored > 8 else (np.int8 if signed else np.uint8)
    return values.astype(dtype)


def lut_item(entries: np.ndarray, first_map: int, bits: int, **elements) -> Dataset:
    item = Dataset()
    # Both are of ambiguous VR: a negative first mapped value needs SS, the data US words.
    item.add_new("LUTDescriptor", "SS" if first_map < 0 else "US", [len(entries), first_map, bits])
    item.add_new("LUTData", "US", [int(v) for v in entries])
    for keyword, value in elements.items():
        setattr(item, keyword, value)
    return item


def float_reference(data: bytes) -> np.ndarray:
    ds = pydicom.dcmread(BytesIO(data))
    return dicom.float_gray8(ds, pixel_array(ds, index=0), str(ds.PhotometricInterpretation))


def differences(data: bytes) -> tuple[float, int]:
    """(mean absolute difference, maximum) of the decoded image against the float path."""
    diff = np.abs(decode_gray8(data, LIMIT).astype(np.int16) - float_reference(data))
    return float(diff.mean()), int(diff.max())


def window(center, width, function=None) -> dict:
    return {"WindowCenter": center, "WindowWidth": width,
            **({"VOILUTFunction": function} if function else {})}


CASES = {
    # Window functions, each with a window covering part of the range (clipping shows).
    "LINEAR u12": (12, False, "MONOCHROME2", window(2000, 1500)),
    "LINEAR_EXACT u12": (12, False, "MONOCHROME2", window(2000, 1500, "LINEAR_EXACT")),
    "SIGMOID u12": (12, False, "MONOCHROME2", window(2000, 1500, "SIGMOID")),
    "SIGMOID MONOCHROME1 s14": (14, True, "MONOCHROME1", window(0, 9000, "SIGMOID")),
    # Bits stored, signedness, photometric interpretation, no window: min-max of the values.
    "u10": (10, False, "MONOCHROME2", {}),
    "s10 MONOCHROME1": (10, True, "MONOCHROME1", {}),
    "u14 MONOCHROME1": (14, False, "MONOCHROME1", {}),
    "s12": (12, True, "MONOCHROME2", {}),
    "u16": (16, False, "MONOCHROME2", {}),
    "s16 window": (16, True, "MONOCHROME2", window(-500, 20000)),
    "u8": (8, False, "MONOCHROME2", window(100, 80)),
    "s8 MONOCHROME1": (8, True, "MONOCHROME1", {}),
    # Rescale slope/intercept, alone and under a window in the rescaled units (CT-like).
    "rescale s12": (12, True, "MONOCHROME2", {"RescaleSlope": 0.5, "RescaleIntercept": -1024}),
    "rescale + window u12": (12, False, "MONOCHROME2",
                             {"RescaleSlope": 1, "RescaleIntercept": -1024, **window(40, 400)}),
    "rescale + LINEAR_EXACT u16 MONOCHROME1": (16, False, "MONOCHROME1",
                                               {"RescaleSlope": 2.5, "RescaleIntercept": 100,
                                                **window(60000, 50000, "LINEAR_EXACT")}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_table_matches_the_float_path(name):
    bits, signed, photometric, elements = CASES[name]
    data = dicom_bytes(stored_values(bits, signed), photometric, bits_stored=bits, **elements)
    mean, worst = differences(data)
    assert (mean, worst) == (0.0, 0), f"{name}: mean {mean:.3f}, max {worst}"


@pytest.mark.parametrize("signed", [False, True])
def test_voi_lut_sequence_matches_the_float_path(signed):
    bits = 12
    pixels = stored_values(bits, signed)
    first_map = -2048 if signed else 0
    # A gamma-like curve over part of the range: values outside it clip to its ends.
    entries = np.rint(65535 * np.linspace(0, 1, 3000) ** 0.6).astype(np.uint16)
    data = dicom_bytes(pixels, bits_stored=bits, VOILUTSequence=[lut_item(entries, first_map + 500, 16)])
    assert "VOILUTSequence" in pydicom.dcmread(BytesIO(data))
    assert differences(data) == (0.0, 0)


def test_non_monotone_voi_lut_scales_over_the_values_that_occur():
    # A LUT that bends back: its extremes over the stored range are not at the smallest and
    # largest stored values, so the table must range over what the pixels hold.
    pixels = stored_values(12, False)
    entries = np.rint(30000 + 30000 * np.sin(np.linspace(0, 3 * np.pi, 4096))).astype(np.uint16)
    data = dicom_bytes(pixels, bits_stored=12, VOILUTSequence=[lut_item(entries, 0, 16)])
    assert differences(data) == (0.0, 0)
    # The histogram branch really ran: the range endpoints alone give another scaling.
    ds = pydicom.dcmread(BytesIO(data))
    values = dicom._transformed(ds, dicom._every_value(np.dtype(np.uint16)))
    ends = values[[pixels.min(), pixels.max()]].astype(float)
    occurring = values[np.unique(pixels)].astype(float)
    assert (occurring.min(), occurring.max()) != (ends.min(), ends.max())


def test_modality_lut_sequence_then_window_matches_the_float_path():
    pixels = stored_values(10, False)
    entries = np.rint(np.linspace(0, 4095, 1024) ** 1.1 / 4095 ** 0.1).astype(np.uint16)  # 12-bit values
    data = dicom_bytes(pixels, bits_stored=10, ModalityLUTSequence=[lut_item(entries, 0, 16, ModalityLUTType="US")],
                      **window(1500, 2000))
    assert differences(data) == (0.0, 0)


def test_real_cr_matches_the_float_path():
    from pydicom.data import get_testdata_file

    data = open(get_testdata_file("RG1_UNCR.dcm"), "rb").read()
    ds = pydicom.dcmread(BytesIO(data))
    assert (ds.PhotometricInterpretation, ds.BitsAllocated, ds.Rows, ds.Columns) == (
        "MONOCHROME1", 16, 1955, 1841)
    mean, worst = differences(data)
    assert (mean, worst) == (0.0, 0), f"RG1_UNCR: mean {mean:.3f}, max {worst}"


def test_float_pixel_data_takes_the_float_path():
    values = stored_values(12, False).astype(np.float32) / 7.0
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.Rows, ds.Columns = values.shape
    ds.SamplesPerPixel, ds.BitsAllocated, ds.PhotometricInterpretation = 1, 32, "MONOCHROME2"
    ds.FloatPixelData = values.tobytes()
    buf = BytesIO()
    ds.save_as(buf, implicit_vr=False, little_endian=True)
    out = decode_gray8(buf.getvalue(), LIMIT)
    expected = np.rint((values - values.min()) * (255 / (values.max() - values.min())))
    assert np.abs(out - expected).max() <= 1


@pytest.mark.parametrize("dtype, applies", [
    (np.uint8, True), (np.int8, True), (np.uint16, True), (np.int16, True),
    (np.uint32, False), (np.int32, False), (np.float32, False), (np.float64, False),
])
def test_table_covers_integer_types_up_to_16_bits(dtype, applies):
    assert dicom.table_applies(np.dtype(dtype)) is applies


def test_lookup_indexes_signed_values_by_their_bit_pattern():
    pixels = np.array([[-32768, -1, 0, 32767]], np.int16)
    table = (np.arange(65536) // 256).astype(np.uint8)  # entry i holds its high byte
    domain = dicom._every_value(np.dtype(np.int16))
    assert domain[[0, 32767, 32768, 65535]].tolist() == [0, 32767, -32768, -1]
    assert dicom.lookup(table, pixels).tolist() == [[128, 255, 0, 127]]
