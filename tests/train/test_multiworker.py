"""`--distribute multiworker`: worker processes on 127.0.0.1 each running `cxrpipe train`,
compared with one worker; a resume after both are killed; TF_CONFIG mistakes.

The comparison is meaningful only where the two runs compute the same mathematics, so it
removes what legitimately differs between 1 and 2 replicas and keeps the rest:

* the data: ``--input-sharding data`` gives each step the same global batch in both runs
  (worker 0 the first half, worker 1 the second); the seeded shuffle stays on;
* the reference is a one-worker cluster, not ``--distribute none``: Keras reads one batch
  ahead when a strategy is set, which advances the reshuffling file order, so ``none`` sees
  another order from the first step;
* batch normalization: ``--sync-batch-norm``, so both normalize by the whole batch (per
  replica, a 4-image batch has other statistics than the 8-image one; measured, that alone
  moves weights as far as training does in 3 Adam steps);
* dropout 0: each replica would draw its own mask.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from cxrpipe.cli import main
from cxrpipe.train import backbones, cluster, distribute, losses, models
from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
RUN_SECONDS = 300          # one worker process, at most
# Per weight tensor, |two workers - one worker| over |trained - initial| (L2 norms). Measured:
# 5.7e-5 at most (float32 sums in another order, which Adam's division by sqrt(v) can swell
# for a weight whose gradient is near 0); with batch statistics per replica: 0.003 to 1.2.
TOLERANCE = 1e-3
QUICK = ["--backbone", "small", "--no-autoencoders", "--image-size", "32", "--batch-size", "8",
         "--dropout", "0", "--progress", "epoch"]


def tf_configs(workers: int) -> list[str]:
    """One TF_CONFIG per worker of a cluster on free ports of 127.0.0.1."""
    addresses = [f"127.0.0.1:{free_port()}" for _ in range(workers)]
    return [json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": i}})
            for i in range(workers)]


def start(shards, out: Path, workers: int, args: list[str], scratch: Path,
          stage: str = "classifier") -> list[subprocess.Popen]:
    """The workers of one run, each `python -m cxrpipe.cli train classifier` with its TF_CONFIG
    and its own TMPDIR (so that a worker's leftovers can be looked for); logs in
    ``scratch/{out.name}-{i}.log``."""
    procs = []
    for i, config in enumerate(tf_configs(workers)):
        tmp = scratch / f"tmp-{out.name}-{i}"
        tmp.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "TF_CONFIG": config, "TMPDIR": str(tmp), "PYTHONPATH": str(REPO),
               "TF_CPP_MIN_LOG_LEVEL": "2"}
        log = open(scratch / f"{out.name}-{i}.log", "wb")
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "cxrpipe.cli", "train", stage, "--dataset", shards.root,
             "--out", str(out), "--distribute", "multiworker", *args],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT))
    return procs


def finish(procs: list[subprocess.Popen], scratch: Path, out: Path) -> list[str]:
    """Wait for every worker (bounded), then their outputs; a failed worker fails the test."""
    deadline = time.monotonic() + RUN_SECONDS
    for proc in procs:
        proc.wait(max(1.0, deadline - time.monotonic()))
    logs = [(scratch / f"{out.name}-{i}.log").read_text() for i in range(len(procs))]
    for proc, log in zip(procs, logs):
        assert proc.returncode == 0, log[-3000:]
    return logs


def kill(procs: list[subprocess.Popen]) -> None:
    """Stop the workers this test started, by their own PIDs."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)


def run(shards, out: Path, workers: int, args: list[str], scratch: Path,
        stage: str = "classifier") -> list[str]:
    procs = start(shards, out, workers, args, scratch, stage)
    try:
        return finish(procs, scratch, out)
    finally:
        kill(procs)


def weights(path: Path) -> list[np.ndarray]:
    return [np.asarray(w) for w in models.load_model(path).get_weights()]


def test_two_workers_train_as_one_worker_on_the_same_global_batch(shards, tmp_path):
    args = [*QUICK, "--epochs", "1", "--steps-per-epoch", "3", "--input-sharding", "data",
            "--sync-batch-norm"]
    one_log, = run(shards, tmp_path / "one", 1, args, tmp_path)
    chief_log, worker_log = run(shards, tmp_path / "two", 2, args, tmp_path)
    assert "1 replicas x 8 images" in one_log
    assert "worker 0 (chief) of 2 workers, 2 replicas x 4 images, input split by DATA" in chief_log
    assert "worker 1 (worker) of 2 workers" in worker_log

    one, two = weights(tmp_path / "one/classifier.keras"), weights(tmp_path / "two/classifier.keras")
    keras.utils.set_random_seed(0)  # the run's seed: the weights both started from
    fresh = models.build_classifier(backbones.build_backbone("small", 32), [], len(shards.classes), 32, 0.0)
    initial = [np.asarray(w) for w in fresh.get_weights()]
    ratios = [np.linalg.norm(a - b) / np.linalg.norm(a - i) for a, b, i in zip(one, two, initial)]
    apart = max(float(np.abs(a - b).max()) for a, b in zip(one, two))
    print(f"\nmultiworker: 2 workers vs 1 after 3 steps: weight difference / training update "
          f"{max(ratios):.1e} at most (max |difference| {apart:.1e})")
    assert max(ratios) < TOLERANCE, ratios

    # Only the chief wrote: every TensorBoard file is its, and the other left no folder behind.
    chief_pid = _pid(chief_log, tmp_path / "two")
    events = list((tmp_path / "two" / "logs").rglob("events.out.tfevents.*"))
    assert events and all(f".{chief_pid}." in e.name for e in events), events
    assert not list((tmp_path / "tmp-two-1").glob(distribute.SCRATCH_PREFIX + "*"))
    assert (tmp_path / "two" / "train_config.json").is_file()
    assert (tmp_path / "two" / "logs" / "classifier.csv").read_text().count("\n") == 2  # header, epoch 0


def _pid(log: str, out: Path) -> int:
    """The chief's PID, as its TensorBoard file names carry it (``...{host}.{pid}.{n}.v2``)."""
    names = [e.name for e in (out / "logs").rglob("events.out.tfevents.*")]
    pids = {int(n.split(".")[-3]) for n in names}
    assert len(pids) == 1, f"TensorBoard files from more than one process: {names}\n{log[-2000:]}"
    return pids.pop()


def test_killed_workers_resume_from_the_chiefs_checkpoint(shards, tmp_path):
    out = tmp_path / "run"
    args = [*QUICK, "--epochs", "3", "--steps-per-epoch", "12"]  # auto: 8 shard files, by FILE
    metadata = out / "checkpoints" / "classifier" / "training_metadata.json"
    procs = start(shards, out, 2, args, tmp_path)
    try:
        deadline = time.monotonic() + RUN_SECONDS
        while not metadata.is_file() and time.monotonic() < deadline and procs[0].poll() is None:
            time.sleep(0.05)
    finally:
        kill(procs)  # as a preempted machine stops: no clean-up of its own
    first = [(tmp_path / f"run-{i}.log").read_text() for i in range(2)]
    assert metadata.is_file(), first[0][-3000:]
    assert "input split by FILE" in first[0]
    saved = _epoch(metadata)
    assert saved < 3, "the run finished before it could be killed: give it more steps"

    for i in range(2):
        (tmp_path / f"run-{i}.log").rename(tmp_path / f"killed-{i}.log")
    for log in run(shards, out, 2, args, tmp_path):  # the same command again
        assert f"Epoch {saved + 1}/3" in log and "Epoch 1/3" not in log, log[-3000:]
    assert losses.WeightedBinaryCrossentropy  # registered: the saved model compiles with it
    optimizer = keras.saving.load_model(out / "classifier.keras", compile=True).optimizer
    assert int(optimizer.iterations.numpy()) == 3 * 12


def _epoch(metadata: Path) -> int:
    """Epochs the chief's checkpoint holds (Keras' BackupAndRestore metadata)."""
    for _ in range(100):
        try:
            return int(json.loads(metadata.read_text())["epoch"])
        except (json.JSONDecodeError, KeyError):
            time.sleep(0.05)  # caught between Keras' open and write
    raise AssertionError(f"unreadable {metadata}")


def test_both_stages_train_on_two_workers(shards, tmp_path):
    """Autoencoders, then the classifier that feeds on them, each on 2 workers, validation
    passes included (Mass has 4 validation records, fewer than one global batch)."""
    out, common = tmp_path / "both", ["--image-size", "32", "--batch-size", "8", "--epochs", "1",
                                      "--steps-per-epoch", "2", "--progress", "epoch"]
    logs = run(shards, out, 2, [*common, "--classes", "Mass,No Finding", "--ae-size", "16"], tmp_path,
               stage="autoencoders")
    assert logs[0].count("val_loss") == 2 and _figures(logs[0], "val_loss") == _figures(logs[1], "val_loss")
    assert {p.name for p in (out / "autoencoders").iterdir()} == {"Mass.keras", "No_Finding.keras"}
    logs = run(shards, out, 2, [*common, "--classes", "Mass,No Finding", "--backbone", "small"], tmp_path)
    assert "2 autoencoders" in logs[0] and "val_loss" in logs[0]
    print(f"\nmultiworker, both stages: val_auc chief {_figures(logs[0], 'val_auc')}, "
          f"other worker {_figures(logs[1], 'val_auc')}")
    model = models.load_model(out / "classifier.keras")
    assert {"error_autoencoder_Mass", "error_autoencoder_No_Finding"} <= {layer.name for layer in model.layers}
    assert not list((tmp_path / "tmp-both-1").glob(distribute.SCRATCH_PREFIX + "*"))


def _figures(log: str, name: str) -> list[str]:
    """The values Keras printed for ``name`` (``name: 0.1234``), in order."""
    return re.findall(rf"\b{name}: ([0-9.]+)", log)


def test_a_global_batch_the_replicas_cannot_share_is_refused_by_every_worker(shards, tmp_path):
    procs = start(shards, tmp_path / "odd", 2, [*QUICK, "--batch-size", "7"], tmp_path)
    try:
        for proc in procs:
            proc.wait(RUN_SECONDS)
    finally:
        kill(procs)
    for i, proc in enumerate(procs):
        err = (tmp_path / f"odd-{i}.log").read_text().strip().splitlines()[-1]
        assert proc.returncode == 2, err
        assert err == ("cxrpipe train: error: --batch-size 7: the global batch must be a multiple of "
                       "the 2 replicas training together")
    assert not (tmp_path / "odd" / "classifier.keras").exists()


@pytest.mark.parametrize("value, says", [
    (None, "TF_CONFIG is not set"),
    ("{cluster", "TF_CONFIG is not JSON"),
    ('{"cluster": {"worker": ["127.0.0.1:2222"]}}', '"task" must be'),
    ('{"cluster": {"worker": "127.0.0.1:2222"}, "task": {"type": "worker", "index": 0}}',
     'cluster "worker" must be a list of "host:port"'),
    ('{"cluster": {"worker": ["127.0.0.1"]}, "task": {"type": "worker", "index": 0}}',
     'must be a list of "host:port"'),
    ('{"cluster": {"worker": ["127.0.0.1:2222"]}, "task": {"type": "worker", "index": 1}}',
     "task worker 1 is not in the cluster, which has 1 worker address(es)"),
    ('{"cluster": {"worker": ["127.0.0.1:2222"]}, "task": {"type": "ps", "index": 0}}',
     'task "type" must be one of chief, worker'),
    ('{"cluster": {"ps": ["127.0.0.1:2222"]}, "task": {"type": "worker", "index": 0}}',
     'no "worker" (or "chief") addresses'),
])
def test_a_bad_tf_config_is_one_line_and_exit_2(shards, tmp_path, monkeypatch, capsys, value, says):
    if value is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", value)
    argv = ["train", "classifier", "--dataset", shards.root, "--out", str(tmp_path), "--distribute",
            "multiworker", *QUICK]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cxrpipe train: error: --distribute multiworker: ") and says in err, err
    assert "\n" not in err
    assert not (tmp_path / "checkpoints").exists()  # refused before anything was written


def test_the_chief_is_the_chief_task_else_worker_0():
    workers = {"worker": ["a:1", "b:2", "c:3"]}
    place = lambda c, kind, i: cluster.parse(json.dumps({"cluster": c, "task": {"type": kind, "index": i}}))
    assert place(workers, "worker", 0) == cluster.Cluster(workers=3, task_type="worker", index=0, chief=True)
    assert not place(workers, "worker", 2).chief
    with_chief = {**workers, "chief": ["z:9"]}
    assert place(with_chief, "chief", 0).chief and place(with_chief, "chief", 0).workers == 4
    assert not place(with_chief, "worker", 0).chief


@pytest.mark.parametrize("asked, files, workers, tf_reader, chosen", [
    ("auto", 8, 2, True, "file"),    # 4 shards a worker
    ("auto", 3, 2, True, "data"),    # one worker would get a single shard
    ("auto", 64, 2, False, "data"),  # S3 shards come through the storage layer, not a TF reader
    ("data", 64, 2, True, "data"),
    ("file", 2, 2, True, "file"),
])
def test_input_sharding_is_by_file_only_where_every_worker_gets_shards(asked, files, workers, tf_reader,
                                                                       chosen):
    assert distribute.choose_sharding(asked, files, workers, tf_reader) == chosen


def test_file_sharding_that_cannot_work_is_refused():
    with pytest.raises(distribute.UserError, match="1 shard files for 2 workers"):
        distribute.choose_sharding("file", 1, 2, True)
    with pytest.raises(distribute.UserError, match="S3"):
        distribute.choose_sharding("file", 8, 2, False)
