"""`--update`: a grown and revised index makes a new version that equals a full run over it
(same JPEG bytes under the same keys, same index rows, byte-identical shards, same counts),
without reading the inputs that did not change; parameters that change pixels, labels or splits
refuse it; a killed update leaves the previous version current."""

from __future__ import annotations

import io
import json
import os
import re
import time

import pytest

from cxrpipe import history, layout, storage, tables, versions
from cxrpipe.cli import main
from cxrpipe.errors import JobFailed
from cxrpipe.storage import StorageConfig
from s3objects import objects

CONFIG = StorageConfig()
REMOVED, RELABELLED, CHANGED, UNREAD = 1, 3, 5, 7   # rows of the synthetic index


def write_index(path, header, rows):
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def job(command, raw, index, out, *extra):
    return main([command, "--dataset", "nih", "--index", str(index), "--images", str(raw / "images"),
                 "--output", str(out), *(["--num-shards", "2"] if command == "run" else []), *extra])


def image_of(raw, row: str):
    return raw / "images" / row.split(",")[0]


def replace_keeping_stat(path, data: bytes) -> None:
    """New bytes of the same size under the same mtime: what no tag can tell apart."""
    stat = path.stat()
    assert len(data) == stat.st_size
    path.write_bytes(data)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


@pytest.fixture(scope="module")
def revised(spark, tmp_path_factory):
    """Version 1 over the first 24 rows, then an index that adds 6, drops one, relabels one,
    and a source whose bytes changed."""
    root = tmp_path_factory.mktemp("update")
    raw = root / "raw"
    assert main(["synth", "--layout", "nih", "--out", str(raw), "--n", "30", "--image-size", "64"]) == 0
    header, *rows = (raw / "Data_Entry_2017.csv").read_text().splitlines()
    first = write_index(root / "a.csv", header, rows[:24])
    cells = rows[RELABELLED].split(",")
    cells[1] = "Hernia" if cells[1] != "Hernia" else "Mass"
    second_rows = list(rows)
    second_rows[RELABELLED] = ",".join(cells)
    del second_rows[REMOVED]
    second = write_index(root / "b.csv", header, second_rows)
    return {"root": root, "raw": raw, "first": first, "second": second, "rows": rows, "header": header}


def base_version(revised, tmp_path, command="run"):
    out = tmp_path / "out"
    assert job(command, revised["raw"], revised["first"], out) == 0
    # A changed source: another image's bytes (a new mtime and size).
    changed = image_of(revised["raw"], revised["rows"][CHANGED])
    original = changed.read_bytes()
    changed.write_bytes(image_of(revised["raw"], revised["rows"][CHANGED + 1]).read_bytes())
    return out, changed, original


def rows_of(root, built) -> list[str]:
    rows = []
    for entry in built.files_under(layout.INDEX):
        rows += tables.from_parquet((root / entry["path"]).read_bytes())
    return sorted(json.dumps(r, sort_keys=True) for r in rows)


def shards_of(root, built) -> dict[str, bytes]:
    return {versions.unversioned(f["path"]): (root / f["path"]).read_bytes()
            for f in built.files_under(layout.TFRECORDS)}


def assert_equal_datasets(updated, full):
    a, b = (history.current_manifest(str(p), CONFIG) for p in (updated, full))
    for field in ("kind", "classes", "inputs", "counts", "images", "positives", "class_weights", "rejects",
                  "excluded", "shard_counts"):
        assert getattr(a, field) == getattr(b, field), field
    assert rows_of(updated, a) == rows_of(full, b)
    for row in history.index_rows(str(full), b, CONFIG):
        assert (updated / row["path"]).read_bytes() == (full / row["path"]).read_bytes()
    assert shards_of(updated, a) == shards_of(full, b)
    return a


