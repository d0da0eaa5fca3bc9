"""The manifest: the commit point of a dataset root, written last. Pure.

It names every file a consumer may read (with size, record count and checksum), so consumers
read the manifest, never a listing. It holds no timestamps: the same inputs and parameters give
a byte-identical manifest.
"""

from __future__ import annotations

import hashlib
import json

from . import __version__, labels

MANIFEST_NAME = "_MANIFEST.json"
FORMAT = "cxrpipe.dataset"
FORMAT_VERSION = 1
REQUIRED = ("kind", "dataset", "classes", "parameters", "inputs", "counts", "images", "positives",
            "class_weights", "rejects", "excluded", "files")
CHECKSUM = "checksum"  # SHA-256 of the manifest's JSON without this field


def class_weights(images: dict[str, int], positives: dict[str, list[int]], classes) -> dict:
    """N/N_l per split: N images of the split, N_l of them positive for class l (None if N_l = 0).

    Args:
        images: split -> number of source images written.
        positives: split -> per-class count of positive images, in class order.
        classes: the class names, in order.
    """
    weights = {}
    for split in sorted(images):
        n = images[split]
        per_class = positives.get(split, [0] * len(classes))
        weights[split] = {c: (round(n / p, 6) if p else None) for c, p in zip(classes, per_class)}
    return weights


def build_manifest(*, kind: str, dataset: str, classes, parameters: dict, inputs: int,
                   counts: dict, images: dict, positives: dict, rejects: dict,
                   excluded: dict, files: list[dict]) -> dict:
    """Assemble the manifest of a finished job (see DESIGN.md for the meaning of each field)."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "code_version": __version__,
        "dataset": dataset,
        "classes": list(classes),
        "parameters": parameters,
        "inputs": inputs,
        "counts": counts,
        "images": dict(sorted(images.items())),
        "positives": {s: list(v) for s, v in sorted(positives.items())},
        "class_weights": class_weights(images, positives, classes),
        "rejects": {"total": sum(rejects.values()), "by_reason": dict(sorted(rejects.items()))},
        "excluded": dict(sorted(excluded.items())),
        "files": sorted(files, key=lambda f: f["path"]),
    }


def partitions_of(built: dict) -> list[str]:
    """The partitions a manifest has records in, in order: its classes, then ``Unlabeled``
    when some image has no positive class (it is a partition, not a class)."""
    counts = [built.get("counts") or {}, built.get("shard_counts") or {}]
    present = {name for c in counts for per_split in c.values() for name in per_split}
    return list(built["classes"]) + [name for name in (labels.UNLABELED,) if name in present]


def nested_counts(flat: dict[tuple[str, str, str], int]) -> dict:
    """{(split, class, augmentation): n} -> {split: {class: {augmentation: n}}}, sorted."""
    nested: dict = {}
    for (split, cls, aug), n in sorted(flat.items()):
        nested.setdefault(split, {}).setdefault(cls, {})[aug] = n
    return nested


def _canonical(manifest: dict) -> bytes:
    body = {k: v for k, v in manifest.items() if k != CHECKSUM}
    return (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()


def dumps(manifest: dict) -> bytes:
    """The manifest's JSON, with a SHA-256 of the rest of it, so an edit after the commit shows."""
    return (json.dumps({**manifest, CHECKSUM: hashlib.sha256(_canonical(manifest)).hexdigest()},
                       indent=2, sort_keys=True) + "\n").encode()


def loads(data: bytes) -> dict:
    """Parse and check a manifest (its checksum is checked and dropped from the result).

    Raises:
        ValueError: not a cxrpipe manifest, a format version this code does not read, or a
            checksum that does not match (edited after the commit).
    """
    try:
        manifest = json.loads(data)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{MANIFEST_NAME} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{MANIFEST_NAME}: expected format {FORMAT!r}, got {manifest.get('format') if isinstance(manifest, dict) else type(manifest).__name__!r}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{MANIFEST_NAME}: format_version {manifest.get('format_version')} is not {FORMAT_VERSION}; upgrade cxrpipe")
    missing = [key for key in REQUIRED if key not in manifest]
    if missing:
        raise ValueError(f"{MANIFEST_NAME}: expected the fields {', '.join(REQUIRED)}; missing "
                         f"{', '.join(missing)}: not written by cxrpipe, or damaged")
    checksum = manifest.pop(CHECKSUM, None)
    if checksum is not None and checksum != hashlib.sha256(_canonical(manifest)).hexdigest():
        raise ValueError(f"{MANIFEST_NAME}: its checksum does not match its content: it was edited after "
                         "the job committed it; rerun the job to rebuild it")
    return manifest
