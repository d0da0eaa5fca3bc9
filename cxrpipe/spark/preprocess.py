"""`cxrpipe preprocess` on Spark: plan on the driver, render and write in the executors."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from dataclasses import dataclass

from .. import history, manifest, storage
from ..errors import JobFailed, UnreadableObject, UserError
from ..imageops import RenderParams
from ..phases import phase
from ..index import READERS, DatasetIndex, index_text
from ..preprocessing.plan import Plan, PlanOptions, build_plan
from ..preprocessing.task import JobContext, TaskResult, run_task
from .failures import job_failures
from .progress import progress_reporter

log = logging.getLogger(__name__)
GROUP = "cxrpipe-preprocess"


@dataclass(frozen=True)
class PreprocessJob:
    """Everything `cxrpipe preprocess` was asked to do."""

    dataset: str
    images_uri: str
    output_uri: str
    index_uri: str | None = None
    companions: tuple[tuple[str, str], ...] = ()          # (reader argument, URI): index.Companion
    reader_options: tuple[tuple[str, object], ...] = ()   # (reader argument, value): valid_as, columns
    plan: PlanOptions = PlanOptions()
    render: RenderParams = RenderParams()
    augment_splits: tuple[str, ...] = ("train",)
    storage: storage.StorageConfig = storage.StorageConfig()
    max_reject_fraction: float = 0.01

    def parameters(self) -> dict:
        """The run's parameters as recorded in the manifest."""
        return {
            "dataset": self.dataset, "index": self.index_uri, "images": self.images_uri,
            "companions": dict(self.companions),
            **{name: _plain(dataclasses.asdict(value)) if dataclasses.is_dataclass(value) else value
               for name, value in self.reader_options},
            "augment_splits": list(self.augment_splits),
            "max_reject_fraction": self.max_reject_fraction,
            **_plain(dataclasses.asdict(self.plan)), **_plain(dataclasses.asdict(self.render)),
        }


@dataclass
class RunSummary:
    """What the driver prints after the job: the manifest plus wall time."""

    manifest: manifest.Manifest
    seconds: float
    jpeg_bytes: int
    peak_worker_mb: float = 0.0


def _nothing() -> None:
    return None