def test_run_update_equals_a_full_run_and_reads_no_unchanged_input(revised, tmp_path, capsys):
    raw, rows = revised["raw"], revised["rows"]
    out, changed, original = base_version(revised, tmp_path)
    # Garbage under an unchanged tag: reading it would reject it or change its JPEG.
    unread = image_of(raw, rows[UNREAD])
    kept = unread.read_bytes()
    v1_jpegs = {r["path"]: (out / r["path"]).read_bytes() for r in history.index_rows(
        str(out), history.current_manifest(str(out), CONFIG), CONFIG) if r["image_id"] == unread.name}
    replace_keeping_stat(unread, bytes(len(kept)))
    try:
        capsys.readouterr()
        # Another shard seed: the carried records are re-keyed, as a full run would order them.
        assert job("run", raw, revised["second"], out, "--update", "--shard-seed", "5") == 0
        said = capsys.readouterr().out
    finally:
        replace_keeping_stat(unread, kept)
    # 6 new, 1 relabelled, 1 changed; the other 21 of version 1's 24 (one removed) carried.
    assert "8 inputs to process, 21 carried over unchanged, 3 of its images changed or gone" in said
    assert v1_jpegs and all((out / p).read_bytes() == data for p, data in v1_jpegs.items())
    full = tmp_path / "full"
    assert job("run", raw, revised["second"], full, "--shard-seed", "5") == 0
    changed.write_bytes(original)
    built = assert_equal_datasets(out, full)
    assert built.version == 2
    assert built.parameters["update"] == {"from_version": 1, "processed": 8, "carried": 21, "dropped": 3}
    assert main(["verify", str(out), "--strict"]) == 0
    capsys.readouterr()
    assert main(["versions", str(out)]) == 0
    assert "--update of 1: 8 processed, 21 carried" in capsys.readouterr().out
    # The changed source's JPEGs were rewritten under their keys, as a full run rewrites them:
    # version 1's rows for that image, and only those, no longer match.
    capsys.readouterr()
    assert main(["verify", str(out), "--version", "1"]) == 1
    problems = [line for line in capsys.readouterr().out.splitlines() if line.startswith("MISMATCH")]
    stem = changed.name.rsplit(".", 1)[0]
    assert problems and all(f"/{stem}" in line for line in problems), problems


@pytest.mark.parametrize("command", ["preprocess", "run"])
def test_an_update_of_a_preprocessed_version_equals_a_full_job(revised, tmp_path, command):
    """preprocess --update, and run --update, which frames the carried JPEGs (no shards to re-key)."""
    raw = revised["raw"]
    out, changed, original = base_version(revised, tmp_path, "preprocess")
    try:
        assert job(command, raw, revised["second"], out, "--update") == 0
        full = tmp_path / "full"
        assert job(command, raw, revised["second"], full) == 0
    finally:
        changed.write_bytes(original)
    assert assert_equal_datasets(out, full).kind == command


def test_an_update_that_changes_nothing_commits_nothing(revised, tmp_path, capsys):
    out = tmp_path / "out"
    assert job("run", revised["raw"], revised["first"], out) == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != ".lease"}
    capsys.readouterr()
    assert job("run", revised["raw"], revised["first"], out, "--update") == 0
    assert "nothing changed: version 1" in capsys.readouterr().out
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != ".lease"} == before
    # Other shard options are a change: the records are carried into shards of a new version.
    assert job("run", revised["raw"], revised["first"], out, "--update", "--shard-seed", "3") == 0
    assert history.current_manifest(str(out), CONFIG).version == 2


@pytest.mark.parametrize("flags, named", [
    (["--size", "128"], "--size"), (["--flips", "none"], "--flips"), (["--uncertain", "ones"], "--uncertain"),
    (["--classes", "Mass,Hernia"], "--classes"), (["--split", "0.6,0.2,0.2"], "--split"), (["--seed", "4"], "--seed"),
    (["--clahe-clip", "3"], "--clahe-clip"),
])
def test_parameters_that_change_pixels_labels_or_splits_refuse_update(revised, tmp_path, capsys, flags, named):
    out = tmp_path / "out"
    assert job("preprocess", revised["raw"], revised["first"], out) == 0
    before = (out / "_MANIFEST.json").read_bytes()
    capsys.readouterr()
    assert job("preprocess", revised["raw"], revised["second"], out, "--update", *flags) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"--update: {named} is" in err[0] and "version 1" in err[0], err
    assert (out / "_MANIFEST.json").read_bytes() == before


