"""`cxrpipe run`: preprocess and shard in one Spark pass, without reading the JPEGs back.

Preprocessing tasks write the JPEGs, index and rejects as `preprocess` does and hand each
version's JPEG bytes on to the shard writers through Spark (persisted, spilling to disk), so
the outputs equal those of `preprocess` followed by `shards` with the same options.
"""

from __future__ import annotations

import time

from pyspark import StorageLevel

from .. import manifest, storage
from ..plan import Plan
from ..shard_tasks import ShardContext
from ..shards import ShardOptions
from ..tasks import JobContext, run_task
from .preprocess import GROUP as PREPROCESS_GROUP, PreprocessJob, RunSummary, check_rejects, preprocess_manifest
from .failures import job_failures
from .progress import progress_reporter
from .shards import expand, merge_metadata, record_metadata, shard_counts, to_records, write_shards


def _task_outputs(task, ctx: JobContext, options: ShardOptions):
    versions = []
    result = run_task(task[0], task[1], ctx, on_version=lambda v, jpeg: versions.append((v, jpeg)))
    # The shard plan's sizes and counts come from here, so that the JPEGs cached for the
    # shard writers are read once (by them) rather than once more per planning pass.
    metadata = record_metadata(r for pair in versions for r in expand(pair, ctx.classes, options))
    return [("result", (result, metadata))] + [("version", pair) for pair in versions]


def run_all(spark, job: PreprocessJob, plan: Plan, options: ShardOptions) -> RunSummary:
    """Preprocess, check the rejects, shard, then commit one manifest for everything.

    Raises:
        JobFailed: too many rejects (checked before any shard is written); no manifest.
    """
    started = time.monotonic()
    manifest_uri = storage.join(job.output_uri, manifest.MANIFEST_NAME)
    storage.delete(manifest_uri, job.storage)
    ctx = JobContext(job.images_uri, job.output_uri, job.storage, job.render, plan.classes, job.augment_splits)
    sc = spark.sparkContext
    sc.setJobGroup(PREPROCESS_GROUP, f"run: preprocess {plan.inputs} images", interruptOnCancel=True)
    outputs = sc.parallelize(list(enumerate(plan.tasks)), len(plan.tasks)).flatMap(
        lambda task: _task_outputs(task, ctx, options)).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        with job_failures("run (preprocessing)"), progress_reporter(sc, PREPROCESS_GROUP, plan.inputs, "images"):
            pairs = outputs.filter(lambda o: o[0] == "result").map(lambda o: o[1]).collect()
        results = [result for result, _ in pairs]
        built = preprocess_manifest(job, plan, results)
        check_rejects(built, job.max_reject_fraction)
        versions = outputs.filter(lambda o: o[0] == "version").map(lambda o: o[1])
        shard_ctx = ShardContext(job.output_uri, job.output_uri, job.storage, plan.classes, job.dataset, job.render.size)
        entries, _ = write_shards(spark, to_records(versions, plan.classes, options), shard_ctx, options,
                                  merge_metadata(metadata for _, metadata in pairs))
    finally:
        outputs.unpersist()
    built["kind"] = "run"
    built["files"] = sorted(built["files"] + entries, key=lambda f: f["path"])
    built["shard_counts"] = shard_counts(entries)
    built["parameters"]["shards"] = {"num_shards": options.num_shards, "shard_mb": options.shard_mb,
                                     "seed": options.seed}
    storage.write_bytes(manifest_uri, manifest.dumps(built), job.storage)
    peak = max((r.peak_rss_mb for r in results), default=0.0)
    return RunSummary(built, time.monotonic() - started, sum(r.jpeg_bytes for r in results), peak)
