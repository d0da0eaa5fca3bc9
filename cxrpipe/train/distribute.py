"""Where a training run's replicas live: the ``tf.distribute`` strategy, this process's role,
how the training input is split between workers, and where this process may write.

``--distribute multiworker`` is TensorFlow's ``MultiWorkerMirroredStrategy``: one process per
machine, every process a full copy of the model, gradients all-reduced every step, the
cluster read from ``TF_CONFIG`` (``cluster.parse``). Its rules, kept here:

* the strategy exists before any other TensorFlow op (the collectives are configured when the
  runtime starts), so ``start`` is the first thing a stage calls;
* every worker runs the same steps: the training stream repeats without end and each epoch is
  ``steps_per_epoch`` global batches, known from the manifest, so no worker meets a short last
  batch while another waits in an all-reduce;
* the input is split once per worker (``input_sharding``): by FILE when every worker gets
  enough shards read by TensorFlow's own reader, else by DATA (each worker reads everything
  and keeps its share);
* only the chief writes into ``--out``; the others write the same files (saving can need their
  collectives) into a temporary folder that is removed (``workdir``), and resume from a copy
  of the chief's checkpoints, so ``--out`` must be a folder every worker sees.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import keras
import tensorflow as tf

from cxrpipe.errors import UserError
from cxrpipe.train import cluster
from cxrpipe.train.settings import INPUT_SHARDING

MIN_FILES_PER_WORKER = 2  # fewer, and FILE sharding leaves workers idle or one-shard-deep
POLICIES = {"file": tf.data.experimental.AutoShardPolicy.FILE,
            "data": tf.data.experimental.AutoShardPolicy.DATA}
CHECKPOINTS = "checkpoints"  # under --out: what a non-chief worker copies to resume
SCRATCH_PREFIX = "cxrpipe-worker-"  # a non-chief worker's temporary folder, in TMPDIR


@dataclass(frozen=True)
class Placement:
    """A created strategy and this process's place in it.

    Attributes:
        strategy: build and compile the model under ``strategy.scope()``.
        cluster: the multi-worker cluster, or None for a single process.
    """

    strategy: tf.distribute.Strategy
    cluster: cluster.Cluster | None = None

    @property
    def chief(self) -> bool:
        """Whether this process writes into ``--out``."""
        return self.cluster is None or self.cluster.chief

    @property
    def workers(self) -> int:
        """Processes training together (1 without a cluster)."""
        return 1 if self.cluster is None else self.cluster.workers

    @property
    def replicas(self) -> int:
        """Model copies a global batch is split between (every device of every worker)."""
        return self.strategy.num_replicas_in_sync


def _single(strategy_class):
    return lambda environ: Placement(strategy_class())


class _MultiWorker(tf.distribute.MultiWorkerMirroredStrategy):
    """TensorFlow's strategy, with ``reduce`` taken tensor by tensor over a nested value, and
    a per-replica scalar reduced over the replicas whatever ``axis`` says.

    Keras 3's ``fit`` (3.15 here) calls ``reduce`` on a whole (images, labels) batch to learn
    the input shapes, and with ``axis=0`` on the scalar loss and metrics of every step; the
    collective strategy refuses both (keras-team/keras#20585). Those calls mean exactly this.
    """

    def reduce(self, reduce_op, value, axis=None):
        parent = super()

        def one(v):
            scalar = all(t.shape.rank == 0 for t in self.experimental_local_results(v))
            return parent.reduce(reduce_op, v, None if scalar else axis)

        return tf.nest.map_structure(one, value)


def _multiworker(environ) -> Placement:
    try:
        where = cluster.parse(environ.get(cluster.ENV))
    except ValueError as exc:
        raise UserError(f"--distribute multiworker: {exc}") from None
    return Placement(_MultiWorker(), where)


STRATEGIES = {"none": _single(tf.distribute.get_strategy),
              "mirrored": _single(tf.distribute.MirroredStrategy),
              "multiworker": _multiworker}


def start(name: str, environ=None) -> Placement:
    """Create the strategy ``name``; call it before any other TensorFlow op of the process.

    ``none``: TensorFlow's default strategy; ``mirrored``: every GPU of this machine;
    ``multiworker``: every device of every worker ``TF_CONFIG`` names.

    Args:
        name: one of ``STRATEGIES``.
        environ: the environment ``TF_CONFIG`` is read from (default ``os.environ``).

    Raises:
        UserError: an unknown name, or ``TF_CONFIG`` missing or malformed.
    """
    if name not in STRATEGIES:
        raise UserError(f"--distribute: expected one of {', '.join(STRATEGIES)}, got {name!r}")
    return STRATEGIES[name](os.environ if environ is None else environ)


def per_replica_batch(placement: Placement, batch_size: int) -> int:
    """The batch each replica computes on: the global batch over the replicas.

    Raises:
        UserError: a global batch the replicas cannot share equally.
    """
    replicas = placement.replicas
    if batch_size % replicas:
        raise UserError(f"--batch-size {batch_size}: the global batch must be a multiple of the "
                        f"{replicas} replicas training together")
    return batch_size // replicas


def choose_sharding(asked: str, files: int, workers: int, tf_reader: bool) -> str:
    """``file`` or ``data``: how the training input is split between ``workers``.

    Args:
        asked: ``auto``, ``file`` or ``data`` (``--input-sharding``).
        files: shard files the stream reads.
        workers: processes training together.
        tf_reader: whether the shards are read by TensorFlow's ``TFRecordDataset`` (local
            files); shards fetched through the storage layer can only be split by DATA.

    Raises:
        UserError: ``file`` asked where it cannot give every worker a shard.
    """
    if asked not in INPUT_SHARDING:
        raise UserError(f"--input-sharding: expected one of {', '.join(INPUT_SHARDING)}, got {asked!r}")
    file_ok = tf_reader and files >= workers
    if asked == "file" and not file_ok:
        why = "shards fetched from S3" if not tf_reader else f"{files} shard files for {workers} workers"
        raise UserError(f"--input-sharding file: not possible with {why}; use data or auto")
    if asked != "auto":
        return asked
    return "file" if file_ok and files >= MIN_FILES_PER_WORKER * workers else "data"


def shard_input(dataset: tf.data.Dataset, how: str) -> tf.data.Dataset:
    """``dataset`` marked to be split between workers by ``how`` (``file`` or ``data``).

    The split itself is TensorFlow's (auto-sharding when Keras distributes the dataset); a
    single process ignores the mark.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = POLICIES[how]
    return dataset.with_options(options)


