"""`cxrpipe evaluate --boxes`: how well the Grad-CAM maps find NIH's radiologist boxes.

Each box whose image is a primary record of the scored split and whose finding is one of the
model's classes is mapped from source pixels into the model's input (``boxes.to_model``, with
the source's size from the dataset's index) and scored against that class's map, brought to
the model's input size (``heatmaps.score_box``). Every other box is counted, by reason.
"""

from __future__ import annotations

from collections import Counter

import tensorflow as tf

from cxrpipe import boxes, heatmaps, history, storage
from cxrpipe.dataset import Dataset
from cxrpipe.errors import UserError
from cxrpipe.train import data, gradcam

NOT_IN_SPLIT = "image_not_in_split"
NOT_A_CLASS = "finding_not_a_model_class"


def read_boxes(uri: str, config: storage.StorageConfig) -> list[boxes.Box]:
    """The box file at ``uri`` (local or ``s3://``).

    Raises:
        UserError: a missing or malformed file, naming the line.
    """
    try:
        return boxes.parse(storage.read_bytes(uri, config), uri)
    except FileNotFoundError:
        raise UserError(f"--boxes {uri}: no such file") from None
    except ValueError as exc:
        raise UserError(f"--boxes {exc}") from None


def localization(model, source: Dataset, split: str, classes, image_size: int,
                 box_list: list[boxes.Box], threshold: float, batch_size: int) -> dict:
    """The localization report (``boxes.localization_report``) of ``model`` on ``split``."""
    not_scored = Counter(NOT_A_CLASS for b in box_list if b.finding not in classes)
    wanted = [b for b in box_list if b.finding in classes]
    jpegs = _images(source, split, {b.image_id for b in wanted})
    not_scored.update(NOT_IN_SPLIT for b in wanted if b.image_id not in jpegs)
    wanted = [b for b in wanted if b.image_id in jpegs]
    sizes = _source_sizes(source, {b.image_id for b in wanted})
    cam = gradcam.GradCam(gradcam.explainer(model))
    scored = []
    for start in range(0, len(wanted), batch_size):
        batch = wanted[start:start + batch_size]
        scored.extend(_score(cam, batch, jpegs, sizes, classes, image_size, threshold))
    return boxes.localization_report(scored, threshold, dict(not_scored))


def _score(cam: gradcam.GradCam, batch, jpegs, sizes, classes, image_size: int, threshold: float):
    """(finding, hit, IoU, box area fraction) of each box of one batch."""
    pixels = tf.stack([data.decode_image(tf.constant(jpegs[b.image_id]), image_size) for b in batch])
    positions = sorted({classes.index(b.finding) for b in batch})
    maps, _ = cam(pixels, positions)
    results = []
    for box, image_maps in zip(batch, maps):
        heat = heatmaps.upsample(heatmaps.normalise(image_maps[positions.index(classes.index(box.finding))]),
                                 image_size, image_size)
        mapped = boxes.to_model(box, *sizes[box.image_id], image_size)
        hit, overlap = heatmaps.score_box(heat, mapped, threshold)
        area = heatmaps.box_mask(mapped, image_size, image_size).mean()
        results.append((box.finding, hit, overlap, float(area)))
    return results


def _images(source: Dataset, split: str, ids: set[str]) -> dict[str, bytes]:
    """JPEG bytes of the primary records of ``split`` whose id is in ``ids``."""
    found = {}
    for image_id, jpeg in data.identified_images(source, split).as_numpy_iterator():
        name = image_id.decode()
        if name in ids:
            found[name] = jpeg
    return found


def _source_sizes(source: Dataset, ids: set[str]) -> dict[str, tuple[int, int]]:
    """(width, height) of each source image, from the dataset's index.

    Raises:
        UserError: a dataset without an index (made by `cxrpipe shards` alone).
    """
    if not ids:
        return {}
    if not source.manifest.has_images:
        raise UserError(f"--boxes: {source.root} has no index of source image sizes (a shards-only "
                        f"dataset); score a dataset made by `cxrpipe run` or `cxrpipe preprocess`")
    rows = history.index_rows(source.root, source.manifest, source.storage)
    return {r["image_id"]: (r["source_width"], r["source_height"]) for r in rows
            if r["image_id"] in ids and r["primary"]}

