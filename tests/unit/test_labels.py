"""Label policy: class lists, uncertainty resolution, membership, class filters."""

import pytest

from cxrpipe.labels import (
    CHEXPERT_CLASSES, MEMBERSHIPS, NIH_CLASSES, UNCERTAIN_POLICIES, class_dirname, multi_hot,
    check_class_names, partitions, resolve_classes, positives, resolve, uncertain_mask,
)

# A small made-up dataset with No Finding, to hand-compute against.
CLASSES = ("No Finding", "Edema", "Pleural Effusion", "Fracture")


def test_class_lists_are_the_published_ones():
    assert NIH_CLASSES == (
        "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule",
        "Pneumonia", "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis",
        "Pleural_Thickening", "Hernia", "No Finding")
    header = ("Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding,Enlarged Cardiomediastinum,"
              "Cardiomegaly,Lung Opacity,Lung Lesion,Edema,Consolidation,Pneumonia,Atelectasis,"
              "Pneumothorax,Pleural Effusion,Pleural Other,Fracture,Support Devices")
    assert CHEXPERT_CLASSES == tuple(header.split(",")[5:])
    assert UNCERTAIN_POLICIES == ("ones", "zeros", "ignore")
    assert MEMBERSHIPS == ("any", "exclusive")


@pytest.mark.parametrize("policy, expected", [
    ("ones", (1, 0, 1, 0)),
    ("zeros", (1, 0, 0, 0)),
    ("ignore", (1, 0, 0, 0)),
])
def test_resolve(policy, expected):
    assert resolve((1, 0, -1, 0), policy) == expected


def test_resolve_rejects_unknown_policy_and_values():
    with pytest.raises(ValueError,
                       match=r"--uncertain: expected one of ones, zeros, ignore, got 'maybe'"):
        resolve((1,), "maybe")
    with pytest.raises(ValueError, match=r"position 1: expected 1, 0 or -1, got 2"):
        resolve((1, 2), "zeros")


def test_uncertain_mask():
    assert uncertain_mask((1, -1, 0, -1)) == (0, 1, 0, 1)


@pytest.mark.parametrize("values, policy, expected", [
    ((0, 1, 0, 1), "zeros", ("Edema", "Fracture")),
    ((0, 0, -1, 0), "zeros", ()),                    # uncertain only: nothing positive, nothing invented
    ((0, 0, -1, 0), "ignore", ()),
    ((0, 0, -1, 0), "ones", ("Pleural Effusion",)),
    ((0, 0, 0, 0), "zeros", ()),                     # all 0.0, No Finding included (real valid.csv rows)
    ((1, 0, 0, 0), "zeros", ("No Finding",)),        # only where the source says so
    ((1, 0, 0, 1), "zeros", ("No Finding", "Fracture")),  # CheXpert allows both
])
def test_positives_and_multi_hot(values, policy, expected):
    assert positives(values, CLASSES, policy) == expected
    assert multi_hot(values, CLASSES, policy) == tuple(int(c in expected) for c in CLASSES)


def test_positives_without_a_no_finding_class_is_empty():
    assert positives((0, 0), ("NORMAL", "PNEUMONIA"), "zeros") == ()
    assert multi_hot((0, 0), ("NORMAL", "PNEUMONIA"), "zeros") == (0, 0)


def test_positives_rejects_wrong_length():
    with pytest.raises(ValueError, match="expected 4 .one per class., got 3"):
        positives((0, 0, 0), CLASSES, "zeros")


# Hand-computed: (values, policy) -> (any, exclusive).
MEMBERSHIP_CASES = [
    ((0, 1, 0, 0), "zeros", ("Edema",), ("Edema",)),
    ((0, 1, 0, 1), "zeros", ("Edema", "Fracture"), ()),
    ((0, 1, -1, 0), "zeros", ("Edema",), ()),                    # another class uncertain
    ((0, 1, -1, 0), "ones", ("Edema", "Pleural Effusion"), ()),
    ((0, 0, -1, 0), "ones", ("Pleural Effusion",), ("Pleural Effusion",)),
    ((0, 0, 0, 0), "zeros", ("Unlabeled",), ("Unlabeled",)),     # no class positive: not "No Finding"
    ((0, 0, -1, 0), "zeros", ("Unlabeled",), ()),                # uncertain: not a pure set
    ((0, 0, -1, 0), "ignore", ("Unlabeled",), ()),
    ((1, 0, 0, 0), "zeros", ("No Finding",), ("No Finding",)),
    ((1, 0, 0, 1), "zeros", ("No Finding", "Fracture"), ()),
]


