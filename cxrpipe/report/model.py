"""What a report page shows, gathered by the shell and rendered by ``page``. Pure data."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..manifest import Manifest
from .sampling import RejectSummary, Sample


@dataclass(frozen=True)
class ShownSample:
    """A sample with its pictures as data URIs.

    Attributes:
        source_uri: the source shrunk for display, or None when it could not be shown.
        source_note: why the source is not shown ("" when it is).
        version_uris: augmentation -> the JPEG written for it, byte for byte.
        before, after: 256-bin intensity counts of the source resized to the output size and
            of the CLAHE JPEG (None when either is missing).
    """

    sample: Sample
    source_uri: str | None
    source_note: str
    version_uris: dict[str, str]
    before: np.ndarray | None = None
    after: np.ndarray | None = None


@dataclass(frozen=True)
class ReportData:
    """Everything the page needs; nothing in it refers to storage.

    Attributes:
        dataset_uri: the dataset root the report describes.
        manifest: its ``_MANIFEST.json``.
        samples: class -> shown samples, for every class of the manifest.
        seed, per_class: how the samples were chosen.
        before, after: 256-bin intensity counts over the sampled images (source resized vs CLAHE).
        histogram_images: how many distinct images those histograms cover.
        cooccurrence: class × class image counts from the index.
        rejects: rejects by reason with examples.
    """

    dataset_uri: str
    manifest: Manifest
    samples: dict[str, list[ShownSample]]
    seed: int
    per_class: int
    before: np.ndarray
    after: np.ndarray
    histogram_images: int
    cooccurrence: np.ndarray
    rejects: RejectSummary = field(default_factory=RejectSummary)
