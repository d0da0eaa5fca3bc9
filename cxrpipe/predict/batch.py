"""`cxrpipe predict --output URI`: predictions at scale, as a Spark job.

The driver lists and sorts the inputs and cuts them into tasks of ``images_per_task`` by
position, so task i always holds the same images; each task loads the model once per Python
worker (Spark reuses its workers), scores its images in batches and writes its own Parquet
part, ``part-{i:05d}.parquet``, whole; a retried task rewrites the same bytes. The driver
collects only each part's summary and writes ``_PREDICTIONS.json`` last: the commit point,
listing every part with its rows and checksum, the model's card and the rejects by reason.

Nothing here imports pyspark or TensorFlow: the session is passed in, and the TensorFlow
side (``cxrpipe.train.infer``) is imported by the workers when they run.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from cxrpipe import __version__, storage
from cxrpipe.predict import output

MANIFEST = "_PREDICTIONS.json"
_PREDICTORS: dict = {}  # per Python worker: model directory -> loaded predictor


@dataclass(frozen=True)
class Job:
    """What every task needs (picklable: no clients, no sessions)."""

    model_dir: str
    output: str
    storage: storage.StorageConfig
    batch_size: int = 32


def part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def tasks(uris: list[str], images_per_task: int) -> list[tuple[int, list[str]]]:
    """(task index, its URIs): consecutive runs of the sorted inputs."""
    ordered = sorted(uris)
    return [(i, ordered[start:start + images_per_task])
            for i, start in enumerate(range(0, len(ordered), images_per_task))]


def run(spark, job: Job, uris: list[str], images_per_task: int) -> dict:
    """Score ``uris`` on ``spark``; write the parts, then the manifest; return the manifest."""
    work = tasks(uris, images_per_task)
    rdd = spark.sparkContext.parallelize(work, max(len(work), 1))
    parts = sorted(rdd.mapPartitions(lambda items: _score_tasks(job, items)).collect(),
                   key=lambda p: p["path"])
    manifest = _manifest(job, len(uris), parts)
    body = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    storage.write_bytes(storage.join(job.output, MANIFEST), body, job.storage)
    return manifest


def _score_tasks(job: Job, items):
    from cxrpipe.train import infer  # TensorFlow, on the worker only

    predictor = _PREDICTORS.get(job.model_dir)
    if predictor is None:
        predictor = _PREDICTORS[job.model_dir] = infer.load(Path(job.model_dir))
    for index, uris in items:
        rows = infer.predict(predictor, uris, job.storage, job.batch_size)
        body = output.to_parquet(rows, predictor.card.classes)
        storage.write_bytes(storage.join(job.output, part_name(index)), body, job.storage)
        reasons = Counter(r["reason"] for r in rows if r["status"] == "rejected")
        yield {"path": part_name(index), "rows": len(rows), "bytes": len(body),
               "sha256": storage.sha256(body), "rejects": dict(reasons)}


def _manifest(job: Job, inputs: int, parts: list[dict]) -> dict:
    from cxrpipe.train import modeldir  # no TensorFlow: the card only

    rejects = Counter()
    for part in parts:
        rejects.update(part.pop("rejects"))
    card = modeldir.read(Path(job.model_dir))
    return {"format": "cxrpipe.predictions", "format_version": 1, "code_version": __version__,
            "model": job.model_dir, "model_card": card.to_dict(), "inputs": inputs,
            "rows": sum(p["rows"] for p in parts), "rejects": dict(sorted(rejects.items())),
            "columns": output.columns(card.classes), "files": parts}
