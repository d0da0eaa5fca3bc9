"""Index files as the real releases ship them, byte for byte in what matters to a reader:
headers, column order, quoting, line ends, value spellings, compression.

Each fixture copies the header and first rows of a real public file (the five images below
are the first rows of NIH's index in every copy of it); the tests pin the defects a real
user met: NIH's 2020 header refused, CheXpert labels invented, pneumonia patients split
across splits, and a split that depended on which copy of NIH's index was downloaded.
"""

import gzip
import re

import pytest

from cxrpipe.index import index_text, read_chexpert, read_folders, read_mimic, read_nih, read_table
from cxrpipe.index import TableColumns
from cxrpipe.labels import CHEXPERT_CLASSES, MIMIC_CLASSES, NIH_CLASSES, UNLABELED, multi_hot, partitions
from cxrpipe.preprocessing.plan import PlanOptions, build_plan
from cxrpipe.splits import split_records

# NIH's Box copy of Data_Entry_2017.csv: zero-padded patient ids, ages as 058Y, a header
# ending in a comma (one more field than the rows), LF line ends.
NIH_BOX_2017 = (
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
    "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],\n"
    "00000001_000.png,Cardiomegaly,0,00000001,058Y,M,PA,2682,2749,0.143,0.143\n"
    "00000001_001.png,Cardiomegaly|Emphysema,1,00000001,058Y,M,PA,2894,2729,0.143,0.143\n"
    "00000001_002.png,Cardiomegaly|Effusion,2,00000001,058Y,M,PA,2500,2048,0.168,0.168\n"
    "00000002_000.png,No Finding,0,00000002,081Y,M,PA,2500,2048,0.171,0.171\n"
    "00000003_000.png,Hernia,0,00000003,081Y,F,PA,2582,2991,0.143,0.143\n"
)
# Kaggle's copy of the same file: integer ids and ages, CRLF line ends.
NIH_KAGGLE_2017 = (
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
    "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],\r\n"
    "00000001_000.png,Cardiomegaly,0,1,58,M,PA,2682,2749,0.143,0.143\r\n"
    "00000001_001.png,Cardiomegaly|Emphysema,1,1,58,M,PA,2894,2729,0.143,0.143\r\n"
    "00000001_002.png,Cardiomegaly|Effusion,2,1,58,M,PA,2500,2048,0.168,0.168\r\n"
    "00000002_000.png,No Finding,0,2,81,M,PA,2500,2048,0.171,0.171\r\n"
    "00000003_000.png,Hernia,0,3,81,F,PA,2582,2991,0.143,0.143\r\n"
)
# The 2020 revision NIH distributes today (Data_Entry_2017_v2020.csv): `Patient Sex`, ages
# corrected and written as integers, every row ending in a comma like the header.
NIH_V2020 = (
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Sex,View Position,"
    "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],\n"
    "00000001_000.png,Cardiomegaly,0,1,57,M,PA,2682,2749,0.14300000000000002,0.14300000000000002,\n"
    "00000001_001.png,Cardiomegaly|Emphysema,1,1,58,M,PA,2894,2729,0.14300000000000002,0.14300000000000002,\n"
    "00000001_002.png,Cardiomegaly|Effusion,2,1,58,M,PA,2500,2048,0.168,0.168,\n"
    "00000002_000.png,No Finding,0,2,80,M,PA,2500,2048,0.171,0.171,\n"
    "00000003_000.png,Hernia,0,3,74,F,PA,2582,2991,0.14300000000000002,0.14300000000000002,\n"
)
# Kaggle's 5% random sample (sample_labels.csv): the pixel columns renamed.
NIH_KAGGLE_SAMPLE = (
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
    "OriginalImageWidth,OriginalImageHeight,OriginalImagePixelSpacing_x,OriginalImagePixelSpacing_y\n"
    "00000001_000.png,Cardiomegaly,0,1,058Y,M,PA,2682,2749,0.143,0.143\n"
    "00000001_001.png,Cardiomegaly|Emphysema,1,1,058Y,M,PA,2894,2729,0.143,0.143\n"
    "00000001_002.png,Cardiomegaly|Effusion,2,1,058Y,M,PA,2500,2048,0.168,0.168\n"
    "00000002_000.png,No Finding,0,2,081Y,M,PA,2500,2048,0.171,0.171\n"
    "00000003_000.png,Hernia,0,3,081Y,F,PA,2582,2991,0.143,0.143\n"
)
NIH_COPIES = {"box-2017": NIH_BOX_2017, "kaggle-2017": NIH_KAGGLE_2017, "v2020": NIH_V2020,
              "kaggle-sample": NIH_KAGGLE_SAMPLE}

