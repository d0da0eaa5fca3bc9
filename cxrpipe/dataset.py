"""Opening a committed dataset: the one way every reader (verify, inspect, report, shards, the
trainer) finds a dataset root's manifest and learns what the root holds."""

from __future__ import annotations

from dataclasses import dataclass

from . import layout, storage
from .errors import UnreadableObject, UserError
from .manifest import MANIFEST_NAME, Manifest, loads


class NoDataset(UserError):
    """No committed manifest at the root: the job did not finish, or this is not a dataset root."""


class BadManifest(UserError):
    """A manifest cxrpipe cannot read: damaged, edited after its commit, or another format."""


@dataclass(frozen=True)
class Dataset:
    """A dataset root, its manifest, and how to reach its files."""

    root: str
    manifest: Manifest
    storage: storage.StorageConfig

    def uri(self, path: str) -> str:
        """The URI of a file the manifest lists (``path`` relative to the root)."""
        return storage.join(self.root, path)

    def require_images(self, why: str) -> "Dataset":
        """This dataset, if it holds JPEGs and an index (see ``require_images``)."""
        require_images(self.root, self.manifest, why)
        return self

    def require_shards(self) -> "Dataset":
        """This dataset, if it holds TFRecord shards.

        Raises:
            UserError: no shards, naming the command that makes them.
        """
        if not self.manifest.files_under(layout.TFRECORDS):
            raise UserError(f"{self.root} has no TFRecord shards: make them with "
                            f"`cxrpipe shards --input {self.root} --output URI`")
        return self


def require_images(root: str, built: Manifest, why: str) -> Manifest:
    """``built``, if its dataset holds JPEGs and an index (``preprocess`` or ``run``).

    Raises:
        UserError: a shards dataset, naming its input as the one to use.
    """
    if not built.has_images:
        source = built.parameters.get("input", "the preprocessed dataset")
        raise UserError(f"{root} is a {built.kind} dataset without images or index: {why} "
                        f"(its input: {source})")
    return built


def open_dataset(root: str, config: storage.StorageConfig, version: int | None = None) -> Dataset:
    """The committed dataset at ``root``: its current version, or version ``version``.

    Raises:
        NoDataset: no manifest there.
        BadManifest: a manifest cxrpipe cannot read (damaged, edited, another format version).
        UserError: the store cannot be reached (credentials, endpoint, bucket).
    """
    return Dataset(root, read_manifest(root, lambda uri: storage.read_bytes(uri, config), version), config)


def read_manifest(root: str, read, version: int | None = None) -> Manifest:
    """The manifest under ``root`` (the current one, or version ``version``'s), read with
    ``read(uri) -> bytes``; raises as ``open_dataset``."""
    path = MANIFEST_NAME if version is None else layout.manifest_version_path(version)
    try:
        data = read(storage.join(root, path))
    except (FileNotFoundError, UnreadableObject):  # unreadable: e.g. the root is a file
        if version is not None:
            raise NoDataset(f"no version {version} under {root} (no {path}): `cxrpipe versions {root}` "
                            "lists the versions there") from None
        raise NoDataset(f"no manifest: no {MANIFEST_NAME} under {root}, so not a finished cxrpipe dataset "
                        "(the job did not finish, or this is not a dataset root)") from None
    try:
        return loads(data)
    except ValueError as exc:
        raise BadManifest(str(exc)) from None
