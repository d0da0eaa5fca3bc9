"""Index readers on literal snippets in the datasets' exact formats."""

import pytest

from cxrpipe.index import READERS, DatasetIndex, IndexReject, Record, stem
from cxrpipe.index import read_chexpert, read_folders, read_nih
from cxrpipe.labels import CHEXPERT_CLASSES, NIH_CLASSES

NIH_HEADER = ("Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,"
              "View Position,OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],")

NIH_2017 = NIH_HEADER + """
00000001_000.png,Cardiomegaly,0,1,058Y,M,PA,2682,2749,0.143,0.143
00000001_001.png,Cardiomegaly|Emphysema,1,1,058Y,M,PA,2894,2729,0.143,0.143
00000002_000.png,No Finding,0,2,081Y,M,PA,2500,2048,0.171,0.171
00000003_000.png,Hernia,0,3,081Y,F,PA,2582,2991,0.143,0.143
00000013_005.png,Emphysema|Infiltration|Pleural_Thickening|Pneumothorax,5,13,060Y,M,AP,3056,2544,0.139,0.139
"""

# 2020 revision: integer ages, no trailing comma on the header.
NIH_2020 = NIH_HEADER[:-1] + """
00000001_000.png,Cardiomegaly,0,1,57,M,PA,2682,2749,0.143,0.143
00000002_000.png,No Finding,0,2,80,M,PA,2500,2048,0.171,0.171
"""

CHEXPERT_HEADER = ("Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding,Enlarged Cardiomediastinum,"
                   "Cardiomegaly,Lung Opacity,Lung Lesion,Edema,Consolidation,Pneumonia,"
                   "Atelectasis,Pneumothorax,Pleural Effusion,Pleural Other,Fracture,"
                   "Support Devices")

CHEXPERT = CHEXPERT_HEADER + """
CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg,Female,68,Frontal,AP,1.0,,,,,,,,,0.0,,,,1.0
CheXpert-v1.0-small/train/patient00002/study2/view1_frontal.jpg,Female,87,Frontal,AP,,,-1.0,1.0,,-1.0,-1.0,,-1.0,,-1.0,,1.0,
CheXpert-v1.0-small/train/patient00002/study1/view1_frontal.jpg,Female,83,Frontal,AP,,,,1.0,,,-1.0,,,,,,1.0,
CheXpert-v1.0-small/train/patient00002/study1/view2_lateral.jpg,Female,83,Lateral,,,,,1.0,,,-1.0,,,,,,1.0,
"""


def nih_values(*positions):
    return tuple(1 if i in positions else 0 for i in range(15))


# ---- NIH -----------------------------------------------------------------------------------

def test_nih_2017_records():
    index = read_nih(NIH_2017)
    assert isinstance(index, DatasetIndex)
    assert index.name == "nih" and index.classes == NIH_CLASSES and index.rejects == ()
    assert index.records == (
        Record("00000001_000.png", "00000001_000.png", "1", nih_values(1), "PA"),
        Record("00000001_001.png", "00000001_001.png", "1", nih_values(1, 10), "PA"),
        Record("00000002_000.png", "00000002_000.png", "2", nih_values(14), "PA"),
        Record("00000003_000.png", "00000003_000.png", "3", nih_values(13), "PA"),
        Record("00000013_005.png", "00000013_005.png", "13", nih_values(3, 7, 10, 12), "AP"),
    )


def test_nih_header_has_twelve_fields_and_rows_eleven():
    assert len(NIH_HEADER.split(",")) == 12
    assert len(NIH_2017.splitlines()[1].split(",")) == 11


def test_nih_2020_revision_and_crlf():
    index = read_nih(NIH_2020.replace("\n", "\r\n"))
    assert [(r.image_id, r.patient_id, r.values) for r in index.records] == [
        ("00000001_000.png", "1", nih_values(1)),
        ("00000002_000.png", "2", nih_values(14)),
    ]


def test_nih_test_list_fixes_test_only():
    index = read_nih(NIH_2017, test_list="00000003_000.png\n00000013_005.png\n\n")
    assert {r.image_id: r.split for r in index.records} == {
        "00000001_000.png": None, "00000001_001.png": None, "00000002_000.png": None,
        "00000003_000.png": "test", "00000013_005.png": "test"}


