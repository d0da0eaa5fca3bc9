"""`cxrpipe verify`: re-read a dataset root against its manifest and list every mismatch."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from . import features, manifest, storage, tables
from .errors import UnreadableObject
from .lease import LEASE_NAME
from .tfrecord import CorruptRecord, decode_example, iter_records

READ_THREADS = 8


def load_manifest(root: str, config: storage.StorageConfig) -> dict:
    """The manifest of the dataset root ``root``.

    Raises:
        FileNotFoundError: no manifest (the job never finished, or not a dataset root).
        ValueError: not a readable cxrpipe manifest.
    """
    uri = storage.join(root, manifest.MANIFEST_NAME)
    try:
        data = storage.read_bytes(uri, config)
    except UnreadableObject as exc:  # e.g. the root is a file, not a folder
        raise FileNotFoundError(str(exc)) from None
    return manifest.loads(data)


@dataclass
class Verdict:
    """What ``verify`` found: problems (exit 1) and files no manifest lists (a warning)."""

    problems: list[str] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)


def verify_dataset(root: str, config: storage.StorageConfig) -> Verdict:
    """Every problem found in the dataset at ``root``; no problem means it is whole.

    Checks the manifest's own checksum, each file it lists (size, SHA-256), each JPEG the index
    lists (size, SHA-256), the index's counts against the manifest's, the rejects' total, the
    manifest's inputs, images, positives and class weights against the rows or records, and in
    each TFRecord shard every record's CRCs, the record count, and every Example against the
    spec. Files under the root that nothing lists are reported apart.
    """
    verdict = Verdict(problems=_problems(root, config))
    if not verdict.problems or not verdict.problems[0].startswith(_NOT_A_DATASET):
        verdict.unlisted = _unlisted(root, config)
    return verdict


_NOT_A_DATASET = "no manifest:"


def _problems(root: str, config: storage.StorageConfig) -> list[str]:
    try:
        built = load_manifest(root, config)
    except FileNotFoundError:
        return [f"{_NOT_A_DATASET} no {manifest.MANIFEST_NAME} under {root}: the job did not finish "
                "(or this is not a dataset root)"]
    except ValueError as exc:
        return [str(exc)]
    problems: list[str] = []
    parts = {"index": [], "rejects": []}
    shard_counts: Counter = Counter()
    shard_images: dict = {}
    entries = {f["path"]: f for f in built["files"]}
    for path, data in _read_all(root, sorted(entries), config):
        problems.extend(_check_file(path, data, entries))
        top = path.split("/", 1)[0]
        if data is None:
            continue
        if top in parts:
            parts[top].extend(tables.from_parquet(data))
        elif top == "tfrecords":
            problems.extend(_check_shard(path, data, entries[path], len(built["classes"]), shard_counts,
                                         shard_images))
    if built["kind"] in ("preprocess", "run"):
        problems.extend(_check_index_rows(root, parts["index"], config))
        problems.extend(_check_counts(built, parts["index"], parts["rejects"]))
        images = {(r["split"], r["image_id"]): r["multi_hot"] for r in parts["index"]}
        problems.extend(_check_numbers(built, images, len(parts["rejects"])))
    else:
        problems.extend(_check_numbers(built, shard_images, 0))
    expected_shards = built.get("shard_counts", built["counts"] if built["kind"] == "shards" else None)
    if expected_shards is not None and manifest.nested_counts(shard_counts) != expected_shards:
        problems.append("TFRecord counts per split x class x augmentation differ from the manifest's")
    return problems


def _check_shard(path: str, data: bytes, entry: dict, num_classes: int, counts: Counter,
                 images: dict) -> list[str]:
    """CRCs, record count and spec of one shard; adds its records to ``counts`` and the labels
    of the images it holds primary to ``images`` ((split, id) -> multi-hot)."""
    n = 0
    try:
        for n, record in enumerate(iter_records(data), start=1):
            parsed = decode_example(record)
            problems = features.validate_example(parsed, num_classes)
            if problems:
                return [f"{path}: record {n}: {'; '.join(problems)}"]
            key = tuple(parsed[k][0].decode() for k in (features.SPLIT, features.PARTITION, features.AUGMENTATION))
            counts[key] += 1
            if parsed[features.PRIMARY][0] == 1 and key[2] == "none":
                images[(key[0], parsed[features.ID][0].decode())] = list(parsed[features.CLASS_MULTI_HOT])
    except (CorruptRecord, ValueError) as exc:
        return [f"{path}: {exc}"]
    if n != entry["records"]:
        return [f"{path}: {n} records, manifest says {entry['records']}"]
    return []


def _read_all(root: str, paths: list[str], config):
    """(path, bytes or None when missing), reading several objects at once."""
    def read(path: str):
        try:
            return path, storage.read_bytes(storage.join(root, path), config)
        except FileNotFoundError:
            return path, None

    with ThreadPoolExecutor(READ_THREADS) as pool:
        yield from pool.map(read, paths)


def _check_file(path: str, data: bytes | None, expected_by_path: dict) -> list[str]:
    expected = expected_by_path[path]
    if data is None:
        return [f"{path}: listed in the manifest but missing"]
    if len(data) != expected["bytes"]:
        return [f"{path}: size {len(data)} bytes, manifest says {expected['bytes']}"]
    if storage.sha256(data) != expected["sha256"]:
        return [f"{path}: SHA-256 differs from the manifest's"]
    return []


def _check_index_rows(root: str, rows: list[dict], config) -> list[str]:
    expected = {row["path"]: {"bytes": row["bytes"], "sha256": row["sha256"]} for row in rows}
    if len(expected) != len(rows):
        duplicates = [p for p, n in Counter(r["path"] for r in rows).items() if n > 1]
        return [f"index lists {len(duplicates)} paths more than once, e.g. {duplicates[0]}"]
    problems = []
    for path, data in _read_all(root, sorted(expected), config):
        problems.extend(_check_file(path, data, expected))
    return problems


def _check_counts(built: dict, index_rows: list[dict], reject_rows: list[dict]) -> list[str]:
    found = Counter((r["split"], r["partition"], r["augmentation"]) for r in index_rows)
    problems = []
    if manifest.nested_counts(found) != built["counts"]:
        problems.append("index counts per split x class x augmentation differ from the manifest's")
    if len(reject_rows) != built["rejects"]["total"]:
        problems.append(f"rejects table has {len(reject_rows)} rows, manifest says {built['rejects']['total']}")
    return problems


def _check_numbers(built: dict, images: dict, rejects: int) -> list[str]:
    """The manifest's inputs, images per split, positives and class weights, recomputed from
    the images found ((split, id) -> multi-hot): they feed the trainer's loss."""
    per_split: Counter = Counter(split for split, _ in images)
    positives: dict = {}
    for (split, _), hot in images.items():
        positives[split] = [a + b for a, b in zip(positives.get(split, [0] * len(hot)), hot)]
    problems = []
    if built["kind"] != "shards" and built["inputs"] != len({i for _, i in images}) + rejects:
        problems.append(f"manifest says {built['inputs']} inputs; the index and rejects hold "
                        f"{len({i for _, i in images}) + rejects}")
    if built["images"] != dict(per_split):
        problems.append(f"manifest's images per split {built['images']} differ from those found {dict(per_split)}")
    if built["positives"] != positives:
        problems.append("manifest's positives per split and class differ from the labels found")
    if built["class_weights"] != manifest.class_weights(dict(per_split), positives, built["classes"]):
        problems.append("manifest's class weights differ from N/N_l of the images found")
    return problems


# Written by a running job, never listed: a leftover of a killed one is not a stale dataset file.
_TRANSIENT = (manifest.MANIFEST_NAME, LEASE_NAME, "_pieces/")


def _unlisted(root: str, config) -> list[str]:
    """Files under the root that neither the manifest nor its index parts list (left by an
    earlier run with other parameters, or put there by hand)."""
    try:
        built = load_manifest(root, config)
    except (FileNotFoundError, ValueError):
        return []
    listed = {f["path"] for f in built["files"]}
    for f in built["files"]:
        if f["path"].startswith("index/"):
            listed.update(r["path"] for r in tables.from_parquet(storage.read_bytes(storage.join(root, f["path"]), config)))
    return [key for key in storage.list_keys(root, config)
            if key not in listed and not key.startswith(_TRANSIENT)]