def test_update_needs_a_dataset_to_update(revised, tmp_path, capsys):
    assert job("run", revised["raw"], revised["first"], tmp_path / "none", "--update") == 2
    assert "--update: no dataset at" in capsys.readouterr().err


def test_a_killed_update_leaves_the_previous_version_and_a_rerun_completes(revised, tmp_path, monkeypatch, capsys):
    raw = revised["raw"]
    out, changed, original = base_version(revised, tmp_path)
    current = (out / "_MANIFEST.json").read_bytes()
    calls = []

    def taken_over(self):  # the lease is checked once at the start, then lost before the commit
        calls.append(1)
        if len(calls) > 1:
            raise JobFailed("another job took over this output while this one ran")

    from cxrpipe.spark import lease
    try:
        with monkeypatch.context() as patched:
            patched.setattr(lease.Held, "check", taken_over)
            assert job("run", raw, revised["second"], out, "--update") == 1
        assert "took over" in capsys.readouterr().err
        assert (out / "_MANIFEST.json").read_bytes() == current
        assert history.version_numbers(str(out), CONFIG) == [1]
        assert not storage.list_keys(str(out / layout.PIECES), CONFIG)
        assert job("run", raw, revised["second"], out, "--update") == 0
        full = tmp_path / "full"
        assert job("run", raw, revised["second"], full) == 0
    finally:
        changed.write_bytes(original)
    assert assert_equal_datasets(out, full).version == 2


def test_same_seed_update_takes_the_records_from_the_current_shards_under_another_count(revised, tmp_path):
    """With the shard seed unchanged the new shards read the carried records straight from
    version 1's shards (2 per partition), here into 3 per partition: still a full run's bytes."""
    raw = revised["raw"]
    out, changed, original = base_version(revised, tmp_path)
    try:
        assert job("run", raw, revised["second"], out, "--update", "--num-shards", "3") == 0
        full = tmp_path / "full"
        assert job("run", raw, revised["second"], full, "--num-shards", "3") == 0
    finally:
        changed.write_bytes(original)
    built = assert_equal_datasets(out, full)
    assert {layout.parse_shard_path(versions.unversioned(f["path"])).count
            for f in built.files_under(layout.TFRECORDS)} == {3}
    assert main(["verify", str(out), "--strict"]) == 0


def test_a_damaged_shard_of_the_current_version_stops_the_update_naming_it(revised, tmp_path, capsys):
    raw = revised["raw"]
    out, changed, original = base_version(revised, tmp_path)
    current = (out / "_MANIFEST.json").read_bytes()
    biggest = max(history.current_manifest(str(out), CONFIG).files_under(layout.TFRECORDS), key=lambda f: f["bytes"])
    shard = out / biggest["path"]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    capsys.readouterr()
    try:
        assert job("run", raw, revised["second"], out, "--update") == 1
    finally:
        changed.write_bytes(original)
    said = capsys.readouterr().err
    assert f"shard {shard} is damaged" in said and "CRC mismatch" in said, said
    assert (out / "_MANIFEST.json").read_bytes() == current
    assert history.version_numbers(str(out), CONFIG) == [1]


def test_a_version_without_source_tags_is_processed_whole(revised, tmp_path, capsys):
    """Index parts written before tags were recorded: nothing can be shown unchanged."""
    out = tmp_path / "out"
    assert job("run", revised["raw"], revised["first"], out) == 0
    built = history.current_manifest(str(out), CONFIG)
    for entry in built.files_under(layout.INDEX):
        path = out / entry["path"]
        rows = [{k: v for k, v in row.items() if k != "source_etag"} for row in tables.from_parquet(path.read_bytes())]
        old_schema = tables.INDEX_SCHEMA.remove(tables.INDEX_SCHEMA.get_field_index("source_etag"))
        path.write_bytes(tables.to_parquet(rows, old_schema))
    capsys.readouterr()
    assert job("run", revised["raw"], revised["second"], out, "--update") == 0
    assert "29 inputs to process, 0 carried over unchanged, 24 of its images changed or gone" in capsys.readouterr().out
    assert history.current_manifest(str(out), CONFIG).inputs == 29


