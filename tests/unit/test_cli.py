"""The CLI's promises: every option documented with its default; user mistakes are one line, exit 2."""

from __future__ import annotations

import argparse
import re

import pytest

from cxrpipe.cli import build_parser, main


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("name", sorted(subparsers()))
def test_help_lists_every_option_with_its_default(name):
    sub = subparsers()[name]
    text = " ".join(sub.format_help().split())
    for action in sub._actions:
        if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
            continue  # hidden: shards' --seed, refused with a pointer to --shard-seed
        assert action.help, f"{name} {action.dest} has no help"
        for option in action.option_strings:
            assert option in text
        shown = action.default is not None and action.default is not False and action.default != argparse.SUPPRESS
        if shown and action.option_strings:
            assert f"(default: {action.default})" in text, f"{name} {action.option_strings[0]}"


BASE = ["preprocess", "--dataset", "nih", "--index", "x.csv", "--images", "imgs", "--output", "out"]


@pytest.mark.parametrize("extra, flag", [
    (["--split", "0.5,0.5,0.5"], "--split"),
    (["--flips", "h,diagonal"], "diagonal"),
    (["--size", "0"], "size"),
    (["--clahe-at", "middle"], "--clahe-at"),
    (["--augment-splits", "training"], "--augment-splits"),
    (["--max-reject-fraction", "2"], "--max-reject-fraction"),
    (["--classes", "Tumour"], "Tumour"),
])
def test_bad_values_are_one_line_naming_the_flag(extra, flag, capsys):
    with pytest.raises(SystemExit) as exit_info:
        raise SystemExit(main(BASE + extra))
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2
    assert flag in err and "Traceback" not in err
    assert len(err.splitlines()) == 1


