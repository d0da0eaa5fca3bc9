"""Output names are unique by construction: no two inputs can write one file."""

import pytest

from cxrpipe.index import read_folders, read_nih
from cxrpipe.layout import AUGMENTATIONS, image_path, output_stems, suffix

NIH_HEADER = "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Sex,View Position\n"


@pytest.mark.parametrize("flip", ["hflip", "vflip", "hvflip"])
def test_an_id_named_like_another_images_flip_is_rejected_with_both_names(flip):
    text = (NIH_HEADER + "00000001_000.png,Effusion,0,1,58,M,PA\n"
            f"00000001_000_{flip}.png,Effusion,0,2,58,M,PA\n")
    index = read_nih(text)
    assert [r.image_id for r in index.records] == ["00000001_000.png"]
    (reject,) = index.rejects
    assert reject.reason == "duplicate_id"
    assert reject.detail == (f"'00000001_000_{flip}.png' and '00000001_000.png' would both write "
                             f"'00000001_000_{flip}'")


def test_the_flip_named_image_first_still_keeps_names_unique():
    text = NIH_HEADER + "a_hflip.png,Mass,0,1,58,M,PA\na.png,Mass,0,2,58,M,PA\n"
    index = read_nih(text)
    assert [r.image_id for r in index.records] == ["a_hflip.png"]
    assert index.rejects[0].image_id == "a.png"


def test_folders_flip_names_across_splits_and_classes():
    keys = ["train/A/x.png", "test/A/x_vflip.png", "train/B/y.png", "val/A/y_hvflip.jpeg"]
    index = read_folders(keys)
    # Stems include the class folder: A_x and A_x_vflip would collide; B_y and A_y_hvflip not.
    assert [r.image_id for r in index.records] == ["test/A/x_vflip.png", "train/B/y.png", "val/A/y_hvflip.jpeg"]
    assert [r.reason for r in index.rejects] == ["duplicate_id"]


def test_every_written_name_is_distinct_over_ids_classes_and_augmentations():
    text = NIH_HEADER + "".join(f"{name},Effusion|Mass,0,{i},58,M,PA\n" for i, name in enumerate(
        ["a.png", "a_hflip.png", "a_hflip_vflip.png", "b.dcm", "b.png", "c_hvflip.png", "c.png"], 1))
    index = read_nih(text)
    from cxrpipe.index import stem

    paths = [image_path("train", partition, stem(r.image_id, "nih"), aug)
             for r in index.records for partition in ("Effusion", "Mass") for aug in AUGMENTATIONS]
    assert len(paths) == len(set(paths)) == len(index.records) * 8
    assert len(index.records) + len(index.rejects) == 7


def test_layout_names():
    assert output_stems("s") == ("s", "s_hflip", "s_vflip", "s_hvflip")
    assert image_path("val", "No Finding", "00000001_000", "hvflip") == "images/val/No_Finding/00000001_000_hvflip.jpg"
    with pytest.raises(ValueError, match="augmentation: expected one of none, hflip, vflip, hvflip, got 'rot90'"):
        suffix("rot90")


@pytest.mark.parametrize("a, b, expected", [
    ("s3://b/raw", "s3://b/raw/out", True),
    ("s3://b/raw/", "s3://b/raw", True),
    ("s3://b", "s3://b/anything", True),
    ("s3://b/raw", "s3://b/raw-out", False),       # whole components, not string prefixes
    ("s3://b/raw", "s3://c/raw", False),
    ("s3://b/raw", "/b/raw", False),
])
def test_overlap_of_s3_locations(a, b, expected):
    from cxrpipe.storage import overlap

    assert overlap(a, b) is expected and overlap(b, a) is expected


def test_overlap_of_local_paths_resolves_dots_and_symlinks(tmp_path):
    from cxrpipe.storage import overlap

    (tmp_path / "data" / "images").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "data")
    assert overlap(str(tmp_path / "data"), str(tmp_path / "data/images"))
    assert overlap(str(tmp_path / "link/images/../images"), str(tmp_path / "data/images/out"))
    assert not overlap(str(tmp_path / "data/images"), str(tmp_path / "data/images2"))


@pytest.mark.parametrize("argv, fragment", [
    (["--images", "{F}/images", "--output", "{F}"], "--output {F} overlaps --images {F}/images"),
    (["--images", "{F}/images", "--output", "{F}/images"], "overlaps --images"),
    (["--images", "{F}/images", "--output", "{F}/images/out"], "overlaps --images"),
])
def test_an_output_overlapping_an_input_is_refused_before_anything_is_written(argv, fragment, tmp_path, capsys):
    from cxrpipe.cli import main

    images = tmp_path / "images" / "train" / "A"
    images.mkdir(parents=True)
    (images / "x.png").write_bytes(b"not read")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    argv = [a.replace("{F}", str(tmp_path)) for a in argv]
    assert main(["preprocess", "--dataset", "folders", *argv]) == 2
    assert fragment.replace("{F}", str(tmp_path)) in capsys.readouterr().err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_index_inside_the_output_and_shards_into_their_input_are_refused(tmp_path, capsys):
    from cxrpipe.cli import main

    (tmp_path / "raw").mkdir()
    code = main(["preprocess", "--dataset", "nih", "--index", str(tmp_path / "out/Data_Entry_2017.csv"),
                 "--images", str(tmp_path / "raw"), "--output", str(tmp_path / "out")])
    assert code == 2 and "overlaps --index" in capsys.readouterr().err
    code = main(["shards", "--input", str(tmp_path / "out"), "--output", str(tmp_path / "out")])
    assert code == 2 and "overlaps --input" in capsys.readouterr().err
