"""Patient-level deterministic splits."""

import random
from collections import Counter, defaultdict

import pytest

from cxrpipe.index import Record
from cxrpipe.splits import SPLITS, assign_split, parse_fractions, split_records

FRACTIONS = (0.7, 0.1, 0.2)


def synthetic(n_patients, first=0, fixed=None):
    """Patients p{first}..: patient i has 1 + i % 5 images (3 on average)."""
    return [Record(f"p{i}_{k:03d}.png", f"p{i}_{k:03d}.png", f"p{i}", (0,),
                   split=fixed(i) if fixed else None)
            for i in range(first, first + n_patients) for k in range(1 + i % 5)]


RECORDS = synthetic(5000)


def test_parse_fractions():
    assert SPLITS == ("train", "val", "test")
    assert parse_fractions("0.7,0.1,0.2") == (0.7, 0.1, 0.2)
    assert parse_fractions(" 0.8, 0.2, 0 ") == (0.8, 0.2, 0.0)
    assert parse_fractions("0.3333333,0.3333333,0.3333334") == (0.3333333, 0.3333333, 0.3333334)


@pytest.mark.parametrize("text", ["0.7,0.2", "0.7,0.2,0.2", "1.2,-0.2,0", "a,b,c", "", "nan,0,1",
                                  "0.5,0.25,0.25,0"])
def test_parse_fractions_rejects(text):
    with pytest.raises(ValueError) as error:
        parse_fractions(text)
    message = str(error.value)
    assert message.startswith("--split: expected three non-negative fractions")
    assert f"got {text!r}" in message


def test_assign_split_degenerate_fractions():
    patients = [f"p{i}" for i in range(200)]
    assert {assign_split(p, (1.0, 0.0, 0.0), 0) for p in patients} == {"train"}
    assert {assign_split(p, (0.0, 0.0, 1.0), 0) for p in patients} == {"test"}
    # A sum a hair under 1 still gives every patient a non-empty split.
    assert {assign_split(p, (0.5, 0.0, 0.4999999), 0) for p in patients} == {"train", "test"}


def test_no_patient_in_two_splits_and_fractions_hold():
    splits = split_records(RECORDS, FRACTIONS, seed=7)
    assert set(splits) == {r.image_id for r in RECORDS}
    by_patient = defaultdict(set)
    for record in RECORDS:
        by_patient[record.patient_id].add(splits[record.image_id])
    assert all(len(found) == 1 for found in by_patient.values())
    counts = Counter(splits.values())
    for split, wanted in zip(SPLITS, FRACTIONS):
        assert abs(counts[split] / len(RECORDS) - wanted) <= 0.03, (split, counts)


def test_assignment_stable_under_shuffle_and_new_rows():
    before = split_records(RECORDS, FRACTIONS, seed=7)
    grown = RECORDS + synthetic(1000, first=5000) + [
        Record("p3_999.png", "p3_999.png", "p3", (0,))]  # a new image of an old patient
    random.Random(1).shuffle(grown)
    after = split_records(grown, FRACTIONS, seed=7)
    assert {image: after[image] for image in before} == before
    assert after["p3_999.png"] == before["p3_000.png"]


def test_another_seed_changes_the_assignment():
    first = split_records(RECORDS, FRACTIONS, seed=7)
    second = split_records(RECORDS, FRACTIONS, seed=8)
    changed = sum(first[image] != second[image] for image in first)
    # Independent draws agree with probability 0.7²+0.1²+0.2² = 0.54.
    assert 0.35 < changed / len(first) < 0.55


def test_fixed_test_split_divides_the_rest_into_train_and_val():
    records = synthetic(4000, fixed=lambda i: "test" if i % 4 == 0 else None)
    splits = split_records(records, FRACTIONS, seed=3)
    fixed = [r for r in records if r.split == "test"]
    free = [r for r in records if r.split is None]
    assert {splits[r.image_id] for r in fixed} == {"test"}
    counts = Counter(splits[r.image_id] for r in free)
    assert set(counts) == {"train", "val"}
    assert abs(counts["train"] / len(free) - 0.7 / 0.8) <= 0.03, counts


def test_patient_on_both_sides_of_an_official_split_is_an_error_not_a_move():
    # NIH's test_list.txt and CheXpert's valid.csv are by patient: a patient with images in the
    # official split and outside it is a broken index, named, never silently moved.
    records = [
        Record("a.png", "a.png", "p1", (0,), split="val"),
        Record("b.png", "b.png", "p1", (0,)),
        Record("c.png", "c.png", "p2", (0,), split="train"),
    ]
    with pytest.raises(ValueError) as error:
        split_records(records, FRACTIONS, seed=0)
    message = str(error.value)
    assert message.startswith("patient 'p1'")
    assert "'a.png' fixed to val and 'b.png' outside that official split" in message


def test_patient_fixed_to_two_splits_is_an_error():
    records = [
        Record("train/PNEUMONIA/person1_bacteria_1.jpeg", "x", "person1", (0, 1), split="train"),
        Record("test/PNEUMONIA/person1_virus_6.jpeg", "y", "person1", (0, 1), split="test"),
    ]
    with pytest.raises(ValueError) as error:
        split_records(records, FRACTIONS, seed=0)
    message = str(error.value)
    assert message.startswith("patient 'person1'")
    assert "'train/PNEUMONIA/person1_bacteria_1.jpeg' fixed to train" in message
    assert "'test/PNEUMONIA/person1_virus_6.jpeg' fixed to test" in message


def test_no_room_for_free_records():
    records = [Record("a.png", "a.png", "p1", (0,), split="test"),
               Record("b.png", "b.png", "p2", (0,))]
    with pytest.raises(ValueError, match="--split: expected a non-zero fraction"):
        split_records(records, (0.0, 0.0, 1.0), seed=0)


def test_unknown_fixed_split_is_an_error():
    records = [Record("a.png", "a.png", "p1", (0,), split="holdout")]
    with pytest.raises(ValueError, match="'a.png', field 'split': expected one of train, val, "
                                         "test or None, got 'holdout'"):
        split_records(records, FRACTIONS, seed=0)
