"""Every form the staff see is in Chinese: each action, field and choice of every process has a zh-CN label."""

from __future__ import annotations

import pytest

from api.web.forms import widgets
from domain.i18n import LABELS
from workflows.registry import PROCESSES


@pytest.mark.parametrize("process", list(PROCESSES))
def test_every_action_field_and_choice_has_a_chinese_label(process):
    definition = PROCESSES[process]
    unlabelled = [a.name for a in definition.actions if a.name not in LABELS["zh-CN"]]
    for model in (definition.intake_model, *(a.model for a in definition.actions)):
        for w in widgets(model):
            if w.label == w.name:
                unlabelled.append(f"{model.__name__}.{w.name}")
            unlabelled += [f"{model.__name__}.{w.name}={v}" for v, text in w.options if v and text == v]
    assert unlabelled == []


def test_a_word_with_two_meanings_gets_the_label_of_its_place():
    from domain.actions import HandOff
    from domain.order_followup import StaffOrderEvent

    department = next(w for w in widgets(HandOff) if w.name == "department")
    assert ("product", "产品部") in department.options
    event = {w.name: w.label for w in widgets(StaffOrderEvent)}
    assert event["type"] == "事件类型" and event["kind"] == "异常类型"