CHEXPERT_HEADER = ("Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding,Enlarged Cardiomediastinum,"
                   "Cardiomegaly,Lung Opacity,Lung Lesion,Edema,Consolidation,Pneumonia,"
                   "Atelectasis,Pneumothorax,Pleural Effusion,Pleural Other,Fracture,Support Devices")
# CheXpert-v1.0-small/valid.csv: radiologists' labels, only 1.0 and 0.0; 9 of its 234 rows
# have every column at 0.0, No Finding included (patient64542's two views below are such).
CHEXPERT_VALID = CHEXPERT_HEADER + "\n" + "\n".join([
    "CheXpert-v1.0-small/valid/patient64541/study1/view1_frontal.jpg,Male,73,Frontal,AP,"
    "0.0,1.0,1.0,1.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0",
    "CheXpert-v1.0-small/valid/patient64542/study1/view1_frontal.jpg,Male,70,Frontal,PA,"
    "0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0",
    "CheXpert-v1.0-small/valid/patient64542/study1/view2_lateral.jpg,Male,70,Lateral,,"
    "0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0",
    "CheXpert-v1.0-small/valid/patient64544/study1/view1_frontal.jpg,Female,42,Frontal,AP,"
    "1.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0",
]) + "\n"
# train.csv: 1.0/0.0/-1.0 or blank; circulating excerpts write 1/0/-1.
CHEXPERT_TRAIN = CHEXPERT_HEADER + "\n" + "\n".join([
    "CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg,Female,68,Frontal,AP,1.0,,,,,,,,,0.0,,,,1.0",
    "CheXpert-v1.0-small/train/patient00002/study2/view1_frontal.jpg,Female,87,Frontal,AP,,,-1.0,1.0,,-1.0,-1.0,,-1.0,,-1.0,,1.0,",
    "CheXpert-v1.0-small/train/patient00002/study1/view1_frontal.jpg,Female,83,Frontal,AP,,,,1.0,,,-1.0,,,,,,1.0,",
    "CheXpert-v1.0-small/train/patient00003/study1/view1_frontal.jpg,Male,41,Frontal,AP,,,,,,1,,,,0,,,,",
    "CheXpert-v1.0-small/train/patient00004/study1/view1_frontal.jpg,Female,20,Frontal,PA,,,,,,,,,-1,,,,,",
]) + "\n"

