"""`cxrpipe predict --explain DIR`, without TensorFlow: which classes get a heatmap, what each
PNG is called, and the ``heatmaps.csv`` that maps every PNG back to its prediction row.

Default (``auto``): the findings called positive at the model's tuned thresholds, since that
is what a reader of the predictions is asked to check; when none is called (or the model has
no thresholds), the one with the highest probability, so every scored image shows where the
model looked. ``all`` explains every class; a comma list names classes as the card spells them.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import PurePosixPath

from cxrpipe import labels

AUTO, ALL = "auto", "all"
INDEX_FILE = "heatmaps.csv"
INDEX_COLUMNS = ("heatmap", "row", "input", "class", "probability", "positive")


def parse_choice(text: str, classes) -> str | tuple[str, ...]:
    """``auto``, ``all`` or the named classes in the card's order.

    Raises:
        ValueError: an unknown class name, naming the known ones.
    """
    if text in (AUTO, ALL):
        return text
    try:
        return labels.resolve_classes(text, classes, allow_unlabeled=False)
    except ValueError as exc:
        raise ValueError(str(exc).replace("--classes", "--explain-classes", 1)) from None


def chosen(choice, classes, scores, thresholds) -> list[int]:
    """Positions of the classes to explain for one image's ``scores``."""
    if choice == ALL:
        return list(range(len(classes)))
    if choice != AUTO:
        return [classes.index(name) for name in choice]
    limits = thresholds or (None,) * len(classes)
    positive = [i for i, (s, t) in enumerate(zip(scores, limits)) if t is not None and s >= t]
    return positive or [max(range(len(classes)), key=lambda i: scores[i])]


def heatmap_name(row: int, uri: str, class_name: str) -> str:
    """``000012-00000001_000-Cardiomegaly.png``: the prediction row first (inputs from two
    folders may share a file name), then the input's stem and the class, made file-safe."""
    return f"{row:06d}-{_safe(PurePosixPath(uri).stem)}-{_safe(class_name)}.png"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-") or "image"


def index_csv(entries: list[dict]) -> bytes:
    """``heatmaps.csv``: one line per PNG, with ``INDEX_COLUMNS``."""
    text = io.StringIO()
    writer = csv.DictWriter(text, INDEX_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(entries)
    return text.getvalue().encode()