def test_nih_unknown_label_names_row_field_value_and_valid_names():
    text = NIH_HEADER + "\n00000001_000.png,Cardiomegaly,0,1,058Y,M,PA,1,1,0.1,0.1\n" \
        "00000004_000.png,Mass|Tumour,0,4,082Y,M,AP,2500,2048,0.168,0.168\n"
    with pytest.raises(ValueError) as error:
        read_nih(text)
    message = str(error.value)
    assert "row 2 (line 3)" in message
    assert "'Finding Labels'" in message
    assert "'Mass|Tumour'" in message and "unknown: 'Tumour'" in message
    assert "Atelectasis, Cardiomegaly" in message


def test_nih_no_finding_with_a_finding_is_an_error():
    text = NIH_HEADER + "\n00000005_000.png,No Finding|Mass,0,5,069Y,F,PA,2048,2500,0.168,0.168\n"
    with pytest.raises(ValueError, match=r"row 1 \(line 2\), field 'Finding Labels'.*"
                                         r"'No Finding\|Mass'"):
        read_nih(text)


def test_nih_short_row_and_missing_patient():
    with pytest.raises(ValueError, match=r"row 1 \(line 2\), field 'Patient ID'.*the row has 3 fields"):
        read_nih(NIH_HEADER + "\n00000005_000.png,Mass,0\n")
    with pytest.raises(ValueError, match=r"row 1 \(line 2\), field 'Patient ID'"):
        read_nih(NIH_HEADER + "\n00000005_000.png,Mass,0,,069Y,F,PA,1,1,0.1,0.1\n")


def test_nih_reader_refuses_chexpert_csv():
    with pytest.raises(ValueError) as error:
        read_nih(CHEXPERT)
    message = str(error.value)
    assert "expected the NIH ChestX-ray14 index" in message and "'Image Index'; it is missing" in message
    assert "looks like a CheXpert" in message and "--dataset chexpert" in message
    assert "Path,Sex,Age,Frontal/Lateral" in message


def test_nih_reader_refuses_empty_text():
    with pytest.raises(ValueError, match="expected the NIH ChestX-ray14 index.*'Image Index'; it is missing"):
        read_nih("")


# ---- CheXpert ------------------------------------------------------------------------------

def test_chexpert_records():
    index = read_chexpert(CHEXPERT)
    assert index.name == "chexpert" and index.classes == CHEXPERT_CLASSES
    assert index.rejects == ()
    prefix = "CheXpert-v1.0-small/train/"
    assert index.records == (
        Record(prefix + "patient00001/study1/view1_frontal.jpg",
               prefix + "patient00001/study1/view1_frontal.jpg", "patient00001",
               (1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1), "AP"),
        Record(prefix + "patient00002/study2/view1_frontal.jpg",
               prefix + "patient00002/study2/view1_frontal.jpg", "patient00002",
               (0, 0, -1, 1, 0, -1, -1, 0, -1, 0, -1, 0, 1, 0), "AP"),
        Record(prefix + "patient00002/study1/view1_frontal.jpg",
               prefix + "patient00002/study1/view1_frontal.jpg", "patient00002",
               (0, 0, 0, 1, 0, 0, -1, 0, 0, 0, 0, 0, 1, 0), "AP"),
        Record(prefix + "patient00002/study1/view2_lateral.jpg",
               prefix + "patient00002/study1/view2_lateral.jpg", "patient00002",
               (0, 0, 0, 1, 0, 0, -1, 0, 0, 0, 0, 0, 1, 0), "Lateral"),
    )


def test_chexpert_integer_values_and_pa_view():
    text = CHEXPERT_HEADER + "\nCheXpert-v1.0-small/valid/patient64541/study1/view1_frontal.jpg," \
        "Male,73,Frontal,PA,0,0,1,-1,0,0,0,0,0,0,0,0,0,1\n"
    (record,) = read_chexpert(text).records
    assert record.values == (0, 0, 1, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1)
    assert record.view == "PA" and record.patient_id == "patient64541"


def test_chexpert_bad_value_names_row_and_column():
    rows = CHEXPERT.splitlines()
    rows.append("CheXpert-v1.0-small/train/patient00003/study1/view1_frontal.jpg,Male,41,"
                "Frontal,AP,,,,,,yes,,,,,,,,")
    with pytest.raises(ValueError) as error:
        read_chexpert("\n".join(rows))
    message = str(error.value)
    assert "row 5 (line 6)" in message and "'Edema'" in message and "'yes'" in message


