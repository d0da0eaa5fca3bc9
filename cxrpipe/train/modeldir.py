"""The model directory: one file, OUT/train_config.json, says everything that uses a model
needs, so that a model folder copied elsewhere is self-contained. No TensorFlow here: the
CLI, `predict` and `export` read it before (or without) loading a model.

What it records, once, when `cxrpipe train classifier` saves the classifier:

- ``render``: the training dataset's ``RenderParams`` as its manifest recorded them (size,
  CLAHE clip/grid/placement, resize and decode modes, JPEG quality, pixel limit), so that a
  new radiograph goes through exactly the preprocessing of the training JPEGs;
- ``dataset`` and ``dataset_version``: what it trained on (``evaluate`` scores that version);
- ``classes`` (the model's output order), ``image_size`` (the model's input side) and
  ``input_transform`` (the name of the JPEG-to-tensor transform, ``data.INPUT_TRANSFORM``)
  with its ``crop_fraction`` (below 1: resized to ``data.resize_side`` and center-cropped to
  ``image_size``, the evaluation view of training's random crops);
- ``thresholds``, once `cxrpipe evaluate` has tuned them: per class, the score at or above
  which a finding is called positive (None where the tuning split had no positive case).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from cxrpipe import __version__
from cxrpipe.errors import UserError
from cxrpipe.params import RenderParams

CONFIG_FILE = "train_config.json"
CLASSIFIER_FILE = "classifier.keras"
METRICS_FILE = "metrics.json"
FORMAT = "cxrpipe.model"
FORMAT_VERSION = 1
# The name of data.model_input's transform; data.py asserts it is the one it implements.
INPUT_TRANSFORM = "jpeg-gray8>bilinear-antialias>gray-to-rgb>inception-scale[-1,1]"


@dataclass(frozen=True)
class Thresholds:
    """Tuned decision thresholds: ``values[class]`` (None: none could be tuned)."""

    values: dict
    target_recall: float
    split: str


@dataclass(frozen=True)
class ModelCard:
    """The contents of a model directory's config (see the module's docstring)."""

    dataset: str
    classes: tuple[str, ...]
    image_size: int
    render: RenderParams
    backbone: str
    weights: str | None = None
    autoencoders: tuple[str, ...] = ()
    mixed_precision: bool = False
    model: str = CLASSIFIER_FILE
    input_transform: str = INPUT_TRANSFORM
    thresholds: Thresholds | None = None
    code_version: str = __version__
    dataset_version: int | None = None  # the dataset version trained on (None: made before versions)
    crop_fraction: float = 1.0          # 1: the whole image (cards made before crops)

    def to_dict(self) -> dict:
        body = {"format": FORMAT, "format_version": FORMAT_VERSION, **dataclasses.asdict(self)}
        body["classes"], body["autoencoders"] = list(self.classes), list(self.autoencoders)
        body["render"]["flips"] = list(self.render.flips)
        return body

    @classmethod
    def from_dict(cls, body: dict) -> "ModelCard":
        """Raises ValueError naming what is missing or unknown."""
        if body.get("format") != FORMAT or body.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"expected format {FORMAT} version {FORMAT_VERSION}, got "
                             f"{body.get('format')!r} version {body.get('format_version')!r}")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(body) - fields - {"format", "format_version"})
        if unknown:
            raise ValueError(f"unknown fields {', '.join(unknown)}: written by a newer cxrpipe")
        values = {k: v for k, v in body.items() if k in fields}
        render = {k: tuple(v) if isinstance(v, list) else v for k, v in values["render"].items()}
        thresholds = values.get("thresholds")
        return cls(**{**values, "classes": tuple(values["classes"]), "render": RenderParams(**render),
                      "autoencoders": tuple(values.get("autoencoders", ())),
                      "thresholds": Thresholds(**thresholds) if thresholds else None})

    def threshold_values(self) -> tuple[float | None, ...] | None:
        """The tuned threshold per class in ``classes`` order; None before `evaluate`."""
        if self.thresholds is None:
            return None
        return tuple(self.thresholds.values.get(c) for c in self.classes)


def write(out: Path, card: ModelCard) -> Path:
    """Write ``card`` as OUT/train_config.json (whole: written then renamed)."""
    path = Path(out) / CONFIG_FILE
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(card.to_dict(), indent=2) + "\n")
    temporary.replace(path)
    return path


def read(out: Path) -> ModelCard:
    """The card of the model directory ``out``.

    Raises:
        UserError: no config there (the classifier was not trained), or one this cxrpipe
            cannot read (another format version, damaged), naming the file.
    """
    path = Path(out) / CONFIG_FILE
    if not path.is_file():
        raise UserError(f"no {CONFIG_FILE} in {out}: not a model directory; run "
                        f"`cxrpipe train classifier --out {out}` first")
    try:
        return ModelCard.from_dict(json.loads(path.read_text()))
    except (ValueError, TypeError, KeyError) as exc:
        raise UserError(f"{path}: cannot read this model directory ({exc}); retrain it with this "
                        f"cxrpipe ({__version__})") from None


def with_thresholds(card: ModelCard, report: dict) -> ModelCard:
    """``card`` with the thresholds an evaluation report tuned (unchanged if it tuned none)."""
    if not report.get("threshold_split"):
        return card
    values = {}
    for name in card.classes:
        tuned = report["per_class"][name]["at_target_recall"]
        values[name] = tuned["threshold"] if tuned else None
    return dataclasses.replace(card, thresholds=Thresholds(values, report["target_recall"],
                                                           report["threshold_split"]))
