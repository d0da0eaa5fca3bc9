"""The jobs/ scripts under a real `spark-submit`, with another parallelism: the same bytes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cxrpipe.cli import main

REPO = Path(__file__).resolve().parents[2]


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_spark_submit_run_with_one_core_equals_the_in_process_run(spark, tmp_path):
    raw = tmp_path / "raw"
    assert main(["synth", "--layout", "chexpert", "--out", str(raw), "--n", "40", "--image-size", "200"]) == 0
    args = ["--dataset", "chexpert", "--index", str(raw / "CheXpert-v1.0-small/train.csv"),
            "--images", str(raw), "--uncertain", "ones", "--images-per-task", "8", "--num-shards", "2"]
    assert main(["run", *args, "--output", str(tmp_path / "in-process")]) == 0  # local[2] session

    spark_submit = Path(sys.executable).parent / "spark-submit"
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    done = subprocess.run(
        [str(spark_submit), "--master", "local[1]", "--conf", "spark.default.parallelism=1",
         "--conf", "spark.ui.enabled=false", str(REPO / "jobs/run.py"), *args,
         "--output", str(tmp_path / "submitted")],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = len((raw / "CheXpert-v1.0-small/train.csv").read_text().splitlines()) - 1
    assert f"inputs {rows}:" in done.stdout  # the job's own summary came out

    submitted, in_process = files_under(tmp_path / "submitted"), files_under(tmp_path / "in-process")
    assert any(k.startswith("tfrecords/") for k in submitted)
    assert submitted == in_process
