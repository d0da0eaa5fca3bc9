"""Synthetic datasets: exact index formats, files that decode as declared, determinism, and
planted findings that really change the image where they should."""

import csv
import gzip
import io
import re
from collections import Counter, defaultdict

import cv2
import numpy as np
import pytest

from cxrpipe.index import READERS, read_mimic
from cxrpipe.labels import CHEXPERT_CLASSES, MIMIC_CLASSES, NIH_CLASSES, NO_FINDING, partitions
from cxrpipe.synth import INDEX_PATHS, LAYOUTS, render_phantom
from cxrpipe.synth.findings import ALIASES, FINDINGS
from cxrpipe.synth.layouts import chexpert_plan, folders_plan, nih_plan
from cxrpipe.synth.mimic import mimic_plan

NIH_HEADER = ("Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,"
              "View Position,OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],")
CHEXPERT_HEADER = ("Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding,Enlarged Cardiomediastinum,"
                   "Cardiomegaly,Lung Opacity,Lung Lesion,Edema,Consolidation,Pneumonia,"
                   "Atelectasis,Pneumothorax,Pleural Effusion,Pleural Other,Fracture,"
                   "Support Devices")
NIH_FINDINGS = NIH_CLASSES[:-1]


def synth(layout, n, seed, **kwargs):
    """Run a layout into a dict, failing on a path written twice."""
    files = {}

    def put(path, data):
        assert path not in files, f"{path} written twice"
        assert isinstance(data, bytes)
        files[path] = data

    LAYOUTS[layout](n, seed, put, **kwargs)
    return files


def table(data: bytes):
    return list(csv.reader(io.StringIO(data.decode())))


