"""The driver's phase timings and the sharing that keeps a million-row plan small."""

from __future__ import annotations

import logging

import pytest

from cxrpipe import phases
from cxrpipe.index import READERS
from cxrpipe.preprocessing.plan import PlanOptions, build_plan
from cxrpipe.synth.layouts import NIH_HEADER, _csv, nih_plan


def test_a_phase_is_recorded_and_logged_even_when_it_raises(caplog):
    caplog.set_level(logging.INFO, logger="cxrpipe.phases")
    with pytest.raises(RuntimeError):
        with phases.phase("unit-failing", "spark"):
            raise RuntimeError("boom")
    span = [s for s in phases.recorded() if s.name == "unit-failing"][-1]
    assert span.where == "spark" and span.end >= span.start and span.seconds == span.end - span.start
    assert "spark phase unit-failing:" in caplog.text


def test_rows_with_equal_labels_views_and_patients_share_one_object_each():
    text = _csv(NIH_HEADER, [r.fields() for r in nih_plan(400, 3)]).decode()
    index = READERS["nih"].read(text)
    plan = build_plan(index, PlanOptions())
    records = index.records
    by_value = {}
    for record in records:
        assert by_value.setdefault(record.values, record.values) is record.values
        assert by_value.setdefault(record.view, record.view) is record.view
    items = [item for task in plan.tasks for item in task]
    distinct = {id(item.multi_hot) for item in items}
    assert len(distinct) == len({item.multi_hot for item in items}) < len(items) / 4
    same_patient = [r for r in records if r.patient_id == records[0].patient_id]
    assert all(r.patient_id is records[0].patient_id for r in same_patient)
    assert not hasattr(records[0], "__dict__") and not hasattr(items[0], "__dict__")  # slots
