"""Policy resolution and the step clock: pure, no I/O (SLA-1, SLA-3, SLA-4, ESC-1)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from domain.clock import ClockEvent, StepClock
from domain.sla import DEFAULT_POLICY, DEFAULT_RULES, NoPolicy, parse_duration, policy_from_document, resolve

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("step", "variant", "target"),
    [
        ("first_response", "*", timedelta(minutes=5)),
        ("needs_analysis", "*", timedelta(hours=24)),
        ("proposal", "*", timedelta(hours=48)),
        ("proposal", "complex", timedelta(hours=72)),
        ("follow_up", "*", timedelta(days=3)),
    ],
)
def test_presales_defaults_match_the_manual(step, variant, target):
    rule = resolve(
        DEFAULT_RULES, process="presales", step=step, severity="urgent_high", tier="vip", variant=variant
    )
    assert rule.target == target
    assert rule.source.startswith("PS-")


def test_most_specific_rule_wins_and_unknown_step_has_no_policy():
    doc = {"rules": [{"process": "presales", "step": "first_response", "tier": "vip", "target": "2m"}]}
    rules = policy_from_document(doc, DEFAULT_RULES).rules
    assert resolve(rules, process="presales", step="first_response", tier="vip").target == timedelta(
        minutes=2
    )
    assert resolve(rules, process="presales", step="first_response", tier="key").target == timedelta(
        minutes=5
    )
    with pytest.raises(NoPolicy):
        resolve(rules, process="complaint", step="first_response")


def test_policy_file_overrides_defaults_with_seconds_and_gets_its_own_version():
    doc = json.loads(
        '{"defaults": {"warn_at": 0.5, "chain": [{"role": "supervisor", "after": "0s"}]},'
        ' "rules": [{"process": "presales", "step": "first_response", "target": "10s"}]}'
    )
    policy = policy_from_document(doc, DEFAULT_RULES)
    rule = resolve(policy.rules, process="presales", step="first_response")
    assert rule.target == timedelta(seconds=10) and rule.warn_at == 0.5
    assert policy.version != DEFAULT_POLICY.version


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"target": "-5m"}, "not a duration"),
        ({"target": "0s"}, "target must be positive"),
        ({"target": "5m", "warn_at": 1.2}, "less than 1"),
        ({}, "target"),
        ({"target": "5m", "severity": "apocalyptic"}, "apocalyptic"),
    ],
)
def test_invalid_policy_rules_are_refused_with_a_clear_message(raw, message):
    with pytest.raises(ValidationError) as err:
        policy_from_document(
            {"rules": [{"process": "presales", "step": "first_response", **raw}]}, DEFAULT_RULES
        )
    assert message in str(err.value)


def test_durations_read_the_way_people_write_them():
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("3d") == timedelta(days=3)
    assert parse_duration("PT4H") == timedelta(hours=4)
    assert parse_duration(30) == timedelta(seconds=30)


def test_sla4_clock_warns_at_the_fraction_then_breaches_then_climbs_the_chain():
    clock = StepClock(T0, timedelta(minutes=5), 0.8, [timedelta(0), timedelta(hours=4)])
    assert clock.next_event() == (ClockEvent.WARNING, T0 + timedelta(minutes=4))
    clock.fire(ClockEvent.WARNING, T0 + timedelta(minutes=4))
    assert clock.next_event() == (ClockEvent.BREACH, T0 + timedelta(minutes=5))
    assert clock.fire(ClockEvent.BREACH, T0 + timedelta(minutes=5)) == [0]
    assert clock.next_event() == (ClockEvent.ESCALATE, T0 + timedelta(hours=4, minutes=5))
    assert clock.fire(ClockEvent.ESCALATE, T0 + timedelta(hours=4, minutes=5)) == [1]
    assert clock.next_event() is None and clock.state() == "breached"


def test_sla3_pause_stops_the_clock_and_the_remaining_time_survives():
    clock = StepClock(T0, timedelta(minutes=10), 0.8, [timedelta(0)])
    clock.pause(T0 + timedelta(minutes=3))
    assert clock.state() == "paused" and clock.next_event() is None
    # While paused the deadline moves with the clock.
    assert clock.due_at(T0 + timedelta(hours=1)) == T0 + timedelta(hours=1, minutes=7)
    assert clock.resume(T0 + timedelta(hours=2)) == timedelta(hours=1, minutes=57)
    # 7 minutes were left when it paused; 7 minutes are left after it resumes.
    assert clock.due_at() == T0 + timedelta(hours=2, minutes=7)
    assert clock.next_event() == (ClockEvent.WARNING, T0 + timedelta(hours=2, minutes=5))


def test_esc1_chain_rungs_due_together_are_told_together():
    clock = StepClock(T0, timedelta(minutes=5), 0.8, [timedelta(0), timedelta(0), timedelta(hours=1)])
    assert clock.fire(ClockEvent.BREACH, T0 + timedelta(minutes=5)) == [0, 1]
    assert clock.levels_fired == 2


def test_the_documented_seconds_policy_example_is_valid():
    from pathlib import Path

    path = Path(__file__).parents[2] / "docs" / "examples" / "sla-seconds.json"
    policy = policy_from_document(json.loads(path.read_text(encoding="utf-8")), DEFAULT_RULES)
    assert resolve(policy.rules, process="presales", step="first_response").target == timedelta(seconds=20)