def unsplit(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """``dataset`` marked to be read whole by every worker: for validation passes, so that
    every worker computes the same figures over every record.

    Split by FILE, a pass would hold fewer records than it declares on each worker; split by
    DATA, TensorFlow's rewrite broke the autoencoders' pass here ("input depth must be evenly
    divisible by filter depth" on worker 1), and a pass shorter than one global batch gives
    the workers first batches of different sizes, which Keras' first reduce cannot take.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return dataset.with_options(options)


@contextlib.contextmanager
def workdir(placement: Placement, out: Path, restart: bool):
    """The folder this process writes models, checkpoints and logs into.

    The chief: ``out``. Another worker: a temporary folder holding a copy of the chief's
    checkpoints (so that it resumes from the same epoch), removed on leaving.
    """
    if placement.chief:
        yield Path(out)
        return
    scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))
    try:
        saved = Path(out) / CHECKPOINTS
        if saved.is_dir() and not restart:
            shutil.copytree(saved, scratch / CHECKPOINTS)
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def synchronize_batch_norm(model: keras.Model) -> int:
    """Make every BatchNormalization layer of ``model`` (nested models too) compute its
    training statistics over the global batch, all-reducing them across replicas each step.

    Without it each replica normalizes by its own share of the batch, which is TensorFlow's
    default and fine for large per-replica batches; with it N replicas compute what one
    would on the whole batch, at the cost of one small all-reduce per layer and step.

    Returns:
        The number of layers changed.
    """
    changed = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = True
            changed += 1
        elif isinstance(layer, keras.Model):
            changed += synchronize_batch_norm(layer)
    return changed


def describe(placement: Placement, batch_size: int, sharding: str | None = None) -> str:
    """One line on how a run is distributed, for the stage's announcement."""
    per_replica = per_replica_batch(placement, batch_size)
    if placement.cluster is None:
        return f"{placement.replicas} replica(s), {per_replica} images each"
    c = placement.cluster
    role = "chief" if c.chief else "worker"
    split = f"input split by {sharding.upper()}" if sharding else "input not split"
    return (f"{c.task_type} {c.index} ({role}) of {c.workers} workers, {placement.replicas} replicas "
            f"x {per_replica} images, {split}")
