"""A dataset root's versions in storage: listing them, reading one, committing a new one, and
gc. The decisions are ``cxrpipe.versions``'; this module only reads and writes.

A commit writes ``_manifests/vNNNNNN.json`` whole, then ``_MANIFEST.json``: a reader of the
current manifest or of any version file sees a complete commit, and a job killed before its
commit leaves the previous version current.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime

from . import layout, manifest, storage, tables, versions
from .dataset import BadManifest, NoDataset, open_dataset
from .errors import UserError
from .manifest import Manifest

log = logging.getLogger(__name__)


def version_numbers(root: str, config: storage.StorageConfig) -> list[int]:
    """The numbers of the version files under ``root``, oldest first."""
    numbers = []
    for key in storage.list_keys(storage.join(root, layout.MANIFESTS), config):
        try:
            numbers.append(layout.parse_manifest_version(f"{layout.MANIFESTS}/{key}"))
        except ValueError:
            log.warning("%s/%s is not a version file; ignored", layout.MANIFESTS, key)
    return sorted(numbers)


def version_dates(root: str, config: storage.StorageConfig) -> dict[int, datetime]:
    """Version number -> when its version file was written (its commit), from the store's own
    record: manifests hold no timestamps, so that reruns write the same bytes."""
    dates = {}
    for key, when in storage.list_modified(storage.join(root, layout.MANIFESTS), config).items():
        try:
            dates[layout.parse_manifest_version(f"{layout.MANIFESTS}/{key}")] = when
        except ValueError:
            continue
    return dates


def current_manifest(root: str, config: storage.StorageConfig) -> Manifest | None:
    """The current manifest, or None when there is none (or none this cxrpipe can read)."""
    try:
        return open_dataset(root, config).manifest
    except (NoDataset, BadManifest):
        return None


@dataclass(frozen=True)
class Commit:
    """A version being written: its number, and the manifest it replaces (if any)."""

    root: str
    config: storage.StorageConfig
    version: int
    current: Manifest | None

    def write(self, built: Manifest, before_commit=lambda: None) -> Manifest:
        """Commit ``built`` as this version: the version file, then the current manifest.

        A job whose output holds what the current version holds (a rerun that changed
        nothing) commits nothing: its new files are removed and the current version stays.
        ``before_commit`` (the lease check) runs first and may raise to stop the commit.
        """
        built = dataclasses.replace(built, version=self.version)
        before_commit()
        if versions.same_content(self.current, built):
            self._discard(built)
            return self.current
        data = manifest.dumps(built)
        storage.write_bytes(storage.join(self.root, layout.manifest_version_path(self.version)), data, self.config)
        storage.write_bytes(storage.join(self.root, manifest.MANIFEST_NAME), data, self.config)
        return built

    def _discard(self, built: Manifest) -> None:
        listed = {f["path"] for f in self.current.files}
        for entry in built.files:
            if entry["path"] not in listed:
                storage.delete(storage.join(self.root, entry["path"]), self.config)


def start_commit(root: str, config: storage.StorageConfig, parameters: dict) -> Commit:
    """Number the version a job is about to write. When the job writes other JPEG bytes under
    the current version's keys (other rendering options), the current manifest goes first, as
    before versions: no reader may trust the root while it is rewritten."""
    current = current_manifest(root, config)
    commit = Commit(root, config, versions.next_version(version_numbers(root, config), current), current)
    if versions.rewrites_images(current, parameters):
        storage.delete(storage.join(root, manifest.MANIFEST_NAME), config)
        return dataclasses.replace(commit, current=None)
    return commit


def read_version(root: str, config: storage.StorageConfig, number: int | None) -> Manifest:
    """One version's manifest (None: the current one); raises as ``open_dataset``."""
    return open_dataset(root, config, version=number).manifest


def index_rows(root: str, built: Manifest, config: storage.StorageConfig) -> list[dict]:
    """The index rows a version lists (its index parts, read whole).

    Raises:
        UserError: a shards dataset, which has no index.
    """
    if not built.has_images:
        raise UserError(f"{root} version {built.version} is a {built.kind} dataset: it has no index to compare")
    rows = []
    for entry in built.files_under(layout.INDEX):
        rows.extend(tables.from_parquet(storage.read_bytes(storage.join(root, entry["path"]), config)))
    return rows


def listed_files(root: str, built: Manifest, config: storage.StorageConfig) -> set[str]:
    """Every file a version lists: its manifest's files and the JPEGs its index names."""
    listed = {f["path"] for f in built.files}
    if built.has_images:
        listed.update(row["path"] for row in index_rows(root, built, config))
    return listed