# MIMIC-CXR-JPG 2.0.0, as PhysioNet ships it (gzip-compressed there).
MIMIC_METADATA = (
    "dicom_id,subject_id,study_id,PerformedProcedureStepDescription,ViewPosition,Rows,Columns,"
    "StudyDate,StudyTime,ProcedureCodeSequence_CodeMeaning,ViewCodeSequence_CodeMeaning,"
    "PatientOrientationCodeSequence_CodeMeaning\n"
    "02aa804e-bde0afdd-112c0b34-7bc16630-4e384014,10000032,50414267,CHEST (PA AND LAT),PA,3056,2544,"
    "21800506,213014.531,CHEST (PA AND LAT),postero-anterior,Erect\n"
    "174413ec-4ec4c1f7-34ea26b7-c5f994f8-79ef1962,10000032,50414267,CHEST (PA AND LAT),LATERAL,3056,2544,"
    "21800506,213014.531,CHEST (PA AND LAT),lateral,Erect\n"
    "2a2277a9-b0ded155-c0de8eb9-c124d10e-82c5caab,10000032,53189527,CHEST (PA AND LAT),PA,3056,2544,"
    "21800626,165500.312,CHEST (PA AND LAT),postero-anterior,Erect\n"
    "68b5c4b1-227d0485-9cc38c3f-7b84ab51-4b472714,10000764,57375967,CHEST (PORTABLE AP),AP,2705,2539,"
    "21321010,155101.546,CHEST (PORTABLE AP),antero-posterior,\n"
    "fffabebf-74fd3a1f-673b6b41-96ec0ac9-2ab69818,10000898,50771383,,,3056,2544,"
    "21221210,104652.843,CHEST (PA AND LAT),,\n"
)
MIMIC_CHEXPERT = (
    "subject_id,study_id,Atelectasis,Cardiomegaly,Consolidation,Edema,Enlarged Cardiomediastinum,"
    "Fracture,Lung Lesion,Lung Opacity,No Finding,Pleural Effusion,Pleural Other,Pneumonia,"
    "Pneumothorax,Support Devices\n"
    "10000032,50414267,,,,,,,,,1.0,,,,,\n"
    "10000032,53189527,,,,,,,,,1.0,,,,,\n"
    "10000764,57375967,,,1.0,,,,,,,,,-1.0,,\n"
)
MIMIC_SPLIT = (
    "dicom_id,study_id,subject_id,split\n"
    "02aa804e-bde0afdd-112c0b34-7bc16630-4e384014,50414267,10000032,train\n"
    "174413ec-4ec4c1f7-34ea26b7-c5f994f8-79ef1962,50414267,10000032,train\n"
    "2a2277a9-b0ded155-c0de8eb9-c124d10e-82c5caab,53189527,10000032,train\n"
    "68b5c4b1-227d0485-9cc38c3f-7b84ab51-4b472714,57375967,10000764,validate\n"
    "fffabebf-74fd3a1f-673b6b41-96ec0ac9-2ab69818,50771383,10000898,test\n"
)

FRACTIONS = (0.7, 0.1, 0.2)


def values_of(index):
    return {r.image_id: r.values for r in index.records}


# ---- NIH: every copy read, and read alike -----------------------------------------------------

@pytest.mark.parametrize("copy", sorted(NIH_COPIES))
def test_every_copy_of_the_nih_index_is_read(copy):
    index = read_nih(NIH_COPIES[copy])
    assert [r.image_id for r in index.records] == [
        "00000001_000.png", "00000001_001.png", "00000001_002.png", "00000002_000.png",
        "00000003_000.png"]
    assert [r.patient_id for r in index.records] == ["1", "1", "1", "2", "3"]
    assert {r.view for r in index.records} == {"PA"} and index.rejects == ()
    cardiomegaly, effusion = NIH_CLASSES.index("Cardiomegaly"), NIH_CLASSES.index("Effusion")
    assert index.records[2].values == tuple(int(i in (cardiomegaly, effusion)) for i in range(15))


def test_the_split_does_not_depend_on_which_copy_was_downloaded():
    splits = {copy: split_records(read_nih(text).records, FRACTIONS, seed=3)
              for copy, text in NIH_COPIES.items()}
    first = splits["box-2017"]
    assert all(split == first for split in splits.values())


def test_the_2020_revision_with_the_official_test_list():
    index = read_nih(NIH_V2020, test_list="00000003_000.png\n")
    assert split_records(index.records, FRACTIONS, seed=0)["00000003_000.png"] == "test"