def decode(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


@pytest.fixture(scope="module")
def nih():
    return synth("nih", 60, 1, image_size=64)


@pytest.fixture(scope="module")
def chexpert():
    return synth("chexpert", 60, 2)


@pytest.fixture(scope="module")
def folders():
    return synth("folders", 60, 3, image_size=128)


@pytest.fixture(scope="module")
def mimic():
    return synth("mimic", 40, 6, image_size=64)


# --- NIH ---------------------------------------------------------------------------------

def test_nih_csv_has_the_2017_structure(nih):
    data = nih["Data_Entry_2017.csv"]
    assert data.decode().splitlines()[0] == NIH_HEADER
    header, *rows = table(data)
    assert len(header) == 12 and header[-1] == ""          # the trailing comma
    assert len(rows) == 60 and {len(row) for row in rows} == {11}
    for name, labels, followup, patient, age, sex, view, width, height, sx, sy in rows:
        assert name == f"{int(patient):08d}_{int(followup):03d}.png"
        assert re.fullmatch(r"\d{3}Y", age) and sex in ("M", "F") and view in ("PA", "AP")
        assert 2000 <= int(width) <= 3056 and 2000 <= int(height) <= 3056
        assert sx == sy and float(sx) in (0.143, 0.139, 0.168)
        names = labels.split("|")
        assert labels == NO_FINDING or names == [c for c in NIH_FINDINGS if c in names]


def test_nih_patients_have_consecutive_followups(nih):
    followups = defaultdict(list)
    for row in table(nih["Data_Entry_2017.csv"])[1:]:
        followups[int(row[3])].append(int(row[2]))
    assert all(f == list(range(len(f))) and 1 <= len(f) <= 4 for f in followups.values())
    assert max(len(f) for f in followups.values()) > 1


def test_nih_every_named_image_was_put_and_decodes_as_8_bit_gray(nih):
    names = [row[0] for row in table(nih["Data_Entry_2017.csv"])[1:]]
    assert set(nih) == {f"images/{n}" for n in names} | {
        "Data_Entry_2017.csv", "train_val_list.txt", "test_list.txt"}
    for name in names:
        image = decode(nih[f"images/{name}"])
        assert image.dtype == np.uint8 and image.shape == (64, 64)
    assert INDEX_PATHS["nih"] == ("Data_Entry_2017.csv", "images")


def test_nih_split_lists_are_patient_level_and_cover_every_image(nih):
    rows = table(nih["Data_Entry_2017.csv"])[1:]
    test = nih["test_list.txt"].decode().splitlines()
    train_val = nih["train_val_list.txt"].decode().splitlines()
    assert sorted(test + train_val) == sorted(row[0] for row in rows)
    patient = {row[0]: row[3] for row in rows}
    assert not {patient[n] for n in test} & {patient[n] for n in train_val}
    assert test and train_val


def test_nih_every_class_is_present_at_60_images(nih):
    labels = Counter(l for row in table(nih["Data_Entry_2017.csv"])[1:] for l in row[1].split("|"))
    assert set(labels) == set(NIH_CLASSES)


def test_nih_class_frequencies_are_plausible():
    rows = list(nih_plan(2000, 7))
    normal = sum(not row.labels for row in rows) / len(rows)
    multi = sum(len(row.labels) > 1 for row in rows) / len(rows)
    counts = Counter(label for row in rows for label in row.labels)
    assert 0.4 < normal < 0.6 and 0.1 < multi < 0.3
    assert min(counts.values()) >= 2000 / 28 * 0.9               # every class well represented
    assert counts["Infiltration"] > counts["Hernia"]              # common findings co-occur more
    patients = {row.patient for row in rows}
    test = {row.patient for row in rows if row.test}
    assert 0.12 < len(test) / len(patients) < 0.28


# --- CheXpert ----------------------------------------------------------------------------

PATH = re.compile(r"CheXpert-v1\.0-small/(train|valid)/patient(\d{5})/study(\d+)/"
                  r"view(\d)_(frontal|lateral)\.jpg")


def test_chexpert_csvs_have_the_real_columns_and_values(chexpert):
    train = table(chexpert["CheXpert-v1.0-small/train.csv"])
    valid = table(chexpert["CheXpert-v1.0-small/valid.csv"])
    for header, *rows in (train, valid):
        assert ",".join(header) == CHEXPERT_HEADER and tuple(header[5:]) == CHEXPERT_CLASSES
        assert rows and {len(row) for row in rows} == {19}
        for path, sex, age, frontal_lateral, ap_pa, *values in rows:
            split, _, _, view, kind = PATH.fullmatch(path).groups()
            assert sex in ("Male", "Female") and age.isdigit()
            assert (frontal_lateral, view, kind) in (("Frontal", "1", "frontal"),
                                                     ("Lateral", "2", "lateral"))
            assert ap_pa == ("" if kind == "lateral" else ap_pa) and ap_pa in ("AP", "PA", "")
            sick = any(v in ("1.0", "-1.0") for v in values[1:-1])
            unlabeled = split == "valid" and set(values) == {"0.0"}
            assert values[0] == ("0.0" if unlabeled else "1.0" if not sick else "" if split == "train" else "0.0")
    train_values = Counter(v for row in train[1:] for v in row[5:])
    assert set(train_values) == {"1.0", "0.0", "-1.0", ""}
    assert {v for row in valid[1:] for v in row[5:]} == {"1.0", "0.0"}
    # Like the real valid.csv, some rows say 0.0 everywhere, No Finding included.
    assert any(set(row[5:]) == {"0.0"} for row in valid[1:])
    assert any(row[3] == "Lateral" for row in train[1:])
    assert {row[4] for row in train[1:] if row[3] == "Frontal"} == {"AP", "PA"}
    for column in range(5, 19):                                  # every class positive somewhere
        assert any(row[column] == "1.0" for row in train[1:]), train[0][column]


def test_chexpert_valid_patients_come_after_train_patients(chexpert):
    def patients(name):
        return [int(PATH.fullmatch(row[0]).group(2)) for row in table(chexpert[name])[1:]]

    train = patients("CheXpert-v1.0-small/train.csv")
    valid = patients("CheXpert-v1.0-small/valid.csv")
    assert len(train) + len(valid) == 60 and len(valid) == 6
    assert min(valid) == max(train) + 1               # numbered after train's, as in the real set


def test_chexpert_images_decode_with_small_set_sizes(chexpert):
    paths = [row[0] for name in ("train", "valid")
             for row in table(chexpert[f"CheXpert-v1.0-small/{name}.csv"])[1:]]
    assert set(chexpert) == set(paths) | {"CheXpert-v1.0-small/train.csv",
                                          "CheXpert-v1.0-small/valid.csv"}
    shapes = set()
    for path in paths:
        image = decode(chexpert[path])
        assert image.dtype == np.uint8 and image.ndim == 2
        assert 280 <= image.shape[0] <= 350 and 270 <= image.shape[1] <= 320
        shapes.add(image.shape)
    assert len(shapes) > 20                                      # sizes vary


# --- folders -----------------------------------------------------------------------------

NAMES = {"NORMAL": re.compile(r"(NORMAL2-)?IM-\d{4}-\d{4}\.jpeg"),
         "PNEUMONIA": re.compile(r"person\d+_(bacteria|virus)_\d+\.jpeg")}


def patient_of(name):
    return re.match(r"(person\d+)_|(.*-\d+)-\d+\.", name).group(1, 2)


def test_folders_layout_names_sizes_and_patient_splits(folders):
    assert len(folders) == 60
    split_of = defaultdict(set)
    for path, data in folders.items():
        root, split, label, name = path.split("/")
        assert root == "chest_xray" and split in ("train", "val", "test")
        assert NAMES[label].fullmatch(name), path
        split_of[patient_of(name)].add(split)
        image = decode(data)
        assert image.dtype == np.uint8 and image.ndim == 2
        assert 0.3 * 128 - 1 <= min(image.shape) and max(image.shape) <= 128
    assert all(len(splits) == 1 for splits in split_of.values())
    assert {s for splits in split_of.values() for s in splits} == {"train", "val", "test"}


def test_folders_class_ratio_is_about_one_to_three():
    labels = Counter(image.label for image in folders_plan(2000, 5))
    assert 0.18 < labels["NORMAL"] / 2000 < 0.36


# --- MIMIC-CXR-JPG ------------------------------------------------------------------------

MIMIC_METADATA_HEADER = (
    "dicom_id,subject_id,study_id,PerformedProcedureStepDescription,ViewPosition,Rows,Columns,"
    "StudyDate,StudyTime,ProcedureCodeSequence_CodeMeaning,ViewCodeSequence_CodeMeaning,"
    "PatientOrientationCodeSequence_CodeMeaning")
MIMIC_LABELS_HEADER = (
    "subject_id,study_id,Atelectasis,Cardiomegaly,Consolidation,Edema,Enlarged Cardiomediastinum,"
    "Fracture,Lung Lesion,Lung Opacity,No Finding,Pleural Effusion,Pleural Other,Pneumonia,"
    "Pneumothorax,Support Devices")
MIMIC_SPLIT_HEADER = "dicom_id,study_id,subject_id,split"
MIMIC_INDEX = {"metadata": MIMIC_METADATA_HEADER, "chexpert": MIMIC_LABELS_HEADER,
               "negbio": MIMIC_LABELS_HEADER, "split": MIMIC_SPLIT_HEADER}
MIMIC_PATH = re.compile(r"files/p(1\d)/p(\1\d{6})/s(5\d{7})/([0-9a-f]{8}(?:-[0-9a-f]{8}){4})\.jpg")
VIEWS = {"PA": "postero-anterior", "AP": "antero-posterior", "LATERAL": "lateral",
         "LL": "left lateral", "": ""}


def mimic_text(files, name) -> str:
    return gzip.decompress(files[f"mimic-cxr-2.0.0-{name}.csv.gz"]).decode()


def mimic_table(files, name):
    return table(mimic_text(files, name).encode())


def test_mimic_index_files_are_gzip_csvs_with_the_real_headers(mimic):
    for name, header in MIMIC_INDEX.items():
        data = mimic[f"mimic-cxr-2.0.0-{name}.csv.gz"]
        assert data[:2] == b"\x1f\x8b" and data[4:8] == bytes(4)          # gzip, no timestamp
        text = mimic_text(mimic, name)
        assert text.split("\n", 1)[0] == header and text.endswith("\n") and "\r" not in text
        assert {len(row) for row in mimic_table(mimic, name)} == {header.count(",") + 1}
    assert mimic_text(mimic, "negbio") == mimic_text(mimic, "chexpert")
    assert INDEX_PATHS["mimic"] == ("mimic-cxr-2.0.0-metadata.csv.gz", "")


def test_mimic_files_are_the_images_the_metadata_names_at_its_sizes(mimic):
    rows = mimic_table(mimic, "metadata")[1:]
    assert len(rows) == 40
    paths = set()
    for dicom_id, subject, study, _, _, height, width, *_ in rows:
        path = f"files/p{subject[:2]}/p{subject}/s{study}/{dicom_id}.jpg"
        assert MIMIC_PATH.fullmatch(path), path
        image = decode(mimic[path])
        assert image.dtype == np.uint8 and image.shape == (int(height), int(width))
        assert max(image.shape) <= 64 and min(image.shape) >= 0.75 * 64 - 1
        paths.add(path)
    assert set(mimic) == paths | {f"mimic-cxr-2.0.0-{name}.csv.gz" for name in MIMIC_INDEX}


def test_mimic_metadata_values_look_like_the_real_ones(mimic):
    rows = mimic_table(mimic, "metadata")[1:]
    studies = defaultdict(set)
    for (_, subject, study, procedure, view, _, _, day, time, code, meaning,
         orientation) in rows:
        assert procedure == code and procedure.startswith("CHEST (")
        assert view in VIEWS and meaning == VIEWS[view]
        assert orientation in ("Erect", "Recumbent", "")
        assert re.fullmatch(r"21\d{6}", day) and re.fullmatch(r"\d{1,6}\.\d{1,3}", time)
        assert float(time) < 240000
        studies[subject].add(study)
    assert all(1 <= len(s) <= 3 for s in studies.values()) and len(studies) > 5
    views = Counter(row[4] for row in rows)
    assert {"PA", "AP", "LATERAL"} <= set(views)
    assert len({row[0] for row in rows}) == 40


def test_mimic_labels_one_row_per_study_with_the_labelers_values(mimic):
    rows = mimic_table(mimic, "chexpert")[1:]
    keys = [(subject, study) for subject, study, *_ in rows]
    assert len(set(keys)) == len(keys)
    no_finding = MIMIC_CLASSES.index(NO_FINDING)
    for _, _, *values in rows:
        assert set(values) <= {"1.0", "0.0", "-1.0", ""}
        sick = any(v in ("1.0", "-1.0") for c, v in zip(MIMIC_CLASSES, values)
                   if c not in (NO_FINDING, "Support Devices"))
        assert values[no_finding] in (("", "0.0") if sick else ("1.0", "", "0.0"))
    counts = Counter(v for row in rows for v in row[2:])
    assert set(counts) == {"1.0", "0.0", "-1.0", ""} and counts[""] > counts["1.0"]
    metadata = {(row[1], row[2]) for row in mimic_table(mimic, "metadata")[1:]}
    assert set(keys) < metadata                                # some studies have no row


def test_mimic_split_file_is_by_subject_with_all_three_splits(mimic):
    metadata = {row[0]: (row[2], row[1]) for row in mimic_table(mimic, "metadata")[1:]}
    split_of = defaultdict(set)
    for dicom_id, study, subject, split in mimic_table(mimic, "split")[1:]:
        assert metadata.pop(dicom_id) == (study, subject)
        split_of[subject].add(split)
    assert not metadata                                        # every image, once
    assert all(len(splits) == 1 for splits in split_of.values())
    subjects = Counter(s for splits in split_of.values() for s in splits)
    assert subjects.most_common(1)[0][0] == "train"
    assert set().union(*split_of.values()) == {"train", "validate", "test"}


def test_mimic_reader_reads_it_back(mimic):
    index = read_mimic(mimic_text(mimic, "metadata"), labels=mimic_text(mimic, "chexpert"),
                       split=mimic_text(mimic, "split"))
    assert len(index.records) == 40 and not index.rejects and index.classes == MIMIC_CLASSES
    assert {record.path for record in index.records} == {p for p in mimic if p.endswith(".jpg")}
    split_of = defaultdict(set)
    for record in index.records:
        split_of[record.patient_id].add(record.split)
        assert record.view in VIEWS
    assert all(len(splits) == 1 for splits in split_of.values())
    assert set().union(*split_of.values()) == {"train", "val", "test"}
    labelled = {(row[0], row[1]): row[2:] for row in mimic_table(mimic, "chexpert")[1:]}
    study_of = {row[0]: (row[1], row[2]) for row in mimic_table(mimic, "metadata")[1:]}
    kinds = Counter()
    for record in index.records:
        values = labelled.get(study_of[record.image_id])
        kind = "no row" if values is None else "zeros" if set(values) <= {"", "0.0"} else "labelled"
        kinds[kind] += 1
        unlabeled = partitions(record.values, MIMIC_CLASSES, "zeros", "any") == ("Unlabeled",)
        assert unlabeled or kind == "labelled"
    assert kinds["no row"] and kinds["zeros"] and kinds["labelled"] > 30
    assert READERS["mimic"].read(mimic_text(mimic, "metadata"),
                                 labels=mimic_text(mimic, "negbio")).records


def test_mimic_plan_frequencies_are_plausible():
    rows = list(mimic_plan(3000, 7))
    assert list(mimic_plan(50, 7)) == rows[:50]
    subjects = {row.subject: row.split for row in rows}
    splits = Counter(subjects.values())
    assert 0.96 < splits["train"] / len(subjects) < 0.995 and splits["validate"] and splits["test"]
    views = Counter(row.view for row in rows)
    assert 0.01 < views[""] / len(rows) < 0.06 and views["LL"] < views["LATERAL"]
    assert 0.15 < sum(row.lateral for row in rows) / len(rows) < 0.5
    studies = {row.study: row.values for row in rows}
    assert len(studies) == len({(row.subject, row.study) for row in rows})   # ids unique
    missing = sum(values is None for values in studies.values()) / len(studies)
    assert 0.01 < missing < 0.04
    labelled = [values for values in studies.values() if values is not None]
    for position, name in enumerate(MIMIC_CLASSES):          # every class positive somewhere
        assert sum(values[position] == "1.0" for values in labelled) > 10, name
    assert len(rows) / len(subjects) < 4 and len(rows) / len(studies) < 2.5


def test_mimic_rejects_a_too_small_image_size():
    with pytest.raises(ValueError, match="image_size"):
        synth("mimic", 3, 0, image_size=16)


# --- the readers accept what synth writes --------------------------------------------------

def test_readers_read_the_synthetic_layouts(nih, chexpert, folders):
    index = READERS["nih"].read(nih["Data_Entry_2017.csv"].decode(),
                                nih["test_list.txt"].decode())
    assert len(index.records) == 60 and not index.rejects
    index = READERS["chexpert"].read(chexpert["CheXpert-v1.0-small/train.csv"].decode())
    assert len(index.records) == 54 and not index.rejects
    keys = [path.split("/", 1)[1] for path in folders]
    index = READERS["folders"].read(keys)
    assert len(index.records) == 60 and index.classes == ("NORMAL", "PNEUMONIA")


# --- determinism ---------------------------------------------------------------------------

@pytest.mark.parametrize("layout, size", [("nih", 48), ("chexpert", 64), ("folders", 64),
                                          ("mimic", 48)])
def test_same_call_same_bytes_other_seed_other_bytes(layout, size):
    first = synth(layout, 12, 4, image_size=size)
    assert synth(layout, 12, 4, image_size=size) == first
    other = synth(layout, 12, 5, image_size=size)
    shared = set(first) & set(other)
    assert any(first[path] != other[path] for path in shared) or set(first) != set(other)
    assert all(first[p] != other[p] for p in shared if p.endswith((".png", ".jpg", ".jpeg")))


def test_mimic_bytes_follow_seed_and_n_and_the_plan_ignores_image_size():
    first = synth("mimic", 12, 4, image_size=48)
    assert synth("mimic", 12, 4, image_size=48) == first
    other = synth("mimic", 12, 5, image_size=48)
    assert not set(first) & set(other) - {p for p in first if p.endswith(".gz")}
    assert all(first[p] != other[p] for p in first if p.endswith(".gz"))
    larger = synth("mimic", 12, 4, image_size=64)
    assert set(larger) == set(first)
    for name in ("chexpert", "negbio", "split"):
        assert mimic_text(larger, name) == mimic_text(first, name)
    assert mimic_text(larger, "metadata") != mimic_text(first, "metadata")   # Rows, Columns
    longer = synth("mimic", 20, 4, image_size=48)
    assert all(longer[p] == data for p, data in first.items() if p.endswith(".jpg"))


def test_nih_image_i_comes_from_its_own_stream():
    files = synth("nih", 5, 9, image_size=48)
    rows = table(files["Data_Entry_2017.csv"])[1:]
    labels = tuple(rows[3][1].split("|")) if rows[3][1] != NO_FINDING else ()
    expected = render_phantom(np.random.default_rng([9, 3]), (48, 48), labels)
    assert np.array_equal(decode(files[f"images/{rows[3][0]}"]), expected)   # PNG is lossless
    longer = synth("nih", 9, 9, image_size=48)
    assert all(longer[path] == data for path, data in files.items() if path.endswith(".png"))


def test_plans_are_the_same_whatever_n():
    assert list(chexpert_plan(40, 1))[:30] == list(chexpert_plan(100, 1))[:30]
    assert list(folders_plan(10, 1)) == list(folders_plan(30, 1))[:10]


# --- planted findings ----------------------------------------------------------------------

SIZE = 299


def pair(finding, seed):
    """The same chest without and with one finding, as int arrays."""
    normal = render_phantom(np.random.default_rng(seed), (SIZE, SIZE), ())
    sick = render_phantom(np.random.default_rng(seed), (SIZE, SIZE), (finding,))
    return normal.astype(int), sick.astype(int)


def region(image, rows, cols):
    (r0, r1), (c0, c1) = rows, cols
    return image[int(r0 * SIZE):int(r1 * SIZE), int(c0 * SIZE):int(c1 * SIZE)]


# (finding, rows, cols, least change of the region's mean brightness): the heart's band, the
# lung bases, the upper lungs, the retrocardiac base.
EXPECTED = [
    ("Cardiomegaly", (0.5, 0.75), (0.25, 0.85), 8),
    ("Effusion", (0.55, 0.8), (0.1, 0.9), 3),
    ("Consolidation", (0.2, 0.8), (0.1, 0.9), 5),
    ("Edema", (0.3, 0.65), (0.15, 0.85), 5),
    ("Hernia", (0.55, 0.75), (0.4, 0.65), 3),
    ("Pneumothorax", (0.05, 0.5), (0.05, 0.95), -4),
    ("Emphysema", (0.15, 0.8), (0.1, 0.9), -10),
]


@pytest.mark.parametrize("finding, rows, cols, least", EXPECTED)
def test_finding_changes_its_region(finding, rows, cols, least):
    for seed in range(3):
        normal, sick = pair(finding, seed)
        change = region(sick, rows, cols).mean() - region(normal, rows, cols).mean()
        assert change >= least if least > 0 else change <= least, (finding, seed, change)


@pytest.mark.parametrize("finding", list(FINDINGS))
def test_every_finding_is_visible_and_leaves_the_rest_alone(finding):
    normal, sick = pair(finding, 11)
    changed = np.abs(sick - normal) > 10
    assert changed.mean() > 0.0005                     # a nodule at 299 px is ~50 px
    assert (sick == normal).mean() > 0.5               # the same chest underneath


def test_mass_is_one_large_disc_and_nodules_are_small():
    for seed in range(3):
        masses = cv2.connectedComponentsWithStats((np.abs(np.subtract(*pair("Mass", seed)))
                                                   > 25).astype(np.uint8))[2][1:, 4]
        nodules = cv2.connectedComponentsWithStats((np.abs(np.subtract(*pair("Nodule", seed)))
                                                    > 25).astype(np.uint8))[2][1:, 4]
        assert masses.max() > 4 * nodules.max()
        assert 1 <= (nodules > 10).sum() <= 3


def halves(finding, seed):
    normal, sick = pair(finding, seed)
    diff = np.abs(sick - normal)[: int(0.8 * SIZE)]
    return diff[:, : SIZE // 2].sum(), diff[:, SIZE // 2:].sum()


def test_edema_is_bilateral_and_pneumonia_one_sided():
    for seed in range(3):
        left, right = halves("Edema", seed)
        assert 0.4 < left / right < 2.5
        left, right = halves("Pneumonia", seed)
        assert max(left, right) > 5 * min(left, right)


def test_fibrosis_is_finer_than_infiltration():
    def fineness(finding):
        normal, sick = pair(finding, 4)
        diff = (sick - normal).astype(np.float32)
        return np.abs(cv2.Laplacian(diff, cv2.CV_32F)).sum() / np.abs(diff).sum()

    assert fineness("Fibrosis") > 1.5 * fineness("Infiltration")


def test_aliases_draw_what_they_name_and_unknown_names_fail():
    rng = np.random.default_rng
    for alias, key in ALIASES.items():
        expected = render_phantom(rng(2), (96, 96), (key,) if key else ())
        assert np.array_equal(render_phantom(rng(2), (96, 96), (alias,)), expected), alias
    with pytest.raises(ValueError, match="finding 'Cancer'"):
        render_phantom(rng(0), (96, 96), ("Cancer",))


def test_phantom_shapes_views_and_streams():
    rng = np.random.default_rng
    wide = render_phantom(rng(0), (120, 200), ("Mass",))
    assert wide.dtype == np.uint8 and wide.shape == (120, 200)
    lateral = render_phantom(rng(0), (200, 150), (), lateral=True)
    assert lateral.shape == (200, 150) and not np.array_equal(lateral[:, :120], wide[:, :120])
    same = render_phantom(rng(1), (64, 64), ())
    assert np.array_equal(render_phantom(rng(1), (64, 64), ()), same)
    assert not np.array_equal(render_phantom(rng(1), (64, 64), ()),
                              render_phantom(rng(2), (64, 64), ()))
    with pytest.raises(ValueError, match="size"):
        render_phantom(rng(0), (8, 64), ())
