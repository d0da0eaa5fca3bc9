"""The work of one preprocessing task, run inside a Spark executor (no pyspark needed here).

A task fetches its images (a few reads in flight while it decodes), renders them, writes the
JPEGs, its index part and its rejects part straight to storage, and returns a small summary to
the driver. Image bytes never travel to the driver.
"""

from __future__ import annotations

import dataclasses
import logging
import resource
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

import cv2

from .. import storage, tables
from ..errors import ImageRejected, UnreadableObject
from ..imageops import Rendered, RenderParams, render
from ..layout import image_path, table_part
from ..prefetch import in_order
from ..shards.writer import version_from_row
from .plan import WorkItem

log = logging.getLogger(__name__)

# What a bad image can make OpenCV, numpy and the codecs raise once the decoders' own checks
# passed: a reject. pydicom's errors are mapped to rejects inside cxrpipe.dicom.
BAD_IMAGE_ERRORS = (cv2.error, ValueError, MemoryError, OverflowError)

IO_THREADS = 4


@dataclass(frozen=True)
class JobContext:
    """What every task of a job shares (picklable: Spark ships it to the executors)."""

    images_root: str
    output_root: str
    storage: storage.StorageConfig
    render: RenderParams
    classes: tuple[str, ...]
    augment_splits: tuple[str, ...] = ("train",)
    version: int = 1   # the dataset version being written (names its tables' folder)

    def params_for(self, split: str) -> RenderParams:
        """Flips only in the splits that want augmentation (training, by default)."""
        if split in self.augment_splits:
            return self.render
        return dataclasses.replace(self.render, flips=())


@dataclass
class TaskResult:
    """The small summary a task returns to the driver."""

    task: int
    inputs: int = 0
    written: Counter = field(default_factory=Counter)      # (split, class, augmentation) -> JPEGs
    images: Counter = field(default_factory=Counter)       # split -> source images written
    positives: dict = field(default_factory=dict)          # split -> per-class positive counts
    rejects: Counter = field(default_factory=Counter)      # reason -> inputs
    files: list = field(default_factory=list)              # manifest entries of the parts
    jpeg_bytes: int = 0
    peak_rss_mb: float = 0.0                               # of the Python worker, so far


