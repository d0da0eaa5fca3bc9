"""Rows of `cxrpipe predict` and their CSV, JSON and Parquet forms.

One row per input, in input order: ``input``, ``status`` (``ok`` or ``rejected``),
``reason`` and ``detail`` of a reject (preprocessing's reject codes), then per class
``probability:{class}`` and ``positive:{class}`` — true or false at the model's tuned
threshold, empty (null) when the model has no tuned threshold for that class (`cxrpipe
evaluate` was not run, or its tuning split had no positive case).
"""

from __future__ import annotations

import csv
import io
import json

from cxrpipe.errors import ImageRejected

FORMATS = ("csv", "json", "parquet")
FIXED = ("input", "status", "reason", "detail")


def columns(classes) -> list[str]:
    """The rows' columns, in order."""
    return [*FIXED, *(f"probability:{c}" for c in classes), *(f"positive:{c}" for c in classes)]


def ok_row(uri: str, classes, scores, thresholds) -> dict:
    """The row of a scored input; ``thresholds`` per class (None: no call made)."""
    row = {"input": uri, "status": "ok", "reason": None, "detail": None}
    limits = thresholds or (None,) * len(classes)
    row.update({f"probability:{c}": float(s) for c, s in zip(classes, scores)})
    row.update({f"positive:{c}": None if t is None else bool(s >= t)
                for c, s, t in zip(classes, scores, limits)})
    return row


def rejected_row(uri: str, classes, rejected: ImageRejected) -> dict:
    """The row of an input preprocessing would have rejected: no scores."""
    row = dict.fromkeys(columns(classes))
    row.update(input=uri, status="rejected", reason=rejected.reason, detail=rejected.detail)
    return row


def to_csv(rows: list[dict], classes) -> bytes:
    text = io.StringIO()
    writer = csv.DictWriter(text, columns(classes), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue().encode()


def to_json(rows: list[dict], classes) -> bytes:
    return (json.dumps(rows, indent=1) + "\n").encode()


def to_parquet(rows: list[dict], classes) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    fields = [pa.field(name, pa.string()) for name in FIXED]
    fields += [pa.field(f"probability:{c}", pa.float64()) for c in classes]
    fields += [pa.field(f"positive:{c}", pa.bool_()) for c in classes]
    table = pa.Table.from_pylist(rows, schema=pa.schema(fields))
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


WRITERS = {"csv": to_csv, "json": to_json, "parquet": to_parquet}
