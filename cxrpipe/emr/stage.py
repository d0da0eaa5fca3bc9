"""Staging: the files a submission needs, uploaded under ``STAGING/cxrpipe-VERSION/DIGEST/``.

The prefix is named by a digest of the files' contents, so a resubmission of the same build
reuses what is there (the environment archive is hundreds of MB) and a running job's files are
never overwritten by a later build. Uploads go through ``cxrpipe.storage`` and ``cxrpipe.upload``
(endpoint-aware, multipart for large files, nothing visible until complete).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from .. import storage
from ..upload import StreamWriter
from .package import Package
from .requests import ENV_ARCHIVE, JOB_SCRIPTS, Staged

log = logging.getLogger(__name__)

CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class Upload:
    """What ``upload`` did: the staged prefix, and which files it sent or found already there."""

    staged: Staged
    sent: list[str]
    present: list[str]


def artifact_files(root: Path, built: Package) -> dict[str, Path]:
    """Staged name -> local file: the wheel, the archive (if any), the job scripts, the bootstrap."""
    files = {built.wheel.name: built.wheel}
    if built.archive is not None:
        files[ENV_ARCHIVE] = built.archive
    files.update({f"jobs/{script}": root / "jobs" / script for script in JOB_SCRIPTS.values()})
    files["emr/bootstrap.sh"] = root / "emr" / "bootstrap.sh"
    return files


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def content_digest(files: dict[str, Path]) -> str:
    """A digest of the staged names and contents, independent of the files' order and location."""
    lines = "".join(f"{name}\t{file_sha256(path)}\n" for name, path in sorted(files.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


def staged_for(staging: str, files: dict[str, Path], built: Package) -> Staged:
    """Where ``files`` go under ``staging`` (no upload)."""
    version = built.wheel.name.split("-")[1]  # the checkout's version, which may not be the running one
    prefix = storage.join(staging, f"cxrpipe-{version}", content_digest(files)[:16])
    return Staged(prefix=prefix, wheel=built.wheel.name, with_archive=built.archive is not None)


def upload(staging: str, files: dict[str, Path], built: Package, config: storage.StorageConfig) -> Upload:
    """Upload ``files`` under their content-named prefix, skipping those already there.

    Raises:
        UserError: the staging bucket is missing or unreachable, or credentials are missing.
    """
    storage.check_reachable(staging, config, for_writing=True)
    staged = staged_for(staging, files, built)
    sent, present = [], []
    for name, path in sorted(files.items()):
        uri = staged.uri(name)
        if storage.exists(uri, config):
            present.append(name)
            continue
        log.info("uploading %s to %s", path, uri)
        _upload_file(path, uri, config)
        sent.append(name)
    return Upload(staged, sent, present)


def _upload_file(path: Path, uri: str, config: storage.StorageConfig) -> None:
    with open(path, "rb") as f, StreamWriter(uri, config) as sink:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            sink.write(chunk)
