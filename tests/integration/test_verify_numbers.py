"""`verify` checks the manifest's own numbers (they feed the class weights), its checksum, and
reports files that no manifest lists."""

from __future__ import annotations

import hashlib
import json

import pytest

from cxrpipe.cli import main


@pytest.fixture(scope="module")
def dataset(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("verify")
    raw, out = root / "raw", root / "out"
    assert main(["synth", "--layout", "nih", "--out", str(raw), "--n", "20", "--image-size", "64"]) == 0
    assert main(["run", "--dataset", "nih", "--index", str(raw / "Data_Entry_2017.csv"),
                 "--images", str(raw / "images"), "--output", str(out), "--num-shards", "1"]) == 0
    return out


def rewrite(path, edit):
    """Edit a manifest and re-seal it, as a careful tamperer would."""
    built = json.loads(path.read_text())
    built.pop("checksum")
    edit(built)
    body = (json.dumps(built, indent=2, sort_keys=True) + "\n").encode()
    built["checksum"] = hashlib.sha256(body).hexdigest()
    path.write_text(json.dumps(built, indent=2, sort_keys=True) + "\n")


@pytest.mark.parametrize("edit, fragment", [
    (lambda m: m.update(inputs=m["inputs"] + 5), "inputs"),
    (lambda m: m["images"].update(train=m["images"]["train"] + 1), "images per split"),
    (lambda m: m["positives"]["train"].__setitem__(0, m["positives"]["train"][0] + 3), "positives"),
])
def test_edited_numbers_are_caught_even_when_resealed(dataset, tmp_path, edit, fragment, capsys):
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(dataset, copy)
    rewrite(copy / "_MANIFEST.json", edit)
    capsys.readouterr()
    assert main(["verify", str(copy)]) == 1
    assert fragment in capsys.readouterr().out


def test_a_hand_edited_manifest_fails_its_checksum(dataset, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    text = (copy / "_MANIFEST.json").read_text()
    (copy / "_MANIFEST.json").write_text(text.replace('"inputs": 20', '"inputs": 21'))
    assert main(["verify", str(copy)]) == 1
    assert "edited after the job committed it" in capsys.readouterr().out


def test_files_no_manifest_lists_are_a_warning_or_with_strict_an_error(dataset, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    capsys.readouterr()
    assert main(["verify", str(copy), "--strict"]) == 0
    assert "UNLISTED" not in capsys.readouterr().out
    stale = copy / "images" / "train" / "Mass" / "99999999_000.jpg"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"\xff\xd8 left by an earlier run")
    assert main(["verify", str(copy)]) == 0
    out = capsys.readouterr().out
    assert "UNLISTED images/train/Mass/99999999_000.jpg" in out and "warning: 1 file(s)" in out
    assert main(["verify", str(copy), "--strict"]) == 1


def test_the_spark_job_and_the_threads_find_the_same_problems(dataset, tmp_path, capsys, monkeypatch):
    import shutil

    from cxrpipe.spark import verify as spark_verify

    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    jpeg = sorted((copy / "images").rglob("*.jpg"))[3]
    jpeg.write_bytes(jpeg.read_bytes()[:-10])
    shard = sorted((copy / "tfrecords").rglob("*.tfrecord"))[0]
    shard.write_bytes(shard.read_bytes()[:-1])
    used = []
    monkeypatch.setattr(spark_verify, "spark_map", lambda spark, real=spark_verify.spark_map: used.append(1) or real(spark))
    outputs = {}
    for how in ([], ["--master", "local[2]"]):
        capsys.readouterr()
        assert main(["verify", str(copy), *how]) == 1
        outputs[bool(how)] = sorted(line for line in capsys.readouterr().out.splitlines() if line.startswith("MISMATCH"))
    assert used == [1]                       # the threads first, then one Spark job
    assert outputs[False] == outputs[True]
    relative = jpeg.relative_to(copy).as_posix()
    assert any(relative in line and "size" in line for line in outputs[True])
    assert any(shard.name in line for line in outputs[True])
