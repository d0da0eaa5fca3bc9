"""`cxrpipe verify`: re-read a dataset root against its manifest and list every mismatch.

The work is split by the files the manifest lists: each file gets a ``FileReport`` (its size and
checksum; for an index part, every JPEG it lists and the labels of its images; for a shard, every
record's CRCs and spec), and the driver merges the reports and checks the manifest's numbers
against the sums. The driver holds the manifest and the merged counts, never the rows, so the
same code runs the files through a thread pool (a small local dataset) or as a Spark job.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from . import features, history, layout, manifest, storage, tables
from .dataset import BadManifest, NoDataset, open_dataset
from .manifest import Manifest
from .tfrecord import CorruptRecord, decode_example, iter_records

log = logging.getLogger(__name__)

READ_THREADS = 8
PROBLEMS_PER_FILE = 20          # a damaged file names its first few problems, not thousands
# Written by a running job, never listed: a leftover of a killed one is not a stale dataset file.


@dataclass
class FileReport:
    """What checking one listed file found; small, whatever the file's size.

    ``counts`` / ``shard_counts``: (split, partition, augmentation) -> index rows / shard records.
    ``images`` and ``positives``, per source (``index`` or ``tfrecords``): images per split and
    per-class positives of the images an index part lists, or a shard holds primary in their
    original version. ``listed``: 8-byte digests of the JPEG paths an index part lists.
    """

    problems: list[str] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    shard_counts: Counter = field(default_factory=Counter)
    images: dict = field(default_factory=dict)
    positives: dict = field(default_factory=dict)
    rejects: int = 0
    listed: bytes = b""

    def fold(self, source: str, labels: dict) -> "FileReport":
        """Count the images of ``labels`` ((split, id) -> multi-hot) under ``source``."""
        images, positives = self.images.setdefault(source, Counter()), self.positives.setdefault(source, {})
        for (split, _), hot in labels.items():
            images[split] += 1
            positives[split] = _add(positives.get(split), hot)
        return self


def _add(a, b):
    return list(b) if a is None else [x + y for x, y in zip(a, b)]


@dataclass
class Verdict:
    """What ``verify`` found: problems (exit 1) and files no manifest lists (a warning)."""

    problems: list[str] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FileCheck:
    """One listed file to check (picklable: Spark ships it to the executors)."""

    root: str
    entry: dict
    num_classes: int
    config: storage.StorageConfig


def check_file(check: FileCheck) -> FileReport:
    """Check one file the manifest lists; never raises for what it finds, only for storage
    failures (which fail the job: a rerun of verify may pass)."""
    path = check.entry["path"]
    try:
        data = storage.read_bytes(storage.join(check.root, path), check.config)
    except FileNotFoundError:
        return FileReport(problems=[f"{path}: listed in the manifest but missing"])
    problems = _file_problems(path, data, check.entry)
    if problems:
        return FileReport(problems=problems)
    top = layout.top_folder(path)
    if top == layout.INDEX:
        return _check_index_part(check, data)
    if top == layout.REJECTS:
        return FileReport(rejects=len(tables.from_parquet(data)))
    if top == layout.TFRECORDS:
        return _check_shard(path, data, check.entry, check.num_classes)
    return FileReport()


def _file_problems(path: str, data: bytes, expected: dict) -> list[str]:
    if len(data) != expected["bytes"]:
        return [f"{path}: size {len(data)} bytes, manifest says {expected['bytes']}"]
    if storage.sha256(data) != expected["sha256"]:
        return [f"{path}: SHA-256 differs from the manifest's"]
    return []


def _check_index_part(check: FileCheck, data: bytes) -> FileReport:
    rows = tables.from_parquet(data)
    report = FileReport(counts=Counter((r["split"], r["partition"], r["augmentation"]) for r in rows))
    expected = {r["path"]: r for r in rows}
    if len(expected) != len(rows):
        report.problems.append(f"{check.entry['path']}: lists a JPEG more than once")

    def read(path: str):
        try:
            return path, storage.read_bytes(storage.join(check.root, path), check.config)
        except FileNotFoundError:
            return path, None

    with ThreadPoolExecutor(READ_THREADS) as pool:
        for path, jpeg in pool.map(read, sorted(expected)):
            found = ([f"{path}: listed in the index but missing"] if jpeg is None
                     else _file_problems(path, jpeg, expected[path]))
            report.problems.extend(found[: PROBLEMS_PER_FILE - len(report.problems)])
    report.listed = path_digests(expected).tobytes()
    return report.fold(layout.INDEX, {(r["split"], r["image_id"]): list(r["multi_hot"]) for r in rows})


def _check_shard(path: str, data: bytes, entry: dict, num_classes: int) -> FileReport:
    """CRCs, record count and spec of one shard, its records' counts and primary images."""
    report, labels, n = FileReport(), {}, 0
    try:
        for n, record in enumerate(iter_records(data), start=1):
            parsed = decode_example(record)
            problems = features.validate_example(parsed, num_classes)
            if problems:
                return FileReport(problems=[f"{path}: record {n}: {'; '.join(problems)}"])
            key = tuple(parsed[k][0].decode() for k in (features.SPLIT, features.PARTITION, features.AUGMENTATION))
            report.shard_counts[key] += 1
            if parsed[features.PRIMARY][0] == 1 and key[2] == "none":
                labels[(key[0], parsed[features.ID][0].decode())] = list(parsed[features.CLASS_MULTI_HOT])
    except (CorruptRecord, ValueError) as exc:
        return FileReport(problems=[f"{path}: {exc}"])
    if n != entry["records"]:
        return FileReport(problems=[f"{path}: {n} records, manifest says {entry['records']}"])
    return report.fold(layout.TFRECORDS, labels)