def test_missing_index_file_is_named(tmp_path, capsys):
    (tmp_path / "imgs").mkdir()
    code = main(["preprocess", "--dataset", "nih", "--index", str(tmp_path / "nope.csv"),
                 "--images", str(tmp_path / "imgs"), "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and re.search(r"--index .*nope\.csv not found", err) and "\n" not in err


def test_index_of_the_wrong_layout_is_a_user_error(tmp_path, capsys):
    (tmp_path / "imgs").mkdir()
    index = tmp_path / "train.csv"
    index.write_text("Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding\nCheXpert-v1.0-small/train/patient1/study1/view1_frontal.jpg,Male,40,Frontal,PA,1.0\n")
    code = main(["preprocess", "--dataset", "nih", "--index", str(index), "--images", str(tmp_path / "imgs"),
                 "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "NIH" in err and "Traceback" not in err


def test_inspect_without_manifest_is_a_user_error(tmp_path, capsys):
    assert main(["inspect", str(tmp_path)]) == 2
    assert "no manifest" in capsys.readouterr().err


def test_versions_of_a_folder_that_holds_no_dataset_is_a_user_error(tmp_path, capsys):
    assert main(["versions", str(tmp_path / "typo")]) == 2
    assert "no manifest" in capsys.readouterr().err


def test_synth_refuses_dicom_outside_nih_before_writing(tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["synth", "--layout", "chexpert", "--out", str(out), "--with-dicom"]) == 2
    assert "--layout nih" in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize("dataset, extra, fragment", [
    ("chexpert", ["--test-list", "t.txt"], "--test-list is for --dataset nih, not chexpert"),
    ("nih", ["--valid-index", "v.csv"], "--valid-index is for --dataset chexpert, not nih"),
    ("table", [], "expected either --label-columns"),
    ("nih", ["--classes", "No_Finding"], "did you mean 'No Finding'?"),
    ("mimic", ["--classes", "Unlabeled,pneumonia"], "'pneumonia': did you mean 'Pneumonia'?"),
])
def test_layout_flag_mistakes_are_one_line_before_any_work(dataset, extra, fragment, tmp_path, capsys):
    code = main(["preprocess", "--dataset", dataset, "--index", str(tmp_path / "i.csv"),
                 "--images", str(tmp_path / "nowhere"), "--output", str(tmp_path / "out"), *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2 and fragment in err and "\n" not in err
    assert not (tmp_path / "out").exists()


def test_a_misspelled_index_column_is_named_in_one_line(tmp_path, capsys):
    (tmp_path / "imgs").mkdir()
    index = tmp_path / "Data_Entry_2017_v2020.csv"
    index.write_text("Image Index,Finding Labels,Follow-up #,Patient_ID,Patient Age,Patient Sex,View Position\n"
                     "00000001_000.png,Cardiomegaly,0,1,57,M,PA\n")
    code = main(["preprocess", "--dataset", "nih", "--index", str(index), "--images", str(tmp_path / "imgs"),
                 "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "a column 'Patient ID'; got 'Patient_ID' (misspelled?)" in err and "\n" not in err


@pytest.mark.parametrize("argv, fragment", [
    (BASE + ["--size", "65500"], "argument --size: expected an integer from 16 to 4,096, got '65500'"),
    (BASE + ["--clahe-grid", "0"], "--clahe-grid: expected an integer from 1 to 64"),
    (BASE + ["--max-reject-fraction", "nan"], "--max-reject-fraction: expected a number from 0.0 to 1.0"),
    (BASE + ["--s3-part-mb", "inf"], "--s3-part-mb: expected a number from 5.0 to 5,120.0, got 'inf'"),
    (["run", *BASE[1:], "--num-shards", "100000"], "--num-shards: expected an integer from 1 to 1,024"),
    (["run", *BASE[1:], "--shard-mb", "1e-300"], "--shard-mb: expected a number from 0.1"),
    (["run", *BASE[1:], "--shard-mb", "inf"], "--shard-mb: expected a number"),
    (["synth", "--out", "x", "--image-size", "-5"], "--image-size: expected an integer from 32 to 8,192"),
    (["synth", "--out", "x", "--n", "0"], "--n: expected an integer from 1"),
])
def test_numeric_flags_have_ranges_checked_at_parse_time(argv, fragment, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and fragment in err and len(err.splitlines()) == 1


def test_help_states_the_ranges():
    text = " ".join(subparsers()["run"].format_help().split())
    assert "output side in pixels (16 to 4096) (default: 299)" in text
    assert "shards per (split, class) (1 to 1024)" in text


def test_shard_count_from_shard_mb_is_bounded():
    from cxrpipe.shards.plan import ShardOptions, shard_count

    assert shard_count(10_000_000, ShardOptions(shard_mb=0.1)) == 100
    with pytest.raises(ValueError, match="expected at most 1024 shards per partition, got 10,000"):
        shard_count(1_000_000_000, ShardOptions(shard_mb=0.1))


def test_nothing_to_write_is_an_error_that_keeps_the_old_manifest(tmp_path, capsys):
    (tmp_path / "imgs").mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "_MANIFEST.json").write_text("{}")
    header = "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Sex,View Position\n"
    index = tmp_path / "index.csv"
    for command in ("preprocess", "run"):
        index.write_text(header)
        argv = [command, "--dataset", "nih", "--index", str(index), "--images", str(tmp_path / "imgs"),
                "--output", str(out)]
        assert main(argv) == 2
        assert "--index lists no images (a header without rows)" in capsys.readouterr().err
        index.write_text(header + "a.png,Mass,0,1,50,M,AP\nb.png,Mass,0,2,50,M,LL\n")
        assert main(argv + ["--views", "frontal", "--classes", "Effusion"]) == 2
        err = capsys.readouterr().err
        assert "nothing to write: all 2 images of the index are left out (lateral_view 1, not_in_selected_classes 1)" in err
    assert (out / "_MANIFEST.json").read_text() == "{}"


NIH7 = "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Sex,View Position"


@pytest.mark.parametrize("setup, argv, fragment", [
    (lambda d: (d / "i.csv").write_text(NIH7 + "\na.png," + "x" * 140_000 + ",0,1,5,M,PA\n"),
     ["preprocess", "--dataset", "nih", "--index", "{d}/i.csv", "--images", "{d}/imgs", "--output", "{d}/o"],
     "index line 2: expected CSV fields, got field larger than field limit"),
    (lambda d: (d / "folder").mkdir(),
     ["preprocess", "--dataset", "nih", "--index", "{d}/folder", "--images", "{d}/imgs", "--output", "{d}/o"],
     "--index: cannot read"),
    (lambda d: (d / "afile").write_text("x"), ["inspect", "{d}/afile"], "not a finished cxrpipe dataset"),
    (lambda d: (d / "afile").write_text("x"), ["report", "{d}/afile", "--out", "{d}/r"], "not a finished cxrpipe dataset"),
    (lambda d: (d / "afile").write_text("x"), ["report", "{d}", "--out", "{d}/afile"], "--out {d}/afile is a file"),
    (lambda d: (d / "_MANIFEST.json").write_text('{"format": "cxrpipe.dataset", "format_version": 1, "kind": "run"}'),
     ["inspect", "{d}"], "missing dataset, classes"),
    (lambda d: None, ["inspect", "s3://b/x", "--s3-endpoint", "localhost:9000"],
     "--s3-endpoint (or AWS_ENDPOINT_URL): expected http(s)://HOST[:PORT], got 'localhost:9000'"),
])
def test_user_mistakes_are_one_line_exit_2(setup, argv, fragment, tmp_path, capsys):
    (tmp_path / "imgs").mkdir()
    setup(tmp_path)
    code = main([a.replace("{d}", str(tmp_path)) for a in argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and fragment.replace("{d}", str(tmp_path)) in err and "\n" not in err


def test_an_index_with_cr_line_ends_is_read(tmp_path):
    from cxrpipe.index import read_nih

    index = read_nih((NIH7 + "\ra.png,Mass,0,00000007,5,M,PA\rb.png,No Finding,0,8,5,F,AP\r"))
    assert [(r.image_id, r.patient_id) for r in index.records] == [("a.png", "7"), ("b.png", "8")]


def test_a_master_spark_cannot_parse_is_one_line(tmp_path):
    import subprocess
    import sys

    (tmp_path / "i.csv").write_text(NIH7 + "\na.png,Mass,0,1,5,M,PA\n")
    (tmp_path / "imgs").mkdir()
    done = subprocess.run([sys.executable, "-m", "cxrpipe.cli", "preprocess", "--dataset", "nih", "--index",
                           str(tmp_path / "i.csv"), "--images", str(tmp_path / "imgs"), "--output",
                           str(tmp_path / "o"), "--master", "bogus://x"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == ("cxrpipe preprocess: error: --master bogus://x: Spark cannot use "
                                                    "this master URL; expected local[N], spark://HOST:PORT, yarn or k8s://...")
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "o" / "_LEASE.json").exists()
