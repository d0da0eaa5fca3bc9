"""The preprocessing plan: which image goes to which split, partitions and task. Pure.

The driver builds the plan from the dataset index; executors only carry it out. Everything in
it follows from the image ids, the patient ids and the seed, never from listing or task order,
so a rerun or a retried task writes the same keys with the same bytes.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from dataclasses import dataclass

from .. import labels, splits
from ..index import DatasetIndex, Record, stem
from ..index.record import share_fields

# Views as the sources spell them (NIH and MIMIC ``PA``/``AP``, CheXpert ``Frontal`` when its
# AP/PA is blank); upper-cased before the lookup.
FRONTAL_VIEWS = frozenset({"PA", "AP", "FRONTAL"})
VIEW_CHOICES = ("all", "frontal")


@dataclass(frozen=True)
class PlanOptions:
    """What the user asked for (the CLI's flags, validated)."""

    fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)
    seed: int = 0
    uncertain: str = "zeros"
    membership: str = "any"
    classes: tuple[str, ...] | None = None   # as the user wrote them: resolved against the index
    views: str = "all"
    images_per_task: int = 128
    resplit: bool = False


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One source image and everything a task needs to process it.

    ``partitions`` lists the class folders it is written to, primary first; ``rejected`` holds
    (reason, detail) when the index already showed it unusable, so the task records it
    without reading anything.
    """

    image_id: str
    source: str
    patient_id: str
    split: str
    stem: str
    partitions: tuple[str, ...]
    multi_hot: tuple[int, ...]
    uncertain: tuple[int, ...]
    view: str
    rejected: tuple[str, str] | None = None

    def __post_init__(self):
        share_fields(self, ("patient_id", "split", "partitions", "multi_hot", "uncertain", "view"))


@dataclass(frozen=True)
class Plan:
    """Tasks of work items plus what was left out on purpose (counted, never silent)."""

    classes: tuple[str, ...]
    tasks: tuple[tuple[WorkItem, ...], ...]
    excluded: dict[str, int]
    selected: tuple[str, ...] | None = None   # the partitions --classes resolved to (None: all)
    carried: int = 0   # inputs an update takes over from the current version, in no task

    @property
    def inputs(self) -> int:
        return self.processed + self.carried

    @property
    def processed(self) -> int:
        return sum(len(t) for t in self.tasks)

    @property
    def items(self):
        """Every work item, task by task."""
        return (item for task in self.tasks for item in task)

    def narrowed(self, items, carried: int, images_per_task: int) -> Plan:
        """This plan with only ``items`` to process, in tasks of their own, and ``carried``
        inputs taken over unchanged (`--update`)."""
        return dataclasses.replace(self, tasks=_bucket(list(items), images_per_task), carried=carried)


def build_plan(index: DatasetIndex, options: PlanOptions) -> Plan:
    """Assign every record of ``index`` a split, its partitions and a task.

    Args:
        index: what the dataset reader made of the index.
        options: the user's choices.

    Returns:
        The plan; records excluded by ``--views`` or by ``--classes``/``--membership`` are
        counted in ``excluded`` by reason.

    Raises:
        ValueError: an unknown ``--classes`` name; a patient on both sides of the layout's
            splits (the real chest-xray-pneumonia set has such patients: ``--resplit`` is the
            way out).
    """
    selected = labels.resolve_classes(options.classes, index.classes)
    options = dataclasses.replace(options, classes=selected)
    kept, excluded = _apply_view_filter(index.records, options.views, index.has_views)
    if options.resplit:
        kept = [dataclasses.replace(r, split=None) for r in kept]
    try:
        split_of = splits.split_records(kept, options.fractions, options.seed)
    except ValueError as exc:
        raise ValueError(f"{exc}; --resplit ignores the layout's splits and splits by patient") from None
    items = []
    for record in kept:
        item = _work_item(record, index, split_of[record.image_id], options)
        if item.partitions:
            items.append(item)
        else:
            excluded["not_in_selected_classes"] += 1
    items.extend(_rejected_item(r) for r in index.rejects)
    return Plan(index.classes, _bucket(items, options.images_per_task), dict(excluded), selected)


def _apply_view_filter(records, views: str, has_views: bool) -> tuple[list[Record], Counter]:
    """``frontal`` keeps PA and AP (and CheXpert's ``Frontal``); a blank view is unknown and
    left out too, except in layouts without views (folders), where every image is kept."""
    excluded: Counter = Counter()
    if views == "all" or not has_views:
        return list(records), excluded
    kept = []
    for record in records:
        view = record.view.strip().upper()
        if view in FRONTAL_VIEWS:
            kept.append(record)
        else:
            excluded["unknown_view" if not view else "lateral_view"] += 1
    return kept, excluded


def _work_item(record: Record, index: DatasetIndex, split: str, options: PlanOptions) -> WorkItem:
    classes = index.classes
    partitions = labels.partitions(
        record.values, classes, options.uncertain, options.membership, options.classes
    )
    return WorkItem(
        image_id=record.image_id,
        source=record.path,
        patient_id=record.patient_id,
        split=split,
        stem=stem(record.image_id, index.name),
        partitions=partitions,
        multi_hot=labels.multi_hot(record.values, classes, options.uncertain),
        uncertain=labels.uncertain_mask(record.values),
        view=record.view,
    )


def _rejected_item(reject) -> WorkItem:
    return WorkItem(
        image_id=reject.image_id, source=reject.path, patient_id="", split="", stem="",
        partitions=(), multi_hot=(), uncertain=(), view="", rejected=(reject.reason, reject.detail),
    )


def task_count(n_items: int, images_per_task: int) -> int:
    """Tasks depend on the dataset size only, not on the cluster, so outputs repeat anywhere."""
    return max(1, -(-n_items // images_per_task))


def _bucket(items: list[WorkItem], images_per_task: int) -> tuple[tuple[WorkItem, ...], ...]:
    n_tasks = task_count(len(items), images_per_task)
    buckets: list[list[WorkItem]] = [[] for _ in range(n_tasks)]
    for item in items:
        buckets[stable_bucket(item.image_id, n_tasks)].append(item)
    # Sorted inside a task so the task's output (index part, order of writes) repeats.
    return tuple(tuple(sorted(b, key=lambda i: (i.image_id, i.rejected or ()))) for b in buckets)


def stable_bucket(key: str, n: int) -> int:
    """A bucket in [0, n) from a stable hash (Python's hash() changes per process)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % n