def test_a_misspelled_nih_column_is_named_with_what_was_found():
    text = NIH_V2020.replace("Patient ID", "PatientID", 1)
    with pytest.raises(ValueError) as error:
        read_nih(text)
    message = str(error.value)
    assert "with a column 'Patient ID'; got 'PatientID' (misspelled?)" in message
    assert "Data_Entry_2017" in message


def test_a_mimic_file_given_as_nih_index_says_which_layout_it_looks_like():
    with pytest.raises(ValueError, match="it looks like MIMIC-CXR-JPG's mimic-cxr-2.0.0-metadata.*--dataset mimic"):
        read_nih(MIMIC_METADATA)


# ---- index files as they come -------------------------------------------------------------

def test_index_text_takes_gzip_bom_and_crlf():
    raw = ("\ufeff" + NIH_KAGGLE_2017).encode("utf-8")
    assert index_text(gzip.compress(raw), "--index x") == NIH_KAGGLE_2017
    assert index_text(raw, "--index x") == NIH_KAGGLE_2017
    assert read_nih(index_text(gzip.compress(raw), "--index x")).records == read_nih(NIH_BOX_2017).records


def test_index_text_refuses_damaged_gzip_and_non_utf8_naming_the_file():
    with pytest.raises(ValueError, match="--index s3://b/i.csv.gz: expected a complete gzip file"):
        index_text(gzip.compress(NIH_BOX_2017.encode())[:-12], "--index s3://b/i.csv.gz")
    with pytest.raises(ValueError, match="--index i.csv: expected UTF-8 text, got byte 0xe9 at offset 5"):
        index_text("Path,\xe9".encode("latin-1"), "--index i.csv")


def test_quoted_fields_and_extra_trailing_columns():
    text = ('"Image Index","Finding Labels","Follow-up #","Patient ID","Patient Age","Patient Sex",'
            '"View Position","OriginalImage[Width","Height]","Note"\r\n'
            '"00000001_002.png","Cardiomegaly|Effusion","2","00000001","58","M","PA","2500","2048",'
            '"seen, again"\r\n')
    index = read_nih(text)
    assert index.records[0].patient_id == "1" and index.records[0].values[2] == 1


# ---- CheXpert: labels as the source says them, valid.csv as a split of its own ------------------

def test_chexpert_rows_all_zero_are_unlabeled_never_no_finding():
    index = read_chexpert(CHEXPERT_VALID)
    values = values_of(index)
    zero = values["CheXpert-v1.0-small/valid/patient64542/study1/view1_frontal.jpg"]
    assert zero == (0,) * 14
    assert multi_hot(zero, CHEXPERT_CLASSES, "zeros") == (0,) * 14
    assert partitions(zero, CHEXPERT_CLASSES, "zeros", "any") == (UNLABELED,)
    normal = values["CheXpert-v1.0-small/valid/patient64544/study1/view1_frontal.jpg"]
    assert partitions(normal, CHEXPERT_CLASSES, "zeros", "any") == ("No Finding",)


@pytest.mark.parametrize("policy", ["zeros", "ignore"])
def test_chexpert_all_uncertain_is_unlabeled_and_keeps_its_mask(policy):
    index = read_chexpert(CHEXPERT_TRAIN)
    plan = build_plan(index, PlanOptions(uncertain=policy))
    items = {i.image_id: i for task in plan.tasks for i in task}
    item = items["CheXpert-v1.0-small/train/patient00004/study1/view1_frontal.jpg"]
    atelectasis = CHEXPERT_CLASSES.index("Atelectasis")
    assert item.partitions == (UNLABELED,)
    assert item.multi_hot == (0,) * 14
    assert item.uncertain == tuple(int(i == atelectasis) for i in range(14))
    ones = build_plan(index, PlanOptions(uncertain="ones"))
    by_id = {i.image_id: i for task in ones.tasks for i in task}
    assert by_id[item.image_id].partitions == ("Atelectasis",)