def peak_rss_mb() -> float:
    """This process's peak resident memory (Linux reports KiB); Python workers are reused, so
    this is the worker's peak over every task it ran."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_task(task: int, items: tuple[WorkItem, ...], ctx: JobContext, on_version=None) -> TaskResult:
    """Process every item of one task and write its outputs.

    Args:
        on_version: called with (Version, JPEG bytes) once per written version (its primary
            copy), so `cxrpipe run` can shard without reading the JPEGs back.

    Raises:
        OSError: storage failed after its retries (the task fails and Spark may retry it; a
            retry rewrites the same keys with the same bytes).
    """
    # Spark runs one Python worker per core: OpenCV's own thread pool on top would
    # oversubscribe the cores (the work is per image, so parallelism comes from the tasks).
    cv2.setNumThreads(1)
    result = TaskResult(task=task, inputs=len(items))
    index_rows, reject_rows = [], []
    with ThreadPoolExecutor(IO_THREADS, thread_name_prefix="cxrpipe-io") as pool:
        writes = _Writes(pool)
        for item, fetched in _prefetch(items, ctx, pool):
            outcome = _process(item, fetched, ctx.params_for(item.split))
            if isinstance(outcome, ImageRejected):
                reject_rows.append(_reject_row(item, outcome))
                result.rejects[outcome.reason] += 1
                continue
            rows = _write_versions(item, outcome, ctx, writes, result, fetched[1])
            index_rows.extend(rows)
            if on_version is not None:
                _emit_versions(rows, outcome, on_version)
        writes.wait_all()
    result.files.append(write_part("index", index_rows, tables.INDEX_SCHEMA, task, ctx))
    result.files.append(write_part("rejects", reject_rows, tables.REJECTS_SCHEMA, task, ctx))
    result.peak_rss_mb = peak_rss_mb()
    return result


def _prefetch(items, ctx: JobContext, pool: ThreadPoolExecutor):
    """(item, (bytes, source tag) | ImageRejected | None) in order, a few reads in flight; None
    for items the index already rejected (nothing to read)."""
    calls = (partial(_read, storage.join(ctx.images_root, item.source), ctx.storage)
             if item.rejected is None else _nothing for item in items)
    return zip(items, in_order(pool, calls))


def _nothing() -> None:
    return None


def _read(uri: str, config: storage.StorageConfig) -> tuple[bytes, str] | ImageRejected:
    try:
        return storage.read_tagged(uri, config)
    except FileNotFoundError:
        return ImageRejected("missing", f"no object at {uri}")
    except UnreadableObject as exc:
        return ImageRejected("read_error", str(exc))


def _process(item: WorkItem, fetched, params: RenderParams) -> Rendered | ImageRejected:
    if item.rejected:
        return ImageRejected(*item.rejected)
    if isinstance(fetched, ImageRejected):
        return fetched
    try:
        return render(fetched[0], params)
    except ImageRejected as rejected:
        return rejected
    except BAD_IMAGE_ERRORS as exc:
        # A failure the decoders did not foresee must not kill a 100k-image job; the reject
        # row keeps it visible with the library's own words. Anything else (a TypeError, a
        # NameError) is a bug in cxrpipe and fails the task, so that it cannot hide as rejects.
        log.warning("unexpected decoder failure on %s: %r", item.image_id, exc)
        return ImageRejected("undecodable", f"{type(exc).__name__}: {exc}")


def _write_versions(item: WorkItem, rendered: Rendered, ctx: JobContext, writes, result, tag: str) -> list[dict]:
    rows = []
    positives = result.positives.setdefault(item.split, [0] * len(ctx.classes))
    for i, flag in enumerate(item.multi_hot):
        positives[i] += flag
    result.images[item.split] += 1
    # A multi-label image's copies share their bytes: one checksum per version.
    digests = {augmentation: storage.sha256(jpeg) for augmentation, jpeg in rendered.versions}
    for partition in item.partitions:
        for augmentation, jpeg in rendered.versions:
            path = image_path(item.split, partition, item.stem, augmentation)
            writes.put(storage.join(ctx.output_root, path), jpeg, ctx.storage)
            result.written[(item.split, partition, augmentation)] += 1
            result.jpeg_bytes += len(jpeg)
            rows.append(_index_row(item, rendered, partition, augmentation, path, jpeg,
                                   digests[augmentation], ctx.render.size, tag))
    return rows


def _emit_versions(rows: list[dict], rendered: Rendered, on_version) -> None:
    jpegs = dict(rendered.versions)
    for row in rows:
        if row["primary"]:
            on_version(version_from_row(row), jpegs[row["augmentation"]])


def _index_row(item, rendered, partition, augmentation, path, jpeg, digest, size, tag) -> dict:
    return {
        "image_id": item.image_id, "patient_id": item.patient_id, "split": item.split,
        "partition": partition, "augmentation": augmentation,
        "primary": partition == item.partitions[0], "path": path,
        "bytes": len(jpeg), "sha256": digest, "height": size, "width": size,
        "multi_hot": list(item.multi_hot), "uncertain": list(item.uncertain), "view": item.view,
        "source": item.source, "source_format": rendered.source_format,
        "source_height": rendered.source_height, "source_width": rendered.source_width,
        "source_etag": tag,
    }


def _reject_row(item: WorkItem, rejected: ImageRejected) -> dict:
    return {"image_id": item.image_id, "source": item.source,
            "reason": rejected.reason, "detail": rejected.detail}


def write_part(table: str, rows: list[dict], schema, task: int, ctx: JobContext) -> dict:
    data = tables.to_parquet(rows, schema)
    path = table_part(table, task, ctx.version)
    storage.write_bytes(storage.join(ctx.output_root, path), data, ctx.storage)
    return {"path": path, "bytes": len(data), "sha256": storage.sha256(data), "records": len(rows)}


class _Writes:
    """Writes in flight on the I/O pool, bounded so a slow store cannot pile up memory."""

    MAX_IN_FLIGHT = 32

    def __init__(self, pool: ThreadPoolExecutor):
        self._pool = pool
        self._pending: deque[Future] = deque()

    def put(self, uri: str, data: bytes, config: storage.StorageConfig) -> None:
        while len(self._pending) >= self.MAX_IN_FLIGHT:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(storage.write_bytes, uri, data, config))

    def wait_all(self) -> None:
        while self._pending:
            self._pending.popleft().result()