def _plain(values: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def load_index(job: PreprocessJob) -> DatasetIndex:
    """Read the dataset's index (or listing) on the driver and parse it.

    Raises:
        UserError: missing index, unreadable layout, empty listing.
    """
    reader = READERS[job.dataset]
    if reader.kind == "listing":
        keys = storage.list_keys(job.images_uri, job.storage)
        if not keys:
            raise UserError(f"no files under {job.images_uri}: --images must be the dataset root")
        return _parse(reader.read, keys)
    if not job.index_uri:
        raise UserError(f"--index is required for --dataset {job.dataset}")
    text = _read_text(job.index_uri, job.storage, "--index")
    flags = {c.argument: c.flag for c in reader.companions}
    kwargs = {argument: _read_text(uri, job.storage, flags[argument]) for argument, uri in job.companions}
    index = _parse(reader.read, text, **kwargs, **dict(job.reader_options))
    return _locate(index, reader, job)


def _locate(index: DatasetIndex, reader, job: PreprocessJob) -> DatasetIndex:
    # One HEAD in the usual case; a listing only when the images are not where the index says.
    if reader.locate is None or not index.records or storage.exists(
            storage.join(job.images_uri, index.records[0].path), job.storage):
        return index
    index, moved = reader.locate(index, storage.list_keys(job.images_uri, job.storage))
    if moved:
        log.warning("--images: %d of %d images are in subfolders (such as Kaggle's "
                    "images_001/images/); reading them there", moved, len(index.records))
    return index


def _read_text(uri: str, config, flag: str) -> str:
    try:
        data = storage.read_bytes(uri, config)
    except FileNotFoundError:
        raise UserError(f"{flag} {uri} not found") from None
    except UnreadableObject as exc:
        raise UserError(f"{flag}: cannot read {exc}; name the index file itself") from None
    try:
        return index_text(data, f"{flag} {uri}")
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _parse(read, source, **kwargs) -> DatasetIndex:
    try:
        return read(source, **kwargs)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def check_no_overlap(output_uri: str, inputs) -> None:
    """Refuse an output that contains an input or lies inside one: a rerun would read its own
    JPEGs as new images, or write into the source.

    Args:
        inputs: (flag, URI or None) pairs.

    Raises:
        UserError: naming both flags.
    """
    for flag, uri in inputs:
        if uri and storage.overlap(output_uri, uri):
            raise UserError(f"--output {output_uri} overlaps {flag} {uri} (one contains the other): "
                            "write the dataset to a location of its own")


def plan_preprocess(job: PreprocessJob) -> Plan:
    """Check the locations, read the index and plan, all before Spark starts.

    Raises:
        UserError: a mistake in the inputs, reported before any work starts.
    """
    check_no_overlap(job.output_uri, [("--images", job.images_uri), ("--index", job.index_uri)]
                     + [(READERS[job.dataset].companion_flag(a), uri) for a, uri in job.companions])
    for uri, writing in ((job.images_uri, False), (job.output_uri, True)):
        storage.check_reachable(uri, job.storage, for_writing=writing)
    with phase("read index"):
        index = load_index(job)
    with phase("plan"):
        try:
            plan = build_plan(index, job.plan)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    _check_work(plan, index)
    return plan


def _check_work(plan: Plan, index: DatasetIndex) -> None:
    """Nothing to write is a mistake, said before anything (an old manifest included) changes."""
    if any(item.rejected is None for task in plan.tasks for item in task):
        return
    total = len(index.records) + len(index.rejects)
    if not total:
        raise UserError("--index lists no images (a header without rows): nothing to write")
    left_out = Counter(plan.excluded) + Counter(f"index {r.reason}" for r in index.rejects)
    why = ", ".join(f"{reason} {n:,}" for reason, n in sorted(left_out.items()) if n)
    raise UserError(f"nothing to write: all {total:,} images of the index are left out ({why})")


def run_preprocess(spark, job: PreprocessJob, plan: Plan, before_commit=_nothing, carried=None) -> RunSummary:
    """Run the planned job and commit it with its manifest.

    Args:
        before_commit: called just before the manifest is written (the lease check); it
            raises to stop the commit, and the previous version stays current.
        carried: an ``update.Update`` whose carried images join the new version (``plan``
            then holds only what must be processed).

    Raises:
        JobFailed: too many rejects, or ``before_commit`` refused; no manifest is written.
    """
    started = time.monotonic()
    commit = history.start_commit(job.output_uri, job.storage, job.parameters())
    ctx = job_context(job, plan, commit.version)
    with phase("preprocess", "spark"):
        results = _run_tasks(spark, plan, ctx, carried)
    with phase("manifest"):
        built = preprocess_manifest(job, plan, results, carried)
    check_rejects(built, job.max_reject_fraction)
    with phase("commit"):
        built = commit.write(built, before_commit)
    jpeg_bytes = sum(r.jpeg_bytes for r in results)
    peak = max((r.peak_rss_mb for r in results), default=0.0)
    return RunSummary(built, time.monotonic() - started, jpeg_bytes, peak)


def job_context(job: PreprocessJob, plan: Plan, version: int) -> JobContext:
    """What the tasks of ``job`` writing ``version`` share."""
    return JobContext(job.images_uri, job.output_uri, job.storage, job.render, tuple(plan.classes),
                      job.augment_splits, version)


def _run_tasks(spark, plan: Plan, ctx: JobContext, carried=None) -> list[TaskResult]:
    """The plan's tasks, and an update's carrying tasks with them (one Spark job)."""
    from .update import carry_work, run_carry, shared_dropped

    work = [("process", i, task) for i, task in enumerate(plan.tasks)]
    dropped = None
    if carried is not None:
        work += carry_work(carried, len(plan.tasks), records=False)
        dropped = shared_dropped(spark, carried)
    sc = spark.sparkContext
    sc.setJobGroup(GROUP, f"preprocess {plan.processed} images", interruptOnCancel=True)
    rdd = sc.parallelize(work, len(work))

    def one(w):
        kind, number, source = w
        return run_task(number, source, ctx) if kind == "process" else run_carry(w, dropped.value, ctx, None)[0]

    with job_failures("preprocess"), progress_reporter(sc, GROUP, *progress_units(plan, work, carried)):
        return rdd.map(one).collect()


def progress_units(plan: Plan, work: list, carried) -> tuple[int, str]:
    """Images for a full job; an update's tasks are not all images (the carrying ones copy)."""
    return (len(work), "tasks") if carried is not None else (plan.processed, "images")


def preprocess_manifest(job: PreprocessJob, plan: Plan, results: list[TaskResult],
                        carried=None) -> manifest.Manifest:
    """The manifest of a preprocessing job from its tasks' results (an update's carrying
    tasks' too: ``carried`` is recorded in its parameters)."""
    written, images, rejects, positives = Counter(), Counter(), Counter(), {}
    files = []
    for result in results:
        written.update(result.written)
        images.update(result.images)
        rejects.update(result.rejects)
        files.extend(result.files)
        for split, counts in result.positives.items():
            total = positives.setdefault(split, [0] * len(plan.classes))
            positives[split] = [a + b for a, b in zip(total, counts)]
    parameters = job.parameters()
    if carried is not None:
        parameters["update"] = carried.record()
    return manifest.build_manifest(
        kind="preprocess", dataset=job.dataset, classes=plan.classes,
        parameters=parameters, inputs=plan.inputs, counts=manifest.nested_counts(written),
        images=dict(images), positives=positives, rejects=dict(rejects),
        excluded=plan.excluded, files=files,
    )


def check_rejects(built: manifest.Manifest, max_fraction: float) -> None:
    inputs, rejected = built.inputs, built.rejects["total"]
    if inputs and rejected / inputs > max_fraction:
        reasons = ", ".join(f"{r}: {n}" for r, n in built.rejects["by_reason"].items())
        raise JobFailed(
            f"{rejected} of {inputs} inputs rejected ({rejected / inputs:.1%}), above "
            f"--max-reject-fraction {max_fraction:g} ({reasons}); no manifest written. "
            f"See the rejects/ table for every input and its reason."
        )