def test_chexpert_integer_spellings_read_like_decimals():
    values = values_of(read_chexpert(CHEXPERT_TRAIN))
    row = values["CheXpert-v1.0-small/train/patient00003/study1/view1_frontal.jpg"]
    assert row[CHEXPERT_CLASSES.index("Edema")] == 1
    assert row[CHEXPERT_CLASSES.index("Pneumothorax")] == 0


@pytest.mark.parametrize("valid_as", ["val", "test"])
def test_chexpert_valid_csv_is_a_split_of_its_own(valid_as):
    index = read_chexpert(CHEXPERT_TRAIN, valid=CHEXPERT_VALID, valid_as=valid_as)
    split_of = split_records(index.records, FRACTIONS, seed=0)
    valid = {r.image_id for r in index.records if "/valid/" in r.image_id}
    assert len(valid) == 4 and all(split_of[i] == valid_as for i in valid)
    others = {"train", "val", "test"} - {valid_as}
    assert all(split_of[r.image_id] in others for r in index.records if r.image_id not in valid)


def test_a_patient_in_train_csv_and_valid_csv_is_an_error_naming_the_patient():
    leaked = CHEXPERT_TRAIN + CHEXPERT_VALID.splitlines()[1].replace(
        "valid/patient64541/study1", "train/patient64541/study2") + "\n"
    index = read_chexpert(leaked, valid=CHEXPERT_VALID)
    with pytest.raises(ValueError, match="patient 'patient64541'"):
        split_records(index.records, FRACTIONS, seed=0)


def test_chexpert_columns_found_by_name_with_extras_and_another_order():
    header = CHEXPERT_HEADER.split(",")
    moved = ",".join(header[5:] + header[:5] + ["Report"])
    row = CHEXPERT_VALID.splitlines()[1].split(",")
    text = moved + "\n" + ",".join(row[5:] + row[:5] + ["\"no acute, process\""]) + "\n"
    assert read_chexpert(text).records == read_chexpert(CHEXPERT_VALID).records[:1]


# ---- chest-xray-pneumonia: patients from the real file names ---------------------------------

PNEUMONIA_KEYS = [
    "train/NORMAL/IM-0429-0001.jpeg", "val/NORMAL/IM-0429-0001-0001.jpeg",
    "train/NORMAL/NORMAL2-IM-0246-0001.jpeg", "test/NORMAL/NORMAL2-IM-0246-0001-0002.jpeg",
    "train/PNEUMONIA/person1_bacteria_1.jpeg", "train/PNEUMONIA/person1_bacteria_2.jpeg",
    "test/PNEUMONIA/person100_bacteria_475.jpeg", "val/PNEUMONIA/person1946_bacteria_4874.jpeg",
]


def test_three_group_pneumonia_names_belong_to_the_two_group_patient():
    index = read_folders(PNEUMONIA_KEYS)
    patients = {r.image_id: r.patient_id for r in index.records}
    assert patients["val/NORMAL/IM-0429-0001-0001.jpeg"] == patients["train/NORMAL/IM-0429-0001.jpeg"] == "IM-0429"
    assert patients["test/NORMAL/NORMAL2-IM-0246-0001-0002.jpeg"] == "NORMAL2-IM-0246"
    assert patients["train/PNEUMONIA/person1_bacteria_2.jpeg"] == "person1"


def test_resplit_keeps_every_pneumonia_patient_in_one_split():
    index = read_folders(PNEUMONIA_KEYS)
    with pytest.raises(ValueError, match="patient '(IM-0429|NORMAL2-IM-0246)'.*--resplit"):
        build_plan(index, PlanOptions())
    plan = build_plan(index, PlanOptions(resplit=True, seed=11))
    split_of = {(i.patient_id, i.split) for task in plan.tasks for i in task}
    assert len({p for p, _ in split_of}) == len(split_of)


