"""Which classes `predict --explain` draws, and names that map each PNG back to its row."""

from __future__ import annotations

import csv
import io

import pytest

from cxrpipe.predict import explain

CLASSES = ("Cardiomegaly", "Effusion", "Mass", "No Finding")


def test_auto_explains_the_positive_findings_else_the_most_probable():
    thresholds = (0.5, 0.5, 0.3, None)
    assert explain.chosen("auto", CLASSES, (0.9, 0.1, 0.4, 0.99), thresholds) == [0, 2]
    # No call made (No Finding has no threshold): the most probable class, whichever it is.
    assert explain.chosen("auto", CLASSES, (0.1, 0.2, 0.1, 0.99), thresholds) == [3]
    assert explain.chosen("auto", CLASSES, (0.1, 0.7, 0.2, 0.3), None) == [1]


def test_all_and_named_classes():
    assert explain.chosen("all", CLASSES, (0, 0, 0, 0), None) == [0, 1, 2, 3]
    choice = explain.parse_choice("Mass,Cardiomegaly", CLASSES)
    assert choice == ("Cardiomegaly", "Mass")
    assert explain.chosen(choice, CLASSES, (0, 0, 0, 0), None) == [0, 2]
    assert explain.parse_choice("auto", CLASSES) == "auto"
    with pytest.raises(ValueError, match="^--explain-classes: .*Nodule"):
        explain.parse_choice("Nodule", CLASSES)


def test_heatmap_names_lead_with_the_row_and_are_file_safe():
    a = explain.heatmap_name(3, "/data/site a/00000001_000.png", "No Finding")
    b = explain.heatmap_name(4, "s3://bucket/site-b/00000001_000.png", "No Finding")
    assert a == "000003-00000001_000-No_Finding.png"
    assert b.startswith("000004-") and a != b
    assert explain.heatmap_name(0, "/x/..dcm", "Mass") == "000000-image-Mass.png"


def test_index_csv_lists_every_png():
    entries = [{"heatmap": "000000-a-Mass.png", "row": 0, "input": "/a.png", "class": "Mass",
                "probability": 0.7, "positive": True}]
    rows = list(csv.DictReader(io.StringIO(explain.index_csv(entries).decode())))
    assert rows == [{"heatmap": "000000-a-Mass.png", "row": "0", "input": "/a.png", "class": "Mass",
                     "probability": "0.7", "positive": "True"}]
