"""The trainer's settings: what each stage and `cxrpipe evaluate` take. No TensorFlow here.

Apart from ``loop`` and ``evaluate`` (which import TensorFlow) so that the CLI can take its
defaults from these dataclasses at ``--help`` time; both modules re-export them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cxrpipe import storage
from cxrpipe.train import sources

DISTRIBUTE = ("none", "mirrored", "multiworker")   # distribute.STRATEGIES has one entry per name
INPUT_SHARDING = ("auto", "file", "data")          # how multiworker splits the training input
BACKBONES = ("inception_resnet_v2", "densenet121", "resnet50", "mobilenet_v2", "small")  # backbones.BACKBONES


@dataclass(frozen=True)
class Settings:
    """Everything a training stage needs; the CLI fills it from the flags (same names)."""

    dataset: str
    out: Path
    storage: storage.StorageConfig = field(default_factory=storage.StorageConfig)
    version: int | None = None       # of the dataset; None: its current one
    classes: str | tuple[str, ...] | None = None
    image_size: int = 299
    ae_size: int = 64
    batch_size: int = 32
    epochs: int = 10
    steps_per_epoch: int | None = None
    learning_rate: float = 1e-3
    mixed_precision: bool = False
    distribute: str = "none"
    input_sharding: str = "auto"
    sync_batch_norm: bool = False   # batch statistics over the global batch, not each replica's
    seed: int = 0
    shuffle_buffer: int = 1024
    restart: bool = False
    verbose: int = 1
    backbone: str = "inception_resnet_v2"
    weights: str | None = None
    autoencoders: bool = True
    dropout: float = 0.2
    crop_fraction: float = 1.0       # below 1: random crops in training, center crop after
    accumulate: int = 1              # batches whose gradients make one update


@dataclass(frozen=True)
class EvalSettings:
    """What `cxrpipe evaluate` reads; ``dataset`` None means the one the model trained on."""

    out: Path
    dataset: str | None = None
    storage: storage.StorageConfig = field(default_factory=storage.StorageConfig)
    version: int | None = None       # None: the version the model trained on (with --dataset: the current)
    split: str = sources.TEST
    threshold_split: str | None = sources.VAL
    target_recall: float = 0.9
    batch_size: int = 32
    verbose: int = 1
    bootstrap: int = 1000            # resamples for the AUC intervals; 0: none
    seed: int = 0                    # of the bootstrap
    calibration_bins: int = 10
    boxes: str | None = None         # NIH's BBox_List_2017.csv (a path or s3:// URI): score localization
    box_threshold: float = 0.5       # the IoU's region: the map at or above this fraction of its maximum