@pytest.mark.parametrize("prefix, fragment", [
    ("chest_xray/", "got them one level down, in chest_xray/: add /chest_xray to --images"),
    ("chest_xray/chest_xray/", "got them 2 levels down, in chest_xray/chest_xray/: add /chest_xray/chest_xray to --images"),
])
def test_kaggle_archive_one_level_too_high_is_said_in_one_line(prefix, fragment):
    keys = [prefix + k for k in PNEUMONIA_KEYS] + ["__MACOSX/chest_xray/train/NORMAL/._IM-0429-0001.jpeg"]
    with pytest.raises(ValueError) as error:
        read_folders(keys)
    assert fragment in str(error.value) and "\n" not in str(error.value)


def test_kaggle_archive_nested_duplicate_is_named():
    keys = PNEUMONIA_KEYS + ["chest_xray/" + k for k in PNEUMONIA_KEYS] + ["__MACOSX/._x"]
    with pytest.raises(ValueError, match="chest_xray/ under the root holds another copy of the split folders"):
        read_folders(keys)


def test_macosx_folders_are_not_inputs():
    index = read_folders(PNEUMONIA_KEYS + ["__MACOSX/train/NORMAL/._IM-0429-0001.jpeg"])
    assert len(index.records) == len(PNEUMONIA_KEYS)


# ---- MIMIC-CXR-JPG -------------------------------------------------------------------------

def test_mimic_files_as_physionet_ships_them():
    index = read_mimic(MIMIC_METADATA, labels=MIMIC_CHEXPERT, split=MIMIC_SPLIT)
    assert index.name == "mimic" and index.classes == MIMIC_CLASSES
    first = index.records[0]
    assert first.image_id == "02aa804e-bde0afdd-112c0b34-7bc16630-4e384014"
    assert first.path == "files/p10/p10000032/s50414267/02aa804e-bde0afdd-112c0b34-7bc16630-4e384014.jpg"
    assert first.patient_id == "10000032" and first.view == "PA" and first.split == "train"
    assert [r.split for r in index.records] == ["train", "train", "train", "val", "test"]
    assert [r.view for r in index.records] == ["PA", "LATERAL", "PA", "AP", ""]
    # Labels are per study: both images of study 50414267 carry its No Finding.
    assert index.records[1].values == first.values == tuple(int(c == "No Finding") for c in MIMIC_CLASSES)
    portable = index.records[3].values
    assert portable[MIMIC_CLASSES.index("Consolidation")] == 1
    assert portable[MIMIC_CLASSES.index("Pneumonia")] == -1


def test_mimic_study_without_labels_is_unlabeled_and_blank_view_is_not_frontal():
    index = read_mimic(MIMIC_METADATA, labels=MIMIC_CHEXPERT, split=MIMIC_SPLIT)
    plan = build_plan(index, PlanOptions(views="frontal"))
    items = {i.image_id: i for task in plan.tasks for i in task}
    assert "174413ec-4ec4c1f7-34ea26b7-c5f994f8-79ef1962" not in items       # LATERAL
    assert "fffabebf-74fd3a1f-673b6b41-96ec0ac9-2ab69818" not in items       # blank view
    assert plan.excluded == {"lateral_view": 1, "unknown_view": 1}
    everything = build_plan(index, PlanOptions())
    unlabeled = {i.image_id: i for task in everything.tasks for i in task}["fffabebf-74fd3a1f-673b6b41-96ec0ac9-2ab69818"]
    assert unlabeled.partitions == (UNLABELED,) and unlabeled.split == "test"


def test_mimic_dicom_release_and_missing_label_file():
    index = read_mimic(MIMIC_METADATA, labels=MIMIC_CHEXPERT, extension="dcm")
    assert index.records[0].path.endswith("/02aa804e-bde0afdd-112c0b34-7bc16630-4e384014.dcm")
    assert {r.split for r in index.records} == {None}
    with pytest.raises(ValueError, match="--labels: expected MIMIC-CXR-JPG's"):
        read_mimic(MIMIC_METADATA)


