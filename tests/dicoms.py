"""DICOM files written by pydicom for the tests (preamble and file meta, as scanners write them)."""

from __future__ import annotations

from io import BytesIO


def dicom_bytes(pixels=None, photometric="MONOCHROME2", rows=64, columns=48, bits_stored=None, **elements) -> bytes:
    """A DICOM file; ``pixels`` None gives one without PixelData.

    Args:
        bits_stored: BitsStored of ``pixels`` (default: all the bits of its dtype).
        elements: further data elements by keyword (WindowCenter=..., RescaleSlope=...,
            VOILUTSequence=[...]).
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, "1.2.3.4"
    if pixels is None:
        ds.Rows, ds.Columns, ds.SamplesPerPixel = rows, columns, 1
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    else:
        ds.set_pixel_data(pixels, "MONOCHROME2", bits_stored or pixels.dtype.itemsize * 8)
    ds.PhotometricInterpretation = photometric
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()