@pytest.mark.parametrize("values, policy, any_expected, exclusive_expected", MEMBERSHIP_CASES)
def test_partitions_membership(values, policy, any_expected, exclusive_expected):
    assert partitions(values, CLASSES, policy, "any") == any_expected
    assert partitions(values, CLASSES, policy, "exclusive") == exclusive_expected


def test_partitions_restricted_to_selected_keeps_class_order():
    values = (0, 1, 1, 1)
    assert partitions(values, CLASSES, "zeros", "any", ("Fracture", "Edema")) == (
        "Edema", "Fracture")
    assert partitions(values, CLASSES, "zeros", "any", ("Pleural Effusion",)) == (
        "Pleural Effusion",)
    assert partitions(values, CLASSES, "zeros", "any", ("No Finding",)) == ()
    assert partitions((0, 0, 0, 0), CLASSES, "zeros", "any", ("Unlabeled",)) == ("Unlabeled",)
    assert partitions((0, 0, 0, 0), CLASSES, "zeros", "any", ("No Finding",)) == ()


def test_partitions_nih_row():
    # NIH "Effusion|Mass": positions 2 and 4.
    values = tuple(int(i in (2, 4)) for i in range(15))
    assert partitions(values, NIH_CLASSES, "zeros", "any") == ("Effusion", "Mass")
    assert partitions(values, NIH_CLASSES, "zeros", "exclusive") == ()


def test_partitions_rejects_bad_membership_and_unknown_selection():
    with pytest.raises(ValueError, match="--membership: expected one of any, exclusive, got 'all'"):
        partitions((0, 0, 0, 0), CLASSES, "zeros", "all")
    with pytest.raises(ValueError, match="unknown Mass"):
        partitions((0, 0, 0, 0), CLASSES, "zeros", "any", ("Mass",))


def test_resolve_classes_takes_names_as_the_dataset_spells_them():
    assert resolve_classes(None, CHEXPERT_CLASSES) is None
    assert resolve_classes("Pleural Effusion, No Finding,Edema", CHEXPERT_CLASSES) == (
        "No Finding", "Edema", "Pleural Effusion")
    assert resolve_classes("Pleural_Thickening,Hernia,Hernia", NIH_CLASSES) == (
        "Pleural_Thickening", "Hernia")
    assert resolve_classes("NORMAL", ("NORMAL", "PNEUMONIA")) == ("NORMAL",)
    assert resolve_classes(("Unlabeled", "Edema"), CHEXPERT_CLASSES) == ("Edema", "Unlabeled")


@pytest.mark.parametrize("text, classes, hint", [
    ("normal", ("NORMAL", "PNEUMONIA"), "'normal': did you mean 'NORMAL'?"),
    ("No_Finding", CHEXPERT_CLASSES, "'No_Finding': did you mean 'No Finding'?"),
    ("pleural thickening", NIH_CLASSES, "did you mean 'Pleural_Thickening'?"),
    ("Effusion,Tumour", NIH_CLASSES, "'Tumour' is unknown"),
])
def test_resolve_classes_refuses_near_misses_with_a_hint(text, classes, hint):
    with pytest.raises(ValueError) as error:
        resolve_classes(text, classes)
    message = str(error.value)
    assert hint in message and message.startswith("--classes: expected")
    assert ", ".join(classes) in message


def test_resolve_classes_empty_and_unlabeled_for_the_trainer():
    with pytest.raises(ValueError, match="--classes"):
        resolve_classes(" , ", NIH_CLASSES)
    with pytest.raises(ValueError, match="'Unlabeled' is not a class"):
        resolve_classes("Unlabeled", NIH_CLASSES, allow_unlabeled=False)


@pytest.mark.parametrize("classes, fragment", [
    (("A B", "A_B"), "both would be written to 'A_B'"),
    (("NORMAL", "Unlabeled"), "any name but 'Unlabeled'"),
])
def test_check_class_names_refuses_partitions_that_share_a_folder(classes, fragment):
    with pytest.raises(ValueError, match=fragment):
        check_class_names(classes)
    check_class_names(("NORMAL", "PNEUMONIA"))


def test_class_dirname():
    assert class_dirname("No Finding") == "No_Finding"
    assert class_dirname("Pleural_Thickening") == "Pleural_Thickening"
    assert class_dirname("Enlarged Cardiomediastinum") == "Enlarged_Cardiomediastinum"