def path_digest(path: str) -> int:
    """A path's 8-byte digest: what the unlisted-file check holds per listed JPEG."""
    return int.from_bytes(hashlib.sha256(path.encode()).digest()[:8], "big")


def path_digests(paths) -> np.ndarray:
    """uint64 digests of paths (unsorted: the driver sorts all parts' digests once)."""
    return np.array([path_digest(p) for p in paths], dtype=np.uint64)


def merge(reports) -> FileReport:
    """One report for many (the order does not matter)."""
    total, listed = FileReport(), []
    for report in reports:
        total.problems.extend(report.problems)
        total.counts.update(report.counts)
        total.shard_counts.update(report.shard_counts)
        for source, images in report.images.items():
            total.images.setdefault(source, Counter()).update(images)
        for source, positives in report.positives.items():
            merged = total.positives.setdefault(source, {})
            for split, hot in positives.items():
                merged[split] = _add(merged.get(split), hot)
        total.rejects += report.rejects
        listed.append(report.listed)
    total.listed = b"".join(listed)
    return total


def thread_map(function, items):
    """The single-process way of checking files: a thread pool (GETs overlap)."""
    with ThreadPoolExecutor(READ_THREADS) as pool:
        return list(pool.map(function, items))


def verify_dataset(root: str, config: storage.StorageConfig, choose_map=lambda built: thread_map,
                   version: int | None = None) -> Verdict:
    """Every problem found in the dataset at ``root``; no problem means it is whole.

    Checks the manifest's own checksum, each file it lists (size, SHA-256), each JPEG the index
    lists (size, SHA-256), the index's counts against the manifest's, the rejects' total, the
    manifest's inputs, images, positives and class weights against the rows or records, and in
    each TFRecord shard every record's CRCs, the record count, and every Example against the
    spec. Files under the root that nothing lists are reported apart.

    Args:
        choose_map: given the manifest, the ``map_files(check_file, [FileCheck, ...])`` that
            checks the files: ``thread_map`` here, a Spark job (``cxrpipe.spark.verify``) for
            large or remote datasets.
        version: the version to check (default: the current one).
    """
    try:
        built = open_dataset(root, config, version).manifest
    except (NoDataset, BadManifest) as exc:  # a store that cannot be reached stays a UserError
        return Verdict([str(exc)])
    checks = [FileCheck(root, entry, len(built.classes), config) for entry in built.files]
    total = merge(choose_map(built)(check_file, checks))
    problems = total.problems + _check_totals(built, total)
    return Verdict(problems, _unlisted(root, built, np.sort(np.frombuffer(total.listed, np.uint64)), config))


def _check_totals(built: Manifest, total: FileReport) -> list[str]:
    problems = []
    if built.has_images:
        if manifest.nested_counts(total.counts) != built.counts:
            problems.append("index counts per split x class x augmentation differ from the manifest's")
        if total.rejects != built.rejects["total"]:
            problems.append(f"rejects table has {total.rejects} rows, manifest says {built.rejects['total']}")
    if manifest.nested_counts(total.shard_counts) != built.shard_records:
        problems.append("TFRecord counts per split x class x augmentation differ from the manifest's")
    return problems + _check_numbers(built, total)


def _check_numbers(built: Manifest, total: FileReport) -> list[str]:
    """The manifest's inputs, images per split, positives and class weights, recomputed from
    the rows (preprocess, run) or the shard records (shards): they feed the trainer's loss."""
    source = layout.INDEX if built.has_images else layout.TFRECORDS
    images, positives = dict(total.images.get(source, {})), total.positives.get(source, {})
    problems = []
    if built.has_images and built.inputs != sum(images.values()) + total.rejects:
        problems.append(f"manifest says {built.inputs} inputs; the index and rejects hold "
                        f"{sum(images.values()) + total.rejects}")
    if built.images != images:
        problems.append(f"manifest's images per split {built.images} differ from those found {images}")
    if built.positives != positives:
        problems.append("manifest's positives per split and class differ from the labels found")
    if built.class_weights != manifest.class_weights(images, positives, built.classes):
        problems.append("manifest's class weights differ from N/N_l of the images found")
    return problems


def _unlisted(root: str, built: Manifest, listed: np.ndarray, config) -> list[str]:
    """Files under the root that neither the manifest nor its index parts list (left by an
    earlier run with other parameters, or put there by hand)."""
    files = {f["path"] for f in built.files} | _other_versions(root, built, config)
    unlisted = []
    for key in storage.iter_keys(root, config):
        if key in files or key.startswith(layout.TRANSIENT + (layout.MANIFESTS + "/",)):
            continue
        digest = np.uint64(path_digest(key))
        at = np.searchsorted(listed, digest)
        if at >= len(listed) or listed[at] != digest:
            unlisted.append(key)
    return sorted(unlisted)


def _other_versions(root: str, built: Manifest, config) -> set[str]:
    """Files the root's other versions list: kept to go back to (until gc), not left over."""
    listed: set[str] = set()
    for number in history.version_numbers(root, config):
        if number != built.version:
            try:
                listed |= history.listed_files(root, history.read_version(root, config, number), config)
            except (NoDataset, BadManifest) as exc:
                log.warning("version %d of %s cannot be read (%s); its files count as unlisted", number, root, exc)
    return listed
