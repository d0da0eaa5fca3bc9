"""The report's I/O shell: read what the page shows, through ``cxrpipe.storage``, and write it.

It reads the manifest, the index and rejects parts the manifest lists (the catalog: small
metadata), then only the sampled JPEGs and their sources, never a listing and never the rest
of the images. Reads go through one ``read(uri) -> bytes`` collaborator, several at a time.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .. import layout, storage, tables
from ..dataset import read_manifest, require_images
from ..decode import decode_gray8
from ..errors import ImageRejected, UserError
from ..imageops import RenderParams
from ..manifest import Manifest
from . import page, pixels
from .model import ReportData, ShownSample
from .sampling import Cooccurrence, RejectSummary, SamplePicker

log = logging.getLogger(__name__)

READ_THREADS = 8
REPORT_NAME = "index.html"


def write_report(uri: str, out_dir, config: storage.StorageConfig, seed: int = 0, per_class: int = 3,
                 read=None, version: int | None = None) -> Path:
    """Write the HTML report of the dataset at ``uri`` to ``out_dir/index.html``.

    Args:
        uri: a preprocess or run dataset root (``s3://`` or local).
        out_dir: a local folder, created if needed.
        config: how to reach storage.
        seed: chooses the samples; the same seed gives the same page, byte for byte.
        per_class: samples shown per class.
        read: ``read(uri) -> bytes`` (default: ``storage.read_bytes`` with ``config``).
        version: the version to report on (default: the current one).

    Returns:
        The path of the page.

    Raises:
        UserError: no finished dataset at ``uri``, or one without an index (a shards output).
    """
    if Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise UserError(f"--out {out_dir} is a file: name a folder for the report")
    data = gather(uri, config, seed=seed, per_class=per_class, read=read, version=version)
    path = Path(out_dir) / REPORT_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(page.render_page(data), encoding="utf-8")
    os.replace(tmp, path)
    log.info("report of %s written to %s", uri, path)
    return path


def gather(uri: str, config: storage.StorageConfig, seed: int = 0, per_class: int = 3, read=None,
           version: int | None = None) -> ReportData:
    """Everything the page shows, read from the dataset at ``uri`` (see ``write_report``)."""
    read = read or (lambda u: storage.read_bytes(u, config))
    built = require_images(uri, read_manifest(uri, read, version), "report on its input instead")
    try:
        render, images_root = built.render_params(), built.preprocessing_option("images")
        picker = SamplePicker(seed, per_class, built.preprocessing_option("augment_splits"))
    except ValueError as exc:
        raise UserError(str(exc)) from None
    cooccurrence, rejects = Cooccurrence(len(built.classes)), RejectSummary()
    for path, rows in _catalog_rows(uri, built, read):
        if path.startswith("index/"):
            picker.add(rows)
            cooccurrence.add(rows)
        else:
            rejects.add(rows)
    samples = picker.samples(built.partitions())
    shown, before, after, n = _pictures(uri, images_root, render, samples, read)
    return ReportData(dataset_uri=uri, manifest=built, samples=shown, seed=seed, per_class=per_class,
                      before=before, after=after, histogram_images=n,
                      cooccurrence=cooccurrence.matrix, rejects=rejects)


def _try_read(u: str, read):
    """The bytes at ``u``, or the exception reading raised (shown on the page, not raised)."""
    try:
        return read(u)
    except (OSError, UserError) as exc:  # FileNotFoundError included
        return exc


def _map(fn, items: list) -> list:
    """``fn`` over ``items`` on a few threads (storage waits and OpenCV both release the GIL), in order."""
    with ThreadPoolExecutor(READ_THREADS) as pool:
        return list(pool.map(fn, items))


def _catalog_rows(uri: str, built: Manifest, read):
    """(path, rows) of each index and rejects part the manifest lists."""
    paths = [f["path"] for f in built.files_under(layout.INDEX) + built.files_under(layout.REJECTS)]
    log.info("reading %d index and rejects parts of %s", len(paths), uri)
    batch = READ_THREADS * 4  # parts in memory at once: a catalog of any size streams through
    for start in range(0, len(paths), batch):
        chunk = paths[start:start + batch]
        for path, data in zip(chunk, _map(lambda p: _try_read(storage.join(uri, p), read), chunk)):
            if isinstance(data, Exception):
                raise UserError(f"{path} is listed in the manifest but cannot be read: {data}; "
                                f"run cxrpipe verify {uri}")
            yield path, tables.from_parquet(data)


def _pictures(uri: str, root: str | None, render: RenderParams, samples: dict, read):
    """Data URIs of the sampled JPEGs and sources, and the before/after histograms over them."""
    every = [s for shown in samples.values() for s in shown]
    jpegs = sorted({path for s in every for _, path in s.versions})
    sources = sorted({s.source for s in every})
    log.info("reading %d sampled JPEGs and %d sources", len(jpegs), len(sources))
    jpeg_bytes = dict(zip(jpegs, _map(lambda p: _try_read(storage.join(uri, p), read), jpegs)))
    decoded = {}
    if root:
        views = _map(lambda s: _source_view(_try_read(storage.join(root, s), read), render), sources)
        decoded = dict(zip(sources, views))
    shown = {cls: [_shown(s, jpeg_bytes, decoded) for s in group] for cls, group in samples.items()}
    before, after, n = _totals(s for group in shown.values() for s in group)
    return shown, before, after, n


def _source_view(data, render: RenderParams):
    """(display JPEG, resized array) of a source's bytes, or a note saying why there is none."""
    if isinstance(data, FileNotFoundError):
        return "source no longer exists"
    if isinstance(data, Exception):
        return f"source unreadable: {data}"
    try:
        gray = decode_gray8(data, render.max_pixels)
    except ImageRejected as exc:
        return f"source not decodable: {exc.reason}"
    return pixels.source_views(gray, render.size)


def _shown(sample, jpeg_bytes: dict, decoded: dict) -> ShownSample:
    view = decoded.get(sample.source, "source root unknown")
    versions = {aug: pixels.data_uri(jpeg_bytes[path]) for aug, path in sample.versions
                if _is_jpeg(jpeg_bytes.get(path))}
    if isinstance(view, str):
        return ShownSample(sample, None, view, versions)
    clahe = _decoded_jpeg(jpeg_bytes.get(dict(sample.versions).get("none")))
    if clahe is None:
        return ShownSample(sample, pixels.data_uri(view[0]), "", versions)
    return ShownSample(sample, pixels.data_uri(view[0]), "", versions,
                       pixels.intensity_histogram(view[1]), pixels.intensity_histogram(clahe))


def _is_jpeg(data) -> bool:
    return isinstance(data, bytes) and data[:2] == b"\xff\xd8"


def _decoded_jpeg(data):
    if not _is_jpeg(data):
        return None
    try:
        return pixels.decode_jpeg_gray(data)
    except ValueError:
        return None


def _totals(shown):
    """Before/after counts summed over distinct images that have both; and how many there are."""
    before, after = np.zeros(256, np.int64), np.zeros(256, np.int64)
    seen = set()
    for s in shown:
        if s.before is None or s.sample.image_id in seen:
            continue
        seen.add(s.sample.image_id)
        before += s.before
        after += s.after
    return before, after, len(seen)
