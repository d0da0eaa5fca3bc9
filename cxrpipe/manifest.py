"""The manifest: the commit point of a dataset root, written last. Pure.

It names every file a consumer may read (with size, record count and checksum), so consumers
read the manifest, never a listing. It holds no timestamps: the same inputs and parameters give
a byte-identical manifest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

from . import __version__, labels, layout

MANIFEST_NAME = layout.MANIFEST
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


@dataclass(frozen=True)
class Manifest:
    """A committed dataset's manifest (see DESIGN.md for the meaning of each field).

    ``parameters`` are the job's options as recorded; read them through the accessors below,
    which fail loudly on a manifest that lacks one instead of guessing a default. A ``run``
    dataset carries ``shard_counts`` (its shards' records) besides ``counts`` (its JPEGs).
    """

    kind: str
    dataset: str
    classes: tuple[str, ...]
    parameters: dict
    inputs: int
    counts: dict
    images: dict
    positives: dict
    class_weights: dict
    rejects: dict
    excluded: dict
    files: tuple[dict, ...]
    shard_counts: dict | None = None
    code_version: str = __version__
    version: int | None = None  # the commit's number (_manifests/vNNNNNN.json); None before versions

    @property
    def preprocessing(self) -> dict:
        """The options the JPEGs were made with: a shards dataset records its source's."""
        return self.parameters["preprocess"] if self.kind == "shards" else self.parameters

    def preprocessing_option(self, name: str):
        """One preprocessing option as recorded.

        Raises:
            ValueError: the manifest does not record it (written by another cxrpipe version).
        """
        try:
            return self.preprocessing[name]
        except KeyError:
            raise ValueError(f"{MANIFEST_NAME} records no preprocessing option {name!r}: written by another "
                             f"cxrpipe version ({self.code_version}); rerun the job with this one") from None

    def render_params(self):
        """The ``RenderParams`` the JPEGs were made with."""
        from .params import RenderParams

        return RenderParams(**{f.name: _tupled(self.preprocessing_option(f.name))
                               for f in dataclasses.fields(RenderParams)})

    @property
    def has_images(self) -> bool:
        """JPEGs and an index (``preprocess``, ``run``), as opposed to shards alone."""
        return self.kind in ("preprocess", "run")

    @property
    def shard_records(self) -> dict:
        """{split: {partition: {augmentation: records}}} of the shards (empty without shards)."""
        return self.counts if self.kind == "shards" else (self.shard_counts or {})

    def files_under(self, folder: str) -> list[dict]:
        """The listed files under a top folder (``index``, ``rejects``, ``tfrecords``)."""
        return [f for f in self.files if f["path"].startswith(folder + "/")]

    def partitions(self) -> list[str]:
        """The partitions with records, in order: the classes, then ``Unlabeled`` when some
        image has no positive class (it is a partition, not a class)."""
        present = {name for c in (self.counts, self.shard_counts or {}) for per_split in c.values() for name in per_split}
        return list(self.classes) + [name for name in (labels.UNLABELED,) if name in present]

    def to_dict(self) -> dict:
        body = {"format": FORMAT, "format_version": FORMAT_VERSION, **dataclasses.asdict(self)}
        body["classes"], body["files"] = list(self.classes), list(self.files)
        for optional in ("shard_counts", "version"):
            if body[optional] is None:
                del body[optional]
        return body

    @classmethod
    def from_dict(cls, body: dict) -> "Manifest":
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(body) - fields - {"format", "format_version"})
        if unknown:
            raise ValueError(f"{MANIFEST_NAME}: unknown fields {', '.join(unknown)}: written by a newer cxrpipe")
        values = {k: v for k, v in body.items() if k in fields}
        return cls(**{**values, "classes": tuple(body["classes"]), "files": tuple(body["files"])})


def _tupled(value):
    return tuple(value) if isinstance(value, list) else value


def build_manifest(*, kind: str, dataset: str, classes, parameters: dict, inputs: int,
                   counts: dict, images: dict, positives: dict, rejects: dict,
                   excluded: dict, files: list[dict]) -> Manifest:
    """Assemble the manifest of a finished job."""
    return Manifest(
        kind=kind, dataset=dataset, classes=tuple(classes), parameters=parameters, inputs=inputs,
        counts=counts,
        images=dict(sorted(images.items())),
        positives={s: list(v) for s, v in sorted(positives.items())},
        class_weights=class_weights(images, positives, classes),
        rejects={"total": sum(rejects.values()), "by_reason": dict(sorted(rejects.items()))},
        excluded=dict(sorted(excluded.items())),
        files=tuple(sorted(files, key=lambda f: f["path"])),
    )


def nested_counts(flat: dict[tuple[str, str, str], int]) -> dict:
    """{(split, class, augmentation): n} -> {split: {class: {augmentation: n}}}, sorted."""
    nested: dict = {}
    for (split, cls, aug), n in sorted(flat.items()):
        nested.setdefault(split, {}).setdefault(cls, {})[aug] = n
    return nested


def _canonical(manifest: dict) -> bytes:
    body = {k: v for k, v in manifest.items() if k != CHECKSUM}
    return (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()


def dumps(built: Manifest) -> bytes:
    """The manifest's JSON, with a SHA-256 of the rest of it, so an edit after the commit shows."""
    body = built.to_dict()
    return (json.dumps({**body, CHECKSUM: hashlib.sha256(_canonical(body)).hexdigest()},
                       indent=2, sort_keys=True) + "\n").encode()


def loads(data: bytes) -> Manifest:
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
    return Manifest.from_dict(manifest)
