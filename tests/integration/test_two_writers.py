"""Two jobs on one output at once: exactly one commits; the other fails clearly and changes
nothing the first one commits."""

from __future__ import annotations

import os
import subprocess
import sys

from cxrpipe.cli import main


def test_two_concurrent_runs_on_one_output_one_commits_the_other_fails_clearly(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    assert main(["synth", "--layout", "nih", "--out", str(raw), "--n", "24", "--image-size", "64"]) == 0
    argv = [sys.executable, "-m", "cxrpipe.cli", "run", "--dataset", "nih", "--index",
            str(raw / "Data_Entry_2017.csv"), "--images", str(raw / "images"), "--output", str(out),
            "--master", "local[1]", "--num-shards", "1"]
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    jobs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            for _ in range(2)]
    results = [(job.wait(300), job.communicate()) for job in jobs]
    codes = sorted(code for code, _ in results)
    assert codes[0] == 0 and codes[1] in (1, 2), results
    loser = next(err for code, (_, err) in results if code != 0)
    assert "is being written by `cxrpipe run`" in loser or "another job took over this output" in loser
    assert not (out / "_LEASE.json").exists()
    assert main(["verify", str(out)]) == 0