def test_chexpert_path_without_patient_is_an_error():
    text = CHEXPERT_HEADER + "\nCheXpert-v1.0-small/train/someone/study1/view1_frontal.jpg," \
        "Male,41,Frontal,AP,1.0,,,,,,,,,,,,,\n"
    with pytest.raises(ValueError, match=r"row 1 \(line 2\), field 'Path'.*patientNNNNN"):
        read_chexpert(text)


def test_chexpert_reader_refuses_nih_csv():
    with pytest.raises(ValueError) as error:
        read_chexpert(NIH_2017)
    message = str(error.value)
    assert "expected a CheXpert train.csv/valid.csv, with a column 'Path'; it is missing" in message
    assert "looks like the NIH ChestX-ray14 index" in message and "--dataset nih" in message
    assert "Image Index,Finding Labels" in message


# ---- shared checks -------------------------------------------------------------------------

def test_duplicate_ids_keep_the_first_row():
    rows = NIH_2017.splitlines()
    text = "\n".join(rows + [rows[1].replace("Cardiomegaly", "Mass")])
    index = read_nih(text)
    assert len(index.records) == 5
    assert index.records[0].values == nih_values(1)
    assert index.rejects == (IndexReject(
        "00000001_000.png", "00000001_000.png", "duplicate_id",
        "the index names '00000001_000.png' more than once"),)


@pytest.mark.parametrize("path, fragment", [
    ("CheXpert-v1.0-small/train/../../etc/patient00009/x.jpg", "'..' component"),
    ("/CheXpert-v1.0-small/train/patient00009/study1/view1_frontal.jpg", "absolute"),
    ("C:/CheXpert-v1.0-small/train/patient00009/study1/view1_frontal.jpg", "absolute"),
    ("CheXpert-v1.0-small\\train\\patient00009\\study1\\view1_frontal.jpg", "backslash"),
])
def test_escaping_paths_are_rejected(path, fragment):
    text = CHEXPERT + path + ",Male,41,Frontal,AP,1.0,,,,,,,,,,,,,\n"
    index = read_chexpert(text)
    assert len(index.records) == 4
    (reject,) = index.rejects
    assert (reject.image_id, reject.path, reject.reason) == (path, path, "path_escape")
    assert fragment in reject.detail


def test_empty_nih_image_index_is_a_path_escape():
    index = read_nih(NIH_HEADER + "\n,Mass,0,5,069Y,F,PA,1,1,0.1,0.1\n")
    assert index.records == ()
    assert [(r.image_id, r.reason) for r in index.rejects] == [("", "path_escape")]


def test_ids_with_the_same_stem_clash():
    text = CHEXPERT_HEADER + "\n" + "\n".join(
        f"CheXpert-v1.0-small/{split}/patient00007/study1/view1_frontal.jpg,"
        "Male,41,Frontal,AP,1.0,,,,,,,,,,,,," for split in ("train", "valid"))
    index = read_chexpert(text)
    assert [r.image_id for r in index.records] == [
        "CheXpert-v1.0-small/train/patient00007/study1/view1_frontal.jpg"]
    (reject,) = index.rejects
    assert reject.reason == "duplicate_id"
    assert "patient00007_study1_view1_frontal" in reject.detail
    assert "CheXpert-v1.0-small/train/patient00007" in reject.detail


@pytest.mark.parametrize("image_id, name, expected", [
    ("00000001_000.png", "nih", "00000001_000"),
    ("CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg", "chexpert",
     "patient00001_study1_view1_frontal"),
    ("CheXpert-v1.0/valid/patient64541/study1/view1_frontal.jpg", "chexpert",
     "patient64541_study1_view1_frontal"),
    ("patient00001/study1/view1_frontal.jpg", "chexpert", "patient00001_study1_view1_frontal"),
    ("train/NORMAL/IM-0001.jpeg", "folders", "NORMAL_IM-0001"),
    ("val/PNEUMONIA/person1_bacteria_1.jpeg", "folders", "PNEUMONIA_person1_bacteria_1"),
])
def test_stem(image_id, name, expected):
    assert stem(image_id, name) == expected


