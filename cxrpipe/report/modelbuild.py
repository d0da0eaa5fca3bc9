"""The model report's I/O shell: read what ``modelpage`` shows from model directories and the
training dataset's manifest, and write the page. No TensorFlow: the training curves come from
the CSV logs ``train.loop`` writes beside its TensorBoard logs.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import os
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from .. import __version__, layout, storage
from ..errors import UnreadableObject, UserError
from ..manifest import MANIFEST_NAME
from ..train import modeldir
from .build import REPORT_NAME
from .modelpage import ModelInfo, ModelReport, render_model_page

log = logging.getLogger(__name__)

GIT_SECONDS = 10


def write_model_report(out_dir, evaluation: dict, models: list[Path], config: storage.StorageConfig) -> Path:
    """Write the page of an evaluation to ``out_dir/index.html``.

    Args:
        out_dir: a local folder, created if needed.
        evaluation: the report `evaluate` wrote (metrics.json's or ensemble.json's content).
        models: the model directory, or the ensemble's members in its order.
        config: how to reach the training datasets' manifests.

    Returns:
        The path of the page.

    Raises:
        UserError: ``out_dir`` is a file, or a model directory cannot be read.
    """
    out = check_report_dir(out_dir)
    report = ModelReport(evaluation, tuple(model_info(Path(m), config) for m in models), code_version(),
                         datetime.now(timezone.utc).isoformat(timespec="seconds"))
    out.mkdir(parents=True, exist_ok=True)
    path = out / REPORT_NAME
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(render_model_page(report), encoding="utf-8")
    os.replace(tmp, path)
    return path


def check_report_dir(out_dir) -> Path:
    """``out_dir`` as a Path, if it can hold the page (checked before minutes of scoring).

    Raises:
        UserError: it is a file.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"--report {out} is a file: name a folder for the report")
    return out


def model_info(model_dir: Path, config: storage.StorageConfig) -> ModelInfo:
    """A model directory's card, checkpoint settings, training logs and manifest checksum."""
    card = modeldir.read(model_dir)
    uri = storage.join(card.dataset, layout.manifest_version_path(card.dataset_version)
                       if card.dataset_version else MANIFEST_NAME)
    return ModelInfo(str(model_dir), card.to_dict(), _training(model_dir), training_logs(model_dir / "logs"),
                     uri, _sha256(uri, config))


def _training(model_dir: Path) -> dict:
    """Stage -> the settings its checkpoints were made with (OUT/checkpoints/{stage}.json)."""
    return {p.stem: json.loads(p.read_text()) for p in sorted((model_dir / "checkpoints").glob("*.json"))}


def training_logs(logs: Path) -> dict:
    """Stage -> column -> one float per epoch, from each OUT/logs/{stage}.csv (Keras' CSVLogger)."""
    found = {}
    for path in sorted(logs.glob("*.csv")):
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
        columns = {key: [_float(row[key]) for row in rows] for key in (rows[0] if rows else {})}
        found[path.stem] = {k: v for k, v in columns.items() if all(math.isfinite(x) for x in v)}
    return found


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:  # CSVLogger writes NA where a metric was not computed
        return math.nan


def _sha256(uri: str, config: storage.StorageConfig) -> str | None:
    """The SHA-256 of the manifest's bytes, or None (with a warning) when it cannot be read:
    a dataset moved since training should not stop the report."""
    try:
        return hashlib.sha256(storage.read_bytes(uri, config)).hexdigest()
    except (FileNotFoundError, UnreadableObject) as exc:
        log.warning("cannot read the training manifest %s: %s", uri, exc)
        return None


def code_version() -> str:
    """``git describe`` of the cxrpipe checkout running, or the package version outside one
    (an installed copy inside some other repository must not take that repository's version)."""
    package = Path(__file__).resolve().parents[1]
    top, described = _git(package, "rev-parse", "--show-toplevel"), _git(package, "describe", "--always", "--dirty", "--tags")
    if top and described and Path(top).resolve() / "cxrpipe" == package:
        return f"{__version__} ({described})"
    return __version__


def _git(where: Path, *words: str) -> str | None:
    try:
        done = subprocess.run(["git", *words], capture_output=True, text=True, timeout=GIT_SECONDS, cwd=where)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None