def test_mimic_bad_rows_name_the_file():
    with pytest.raises(ValueError, match=r"--split-file: index row 1 \(line 2\), field 'split'.*'valid'"):
        read_mimic(MIMIC_METADATA, labels=MIMIC_CHEXPERT, split=MIMIC_SPLIT.replace(",train\n1744", ",valid\n1744"))
    with pytest.raises(ValueError, match=r"--labels: .*it looks like MIMIC-CXR-JPG's mimic-cxr-2.0.0-split"):
        read_mimic(MIMIC_METADATA, labels=MIMIC_SPLIT)


# ---- table: any CSV with named columns -------------------------------------------------------

def test_table_with_one_column_per_class():
    text = ("file,mrn,projection,fold,Effusion,Nodule\r\n"
            "a/1.png,007,PA,train,1,\r\n"
            "a/2.png,007,LAT,train,-1,0\r\n"
            "b/1.png,008,AP,,0.0,0.0\r\n")
    columns = TableColumns(path="file", patient="mrn", view="projection", split="fold",
                           label_columns=("Effusion", "Nodule"))
    index = read_table(text, columns)
    assert index.classes == ("Effusion", "Nodule") and index.has_views
    assert [(r.image_id, r.patient_id, r.values, r.view, r.split) for r in index.records] == [
        ("a/1.png", "007", (1, 0), "PA", "train"), ("a/2.png", "007", (-1, 0), "LAT", "train"),
        ("b/1.png", "008", (0, 0), "AP", None)]
    assert partitions(index.records[2].values, index.classes, "zeros", "any") == (UNLABELED,)


def test_table_with_a_column_of_names():
    text = "path,patient,findings\nx.png,1,Mass;Nodule\ny.png,2,\nz.png,3,Nodule\n"
    index = read_table(text, TableColumns(labels_column="findings", separator=";"))
    assert index.classes == ("Mass", "Nodule") and not index.has_views
    assert [r.values for r in index.records] == [(1, 1), (0, 0), (0, 1)]


@pytest.mark.parametrize("columns, text, fragment", [
    (TableColumns(), "path,patient\nx.png,1\n", "either --label-columns"),
    (TableColumns(label_columns=("A",), labels_column="B"), "path,patient\n", "got both"),
    (TableColumns(label_columns=("Efusion",)), "path,patient,Effusion\nx.png,1,1\n",
     re.escape("with a column 'Efusion'; got 'Effusion' (misspelled?)")),
    (TableColumns(label_columns=("A",)), "path,patient,A\nx.png,1,yes\n", r"row 1 \(line 2\), field 'A'"),
    (TableColumns(label_columns=("A",), split="s"), "path,patient,A,s\nx.png,1,1,holdout\n", "field 's'"),
    (TableColumns(label_columns=("A",)), "path,patient,A\nx.png,,1\n", "field 'patient'"),
])
def test_table_mistakes_are_named(columns, text, fragment):
    with pytest.raises(ValueError, match=fragment):
        read_table(text, columns)


def test_kaggle_nih_images_in_numbered_subfolders_are_found():
    from cxrpipe.index.nih import locate_nested

    index = read_nih(NIH_KAGGLE_2017)
    keys = ["images_001/images/00000001_000.png", "images_001/images/00000001_001.png",
            "images_002/images/00000002_000.png", "00000001_002.png",
            "images_003/images/00000003_000.png", "images_012/images/00000003_000.png"]
    located, moved = locate_nested(index, keys)
    assert moved == 3
    assert [r.path for r in located.records] == [
        "images_001/images/00000001_000.png", "images_001/images/00000001_001.png",
        "00000001_002.png", "images_002/images/00000002_000.png",
        "00000003_000.png"]  # in two folders: left to be a 'missing' reject, never guessed
    assert [r.image_id for r in located.records] == [r.image_id for r in index.records]