def test_stem_unknown_dataset():
    with pytest.raises(ValueError, match="expected one of nih, chexpert, folders, mimic, table, got 'kaggle'"):
        stem("x.png", "kaggle")


# ---- folders -------------------------------------------------------------------------------

PNEUMONIA_KEYS = [
    "train/PNEUMONIA/person1_bacteria_1.jpeg",
    "train/NORMAL/IM-0115-0001.jpeg",
    "train/NORMAL/NORMAL2-IM-0381-0001.jpeg",
    "train/.DS_Store",
    "train/NORMAL/.DS_Store",
    "train/NORMAL/",
    "valid/NORMAL/IM-0001.jpeg",
    "validation/PNEUMONIA/notes.txt",
    "test/PNEUMONIA/person100_virus_184.jpeg",
    ".hidden/x.jpeg",
]


def test_folders_records():
    index = read_folders(PNEUMONIA_KEYS)
    assert index.name == "folders" and index.classes == ("NORMAL", "PNEUMONIA")
    assert index.rejects == ()
    assert [(r.image_id, r.path, r.patient_id, r.values, r.split) for r in index.records] == [
        ("test/PNEUMONIA/person100_virus_184.jpeg", "test/PNEUMONIA/person100_virus_184.jpeg",
         "person100", (0, 1), "test"),
        ("train/NORMAL/IM-0115-0001.jpeg", "train/NORMAL/IM-0115-0001.jpeg", "IM-0115",
         (1, 0), "train"),
        ("train/NORMAL/NORMAL2-IM-0381-0001.jpeg", "train/NORMAL/NORMAL2-IM-0381-0001.jpeg",
         "NORMAL2-IM-0381", (1, 0), "train"),
        ("train/PNEUMONIA/person1_bacteria_1.jpeg", "train/PNEUMONIA/person1_bacteria_1.jpeg",
         "person1", (0, 1), "train"),
        ("valid/NORMAL/IM-0001.jpeg", "valid/NORMAL/IM-0001.jpeg", "IM-0001", (1, 0), "val"),
        ("validation/PNEUMONIA/notes.txt", "validation/PNEUMONIA/notes.txt", "notes", (0, 1),
         "val"),
    ]


def test_folders_order_does_not_depend_on_the_listing():
    assert read_folders(PNEUMONIA_KEYS) == read_folders(list(reversed(PNEUMONIA_KEYS)))


def test_folders_same_stem_in_two_splits_clash():
    index = read_folders(["train/NORMAL/IM-0001-0001.jpeg", "test/NORMAL/IM-0001-0001.jpeg"])
    assert [r.image_id for r in index.records] == ["test/NORMAL/IM-0001-0001.jpeg"]
    assert [(r.image_id, r.reason) for r in index.rejects] == [
        ("train/NORMAL/IM-0001-0001.jpeg", "duplicate_id")]


@pytest.mark.parametrize("key, fragment", [
    ("holdout/NORMAL/IM-0001.jpeg", "got 'holdout'"),
    ("train/IM-0001.jpeg", "got 2 component(s)"),
    ("train/NORMAL/extra/IM-0001.jpeg", "got 4 component(s)"),
])
def test_folders_bad_layout_names_the_key(key, fragment):
    with pytest.raises(ValueError) as error:
        read_folders(["train/NORMAL/IM-0002.jpeg", key])
    assert repr(key) in str(error.value) and fragment in str(error.value)


def test_folders_without_inputs():
    with pytest.raises(ValueError, match="got none"):
        read_folders([".DS_Store"])


def test_readers_table():
    assert {name: reader.kind for name, reader in READERS.items()} == {
        "nih": "text", "chexpert": "text", "mimic": "text", "folders": "listing", "table": "text"}
    assert READERS["nih"].read(NIH_2020).name == "nih"
    assert READERS["chexpert"].read(CHEXPERT).name == "chexpert"
    assert READERS["folders"].read(["test/A/1.png"]).classes == ("A",)


def test_empty_chexpert_path_is_a_path_escape():
    index = read_chexpert(CHEXPERT + ",Male,41,Frontal,AP,1.0,,,,,,,,,,,,,\n")
    assert len(index.records) == 4
    assert [(r.image_id, r.reason) for r in index.rejects] == [("", "path_escape")]
