"""Peak resident memory of one classifier training step, per backbone and input side, on CPU.

Each case runs in a fresh process: build the classifier (random weights, no autoencoders),
compile it with Adam as `cxrpipe train classifier` does, run one graph-mode training step on
a random batch, and report the process's peak RSS. The baseline, measured in the same run,
is the same process before the step (TensorFlow imported, the model and optimizer built), so
"step" is what the training step itself adds. The per-image increment is the peak at batch 2
minus the peak at batch 1. CPU figures: a GPU's memory is another allocator (cuDNN
workspaces, no host copies), so read them as an order of magnitude and as ratios.

    PYTHONPATH=. .venv/bin/python benchmarks/train_memory.py [--backbones small,resnet50]
        [--sizes 299,512,896] [--timeout 900]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

BACKBONES = ("inception_resnet_v2", "densenet121", "resnet50", "mobilenet_v2", "small")

_CASE = """
import json, resource, sys
import numpy as np, keras
from cxrpipe.train import backbones, models
from cxrpipe.train.losses import WeightedBinaryCrossentropy
name, size, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
model = models.build_classifier(backbones.build_backbone(name, size), [], 4, size,
                                scaling=backbones.BACKBONES[name].scaling)
model.compile(keras.optimizers.Adam(1e-4), WeightedBinaryCrossentropy([2.0] * 4))
x = np.random.default_rng(0).uniform(-1, 1, (batch, size, size, 3)).astype("float32")
y = (np.arange(batch * 4).reshape(batch, 4) % 2).astype("float32")
built = peak()
model.train_on_batch(x, y)
print(json.dumps([built, peak()]))
"""


def measure(name: str, size: int, batch: int, timeout: float) -> tuple[float, float, float] | None:
    """(MB before the step, peak MB, seconds) of one fresh process; None if it timed out."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-c", _CASE, name, str(size), str(batch)],
                              capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        raise SystemExit(f"{name} at {size} batch {batch} failed: {done.stderr[-800:]}")
    built, peak = json.loads(done.stdout.strip().splitlines()[-1])
    return built, peak, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbones", default=",".join(BACKBONES))
    parser.add_argument("--sizes", default="299,512,896")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per case")
    args = parser.parse_args()
    print(f"{'backbone':<20} {'side':>5} {'built MB':>9} {'peak b=1 MB':>12} {'step / built':>13} "
          f"{'+MB per image':>14} {'s (b=1,b=2)':>14}", flush=True)
    for name in args.backbones.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            one = measure(name, size, 1, args.timeout)
            two = measure(name, size, 2, args.timeout) if one else None
            if one is None:
                print(f"{name:<20} {size:>5} {'timed out after ' + str(int(args.timeout)) + ' s':>40}", flush=True)
                continue
            increment = f"{two[1] - one[1]:14.0f}" if two else f"{'timed out':>14}"
            seconds = f"{one[2]:.0f},{two[2]:.0f}" if two else f"{one[2]:.0f},-"
            print(f"{name:<20} {size:>5} {one[0]:9.0f} {one[1]:12.0f} {one[1] / one[0]:13.2f} "
                  f"{increment} {seconds:>14}", flush=True)


if __name__ == "__main__":
    main()
