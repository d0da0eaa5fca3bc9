"""Load: 2,000 inputs, 5% of them hostile, through `cxrpipe run` on local Spark and the S3 server."""

from __future__ import annotations

import json
import re
import time
from collections import Counter

import numpy as np

from cxrpipe.cli import main
from hostile import hostile_set, index_rows
from s3objects import parquet_rows

from conftest import TEST_ACCESS_KEY, TEST_SECRET_KEY

BUCKET = "cxr-load"
SYNTHETIC = 1900
MEMORY_BOUND_MB = 1024


def test_two_thousand_inputs_all_accounted_for(s3, s3_endpoint, spark, capsys):
    s3.create_bucket(Bucket=BUCKET)
    ep = ["--s3-endpoint", s3_endpoint]
    assert main(["synth", "--layout", "nih", "--out", f"s3://{BUCKET}/raw", "--n", str(SYNTHETIC),
                 "--image-size", "256", *ep]) == 0
    hostiles = hostile_set(np.random.default_rng(11), copies=8)
    for h in hostiles:
        if h.data is not None:
            s3.put_object(Bucket=BUCKET, Key=f"raw/images/{h.image_id}", Body=h.data)
    index = s3.get_object(Bucket=BUCKET, Key="raw/Data_Entry_2017.csv")["Body"].read().decode()
    synthetic_ids = [line.split(",")[0] for line in index.splitlines()[1:]]
    extra_rows, escapes = index_rows(hostiles, duplicate_of=synthetic_ids[:10], escapes=10)
    index += "\n".join(extra_rows) + "\n"
    s3.put_object(Bucket=BUCKET, Key="raw/Data_Entry_2017.csv", Body=index.encode())
    inputs = SYNTHETIC + len(extra_rows)
    assert inputs == 2000 and len(extra_rows) == 100  # 5% hostile

    capsys.readouterr()
    started = time.monotonic()
    assert main(["run", "--dataset", "nih", "--index", f"s3://{BUCKET}/raw/Data_Entry_2017.csv",
                 "--images", f"s3://{BUCKET}/raw/images", "--output", f"s3://{BUCKET}/out",
                 "--max-reject-fraction", "0.06", "--images-per-task", "100", *ep]) == 0
    seconds = time.monotonic() - started
    printed = capsys.readouterr().out

    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key="out/_MANIFEST.json")["Body"].read())
    written = sum(manifest["images"].values())
    assert manifest["inputs"] == inputs and written + manifest["rejects"]["total"] == inputs

    expected = Counter(h.reason for h in hostiles if h.reason) + Counter(escapes.values())
    expected["duplicate_id"] += 10
    assert manifest["rejects"]["by_reason"] == dict(expected)
    rejects = parquet_rows(s3, BUCKET, "out/rejects/")
    by_id = {(r["image_id"], r["reason"]) for r in rejects}
    assert {(h.image_id, h.reason) for h in hostiles if h.reason} <= by_id
    assert {(i, "path_escape") for i in escapes} <= by_id
    written_ids = {r["image_id"] for r in parquet_rows(s3, BUCKET, "out/index/")}
    assert {h.image_id for h in hostiles if h.reason is None} <= written_ids  # converted, not lost
    assert all(r["detail"] for r in rejects)  # every reject says why

    assert main(["verify", f"s3://{BUCKET}/out", *ep]) == 0
    peak = float(re.search(r"peak Python worker memory ([\d,]+) MB", printed).group(1).replace(",", ""))
    assert 0 < peak < MEMORY_BOUND_MB
    text = printed + json.dumps(manifest) + json.dumps(rejects)
    assert TEST_SECRET_KEY not in text and TEST_ACCESS_KEY not in text
    print(f"\nload: {inputs} inputs in {seconds:.1f} s ({inputs / seconds:.1f} inputs/s on 2 cores), "
          f"{written} written, {manifest['rejects']['total']} rejected, peak Python worker {peak:.0f} MB")
