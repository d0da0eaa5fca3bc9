"""NIH's radiologist boxes (``BBox_List_2017.csv``): parsed, named as our classes, and mapped
into the pixels of the image a model saw. Pure.

The released file's header is ``Image Index,Finding Label,Bbox [x,y,w,h],,,``: the
bracketed name is split by the commas inside it, and three empty columns follow, so the
columns are read by position, never by name. x, y, w, h are floats in the pixels of the
source PNG (1024 x 1024 in the release), x right and y down from the top-left corner.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

HEADER = ("Image Index", "Finding Label", "Bbox [x", "y", "w", "h]")
# The box file's spelling of the one finding whose name differs from Data_Entry_2017.csv's.
NIH_BOX_NAMES = {"Infiltrate": "Infiltration"}


@dataclass(frozen=True)
class Box:
    """One radiologist box: an image, a finding (as the classes spell it), source pixels."""

    image_id: str
    finding: str
    x: float
    y: float
    w: float
    h: float
    line: int


def parse(data: bytes, name: str = "BBox_List_2017.csv") -> list[Box]:
    """The boxes of a ``BBox_List_2017.csv``, in file order, findings renamed by ``NIH_BOX_NAMES``.

    Raises:
        ValueError: a header other than NIH's or a malformed row, naming the file and line.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"{name}: not UTF-8 text; expected NIH's BBox_List_2017.csv") from None
    rows = csv.reader(io.StringIO(text))
    header = next(rows, [])
    if tuple(c.strip() for c in header[:len(HEADER)]) != HEADER:
        raise ValueError(f"{name} line 1: expected the header {','.join(HEADER)},,, got {','.join(header)!r}")
    return [_box(row, number, name) for number, row in enumerate(rows, start=2) if any(row)]


def _box(row: list[str], number: int, name: str) -> Box:
    where = f"{name} line {number}"
    if len(row) < 6 or any(cell.strip() for cell in row[6:]):
        raise ValueError(f"{where}: expected Image Index,Finding Label,x,y,w,h, got {','.join(row)!r}")
    image, finding = row[0].strip(), row[1].strip()
    if not image or not finding:
        raise ValueError(f"{where}: empty Image Index or Finding Label in {','.join(row)!r}")
    try:
        x, y, w, h = (float(cell) for cell in row[2:6])
    except ValueError:
        raise ValueError(f"{where}: x,y,w,h must be numbers, got {','.join(row[2:6])!r}") from None
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
        raise ValueError(f"{where}: expected finite x,y and positive w,h, got {x},{y},{w},{h}")
    return Box(image, NIH_BOX_NAMES.get(finding, finding), x, y, w, h, number)


def to_model(box: Box, source_width: int, source_height: int, size: int) -> tuple[float, float, float, float]:
    """The box in the pixels of the model's (size x size) input.

    Preprocessing stretches the whole source into its square (``imageops.resize_area``,
    aspect not kept) and the model stretches that square to its own: each axis scales by
    ``size / source side`` whatever the stored size between.
    """
    sx, sy = size / source_width, size / source_height
    return box.x * sx, box.y * sy, box.w * sx, box.h * sy


def to_csv(boxes: list[Box]) -> bytes:
    """A box file in NIH's format (the header with its three empty columns): for tests and
    for users making their own boxes. The NIH spelling of renamed findings is restored."""
    back = {ours: theirs for theirs, ours in NIH_BOX_NAMES.items()}
    lines = [",".join(HEADER) + ",,,"]
    lines += [f"{b.image_id},{back.get(b.finding, b.finding)},{b.x!r},{b.y!r},{b.w!r},{b.h!r},,,"
              for b in boxes]
    return ("\n".join(lines) + "\n").encode()


def localization_report(scored: list[tuple[str, bool, float, float]], threshold: float,
                        not_found: dict[str, int]) -> dict:
    """Per finding: boxes scored, hit rate of the map's peak, mean IoU of the thresholded map,
    and the chance hit rate (the mean fraction of the image the boxes cover: where a peak
    placed uniformly at random would land).

    Args:
        scored: one ``(finding, hit, iou, box area / image area)`` per scored box.
        threshold: the fraction of each map's maximum the IoU's region starts at.
        not_found: boxes left unscored, by reason (e.g. the image is not in the split).
    """
    findings = {}
    for finding in sorted({s[0] for s in scored}):
        rows = [s for s in scored if s[0] == finding]
        findings[finding] = {
            "boxes": len(rows), "hit_rate": sum(r[1] for r in rows) / len(rows),
            "mean_iou": sum(r[2] for r in rows) / len(rows),
            "chance_hit_rate": sum(min(r[3], 1.0) for r in rows) / len(rows)}
    return {"threshold": threshold, "boxes_scored": len(scored), "findings": findings,
            "not_scored": dict(sorted(not_found.items()))}


def format_localization(report: dict) -> str:
    """The localization report as the lines `cxrpipe evaluate` prints."""
    lines = [f"\nlocalization (Grad-CAM vs boxes; IoU region: map >= {report['threshold']:g} x its max)",
             f"{'finding':<22}{'boxes':>6}{'hit rate':>10}{'chance':>8}{'mean IoU':>10}"]
    for name, r in report["findings"].items():
        lines.append(f"{name:<22}{r['boxes']:>6}{r['hit_rate']:>10.3f}{r['chance_hit_rate']:>8.3f}"
                     f"{r['mean_iou']:>10.3f}")
    skipped = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in report["not_scored"].items())
    lines.append(f"boxes scored: {report['boxes_scored']}; not scored: {skipped or 'none'}")
    return "\n".join(lines)