def test_s3_sources_are_matched_by_etag_including_multipart_uploads(s3, s3_endpoint, spark, tmp_path, capsys):
    """On S3 the tag is the ETag: the one a GET returns is the one a listing returns, for a
    plain PUT (an MD5) and for a multipart upload (``md5-N``) alike."""
    import boto3.s3.transfer
    import cv2
    import numpy as np

    bucket = "cxr-update-test"
    s3.create_bucket(Bucket=bucket)
    raw, common = f"s3://{bucket}/raw", ["--s3-endpoint", s3_endpoint]
    assert main(["synth", "--layout", "nih", "--out", raw, "--n", "12", "--image-size", "64", *common]) == 0
    header, *rows = s3.get_object(Bucket=bucket, Key="raw/Data_Entry_2017.csv")["Body"].read().decode().splitlines()
    big = rows[0].split(",")[0]
    noise = np.random.default_rng(3).integers(0, 256, (1600, 1600), np.uint8)
    data = cv2.imencode(".png", noise)[1].tobytes()
    assert len(data) > 2 * 1024 * 1024
    s3.upload_fileobj(io.BytesIO(data), bucket, f"raw/images/{big}",
                      Config=boto3.s3.transfer.TransferConfig(multipart_threshold=1024 * 1024))
    etag = s3.head_object(Bucket=bucket, Key=f"raw/images/{big}")["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{32}-\d+"', etag), etag   # a multipart upload's ETag, not an MD5
    for name, body in (("a.csv", rows[:9]), ("b.csv", rows)):
        s3.put_object(Bucket=bucket, Key=f"raw/{name}", Body="\n".join([header, *body, ""]).encode())
    # Same bytes uploaded again: the same ETag, so carried; other bytes: processed.
    same, other = (rows[i].split(",")[0] for i in (1, 2))
    argv = lambda index, out: ["run", "--dataset", "nih", "--index", f"{raw}/{index}", "--images",  # noqa: E731
                               f"{raw}/images", "--output", f"s3://{bucket}/{out}", "--num-shards", "1", *common]
    assert main(argv("a.csv", "out")) == 0
    body = s3.get_object(Bucket=bucket, Key=f"raw/images/{same}")["Body"].read()
    s3.put_object(Bucket=bucket, Key=f"raw/images/{same}", Body=body)
    s3.put_object(Bucket=bucket, Key=f"raw/images/{other}",
                  Body=s3.get_object(Bucket=bucket, Key=f"raw/images/{rows[3].split(',')[0]}")["Body"].read())
    capsys.readouterr()
    assert main([*argv("b.csv", "out"), "--update"]) == 0
    assert "4 inputs to process, 8 carried over unchanged, 1 of its images changed or gone" in capsys.readouterr().out
    assert main(argv("b.csv", "full")) == 0
    updated, full = (objects(s3, bucket, f"{p}/") for p in ("out", "full"))
    shards = lambda tree: {versions.unversioned(k): v for k, v in tree.items() if k.startswith("tfrecords/")}  # noqa: E731
    assert shards(updated) and shards(updated) == shards(full)
    row_set = lambda tree: sorted(json.dumps(r, sort_keys=True) for k, v in tree.items()  # noqa: E731
                                  if k.startswith("index/") and (k.startswith("index/v000002/") or "/v0" not in k)
                                  for r in tables.from_parquet(v))
    assert row_set({k: v for k, v in updated.items() if k.startswith("index/v000002/")}) == row_set(full)
    tags = {r["image_id"]: r["source_etag"] for r in tables.from_parquet(full["index/part-00000.parquet"])}
    assert tags[big] == etag.strip('"')
    capsys.readouterr()
    assert main(["versions", f"s3://{bucket}/out", *common]) == 0
    listed = capsys.readouterr().out
    today = time.strftime("%Y-%m-%d", time.gmtime())   # the version files' LastModified
    assert re.search(rf"^\s+1\s+{today} \d\d:\d\d\s+run\s", listed, re.M), listed
    assert re.search(rf"^\s+2 \*\s+{today} \d\d:\d\d\s+run\s.*--update of 1: 4 processed, 8 carried$", listed, re.M)
