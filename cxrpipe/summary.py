"""Readable tables of a manifest: written per split x class, rejects, files. Pure."""

from __future__ import annotations

from .layout import AUGMENTATIONS, TFRECORDS
from .manifest import Manifest



def table(header: list[str], rows: list[list], right_from: int = 1) -> str:
    """A plain-text table; columns from ``right_from`` on are right-aligned (numbers)."""
    cells = [header] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "  ".join(v.rjust(w) if i >= right_from else v.ljust(w)
                         for i, (v, w) in enumerate(zip(row, widths))).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule] + [line(r) for r in cells[1:]])


def _cell(value) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return "" if value is None else str(value)


def counts_table(built: Manifest) -> str:
    """JPEGs written per split x class, one column per augmentation present."""
    counts = built.counts
    augs = [a for a in AUGMENTATIONS
            if any(a in per_aug for per_class in counts.values() for per_aug in per_class.values())]
    rows = []
    for split in sorted(counts):
        for cls in built.partitions():
            per_aug = counts[split].get(cls)
            if per_aug:
                rows.append([split, cls] + [per_aug.get(a, 0) for a in augs] + [sum(per_aug.values())])
    return table(["split", "class"] + augs + ["total"], rows, right_from=2)


def rejects_table(built: Manifest) -> str:
    by_reason = built.rejects.get("by_reason", {})
    if not by_reason:
        return "rejected: none"
    return table(["rejected: reason", "inputs"], [[r, n] for r, n in by_reason.items()])


def weights_table(built: Manifest) -> str:
    """N/N_l per class (rows) and split (columns): what the trainer's loss will use."""
    weights = built.class_weights
    splits = sorted(weights)
    rows = [[cls] + [weights[s].get(cls) for s in splits] for cls in built.classes]
    return table(["class weight N/N_l"] + splits, rows)


def shards_table(built: Manifest) -> str:
    """Per split x class: shard count, records, total MB and the smallest/largest shard."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for entry in built.files_under(TFRECORDS):
        groups.setdefault((entry["split"], entry["partition"]), []).append(entry)
    if not groups:
        return "shards: none"
    order = {c: i for i, c in enumerate(built.partitions())}
    rows = []
    for (split, cls) in sorted(groups, key=lambda k: (k[0], order.get(k[1], 0))):
        sizes = [e["bytes"] / 1e6 for e in groups[(split, cls)]]
        records = sum(e["records"] for e in groups[(split, cls)])
        rows.append([split, cls, len(sizes), records, sum(sizes), min(sizes), max(sizes)])
    return table(["split", "class", "shards", "records", "MB", "min MB", "max MB"], rows, right_from=2)


def run_summary(built: Manifest, seconds: float, jpeg_bytes: int, where: str, peak_worker_mb: float = 0.0) -> str:
    """The summary printed after a job: counts, rejects, bytes, wall time, rate."""
    inputs = built.inputs
    written = sum(built.images.values())
    excluded = sum(built.excluded.values())
    reasons = ", ".join(f"{reason} {n:,}" for reason, n in built.excluded.items() if n)
    rate = inputs / seconds if seconds > 0 else 0.0
    lines = [
        counts_table(built), "", rejects_table(built), "",
        f"inputs {inputs:,}: written {written:,}, rejected {built.rejects['total']:,}, "
        f"excluded by your filters {excluded:,}" + (f" ({reasons})" if reasons else ""),
        f"{jpeg_bytes / 1e6:,.1f} MB of JPEG in {seconds:,.1f} s wall time ({rate:,.1f} images/s), "
        f"peak Python worker memory {peak_worker_mb:,.0f} MB",
        f"dataset: {where}",
    ]
    return "\n".join(lines)
