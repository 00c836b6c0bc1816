"""Policy resolution and the step clock: pure, no I/O (SLA-1..4, ESC-1, T-5, COM-1)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from domain.calendar import STANDARD_WEEK, BusinessCalendar
from domain.clock import ClockEvent, StepClock
from domain.sla import (
    ANY,
    DEFAULT_RULES,
    PROCESS_STEPS,
    NoPolicy,
    check_policy,
    parse_duration,
    resolve,
    rules_from_document,
)

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
CALENDARS = {"24x7", "cn-standard"}


@pytest.mark.parametrize(
    ("process", "step", "key", "target"),
    [
        ("presales", "first_response", {}, "5m"),
        ("presales", "first_response", {"channel": "email"}, "2h"),  # COM-1
        ("presales", "needs_analysis", {}, "24h"),
        ("presales", "proposal", {"variant": "complex"}, "72h"),
        ("presales", "follow_up", {}, "3d"),
        ("order_followup", "order_confirmation", {}, "2h"),  # OF-1
        ("order_followup", "order_doubt", {}, "30m"),
        ("order_followup", "exception_response", {}, "1h"),  # OF-3
        ("order_followup", "exception_resolution", {}, "4h"),
        ("order_followup", "delivery_satisfaction", {}, "24h"),  # OF-4
        ("aftersales", "issue_response", {"severity": "urgent"}, "30m"),  # AS-1
        ("aftersales", "issue_response", {"severity": "routine"}, "2h"),
        ("aftersales", "issue_response", {"variant": "fault"}, "5m"),  # AS-5 (000)
        ("aftersales", "issue_response", {"variant": "consultation"}, "10m"),
        ("aftersales", "dispatch", {}, "10m"),  # AS-2
        ("aftersales", "tech_contact", {"severity": "urgent"}, "30m"),
        ("aftersales", "onsite_visit", {}, "24h"),  # AS-3
        ("aftersales", "resolution", {"variant": "complex"}, "72h"),
        ("aftersales", "resolution", {"variant": "fault"}, "48h"),
        ("aftersales", "satisfaction_callback", {}, "48h"),  # AS-4
        ("complaint", "complaint_contact", {}, "5m"),  # CP-1
        ("complaint", "calming_contact", {"severity": "serious"}, "30m"),
        ("complaint", "investigation", {"severity": "serious"}, "24h"),  # CP-2
        ("complaint", "investigation", {"severity": "major"}, "48h"),
        ("complaint", "remedy_plan", {"severity": "general"}, "24h"),  # CP-3
        ("complaint", "remedy_plan", {"severity": "major"}, "48h"),
        ("complaint", "second_callback", {"severity": "major"}, "3d"),  # CP-4
        ("value_push", "effect_window", {}, "3d"),  # VP-3
        ("aftersales", "handoff", {"variant": "warehouse"}, "2h"),  # AS-5 cross-department
    ],
)
def test_sla1_seeded_targets_match_the_manuals(process, step, key, target):
    rule = resolve(DEFAULT_RULES, process=process, step=step, **key)
    assert rule.target == parse_duration(target)
    assert rule.source  # every seeded row says where it comes from


def test_sla1_every_seeded_rule_resolves_for_its_own_key_and_every_step_has_a_target():
    assert check_policy(DEFAULT_RULES, CALENDARS) == []
    for rule in DEFAULT_RULES:
        if rule.kind != "target":
            continue
        process = rule.process if rule.process != ANY else "aftersales"
        got = resolve(
            DEFAULT_RULES,
            process=process,
            step=rule.step,
            severity=rule.severity,
            tier=rule.tier,
            channel=rule.channel,
            variant=rule.variant,
        )
        assert (
            got.target is not None and got.target <= rule.target
        )  # itself, or a stricter tie / tier ceiling
    for process, steps in PROCESS_STEPS.items():
        for step in steps:
            for tier in ("vip", "key", "normal", "watch"):
                resolve(
                    DEFAULT_RULES, process=process if process != ANY else "complaint", step=step, tier=tier
                )


def test_t5_tier_ceilings_only_make_targets_stricter():
    vip = resolve(DEFAULT_RULES, process="aftersales", step="resolution", tier="vip")
    assert vip.target == timedelta(hours=4) and vip.off_hours_target == timedelta(hours=2)
    assert vip.calendar == "24x7" and "T-5" in vip.source
    key = resolve(DEFAULT_RULES, process="complaint", step="remedy_plan", severity="major", tier="key")
    assert key.target == timedelta(hours=24)  # 48 h for a major complaint, 24 h for a key customer
    # A normal-tier response ceiling of 24 h never loosens the 2 h after-sales response.
    assert resolve(
        DEFAULT_RULES, process="aftersales", step="issue_response", tier="normal"
    ).target == timedelta(hours=2)
    # VIP responses run on the 24-hour line.
    assert resolve(DEFAULT_RULES, process="presales", step="first_response", tier="vip").calendar == "24x7"
    assert (
        resolve(DEFAULT_RULES, process="presales", step="first_response", tier="key").calendar
        == "cn-standard"
    )


def test_sla1_equally_specific_rules_tie_to_the_stricter_target():
    rule = resolve(
        DEFAULT_RULES, process="aftersales", step="issue_response", severity="urgent", variant="fault"
    )
    assert rule.target == timedelta(minutes=5)


def test_sla1_overrides_replace_by_key_and_unknown_step_has_no_policy():
    doc = {"rules": [{"process": "presales", "step": "first_response", "tier": "vip", "target": "2m"}]}
    rules = rules_from_document(doc, DEFAULT_RULES)
    assert resolve(rules, process="presales", step="first_response", tier="vip").target == timedelta(
        minutes=2
    )
    assert resolve(rules, process="presales", step="first_response", tier="key").target == timedelta(
        minutes=5
    )
    with pytest.raises(NoPolicy):
        resolve(rules, process="complaint", step="first_response")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"target": "-5m"}, "not a duration"),
        ({"target": "0s"}, "target must be positive"),
        ({"target": "5m", "warn_at": 1.2}, "the warning must come before the breach"),
        ({"target": "5m", "warn_at": 0}, "the warning must come before the breach"),
        ({}, "a target rule needs a target"),
        ({"target": "5m", "severity": "apocalyptic"}, "apocalyptic"),
        (
            {
                "target": "5m",
                "chain": [{"role": "director", "after": "4h"}, {"role": "supervisor", "after": "0s"}],
            },
            "in order of their delay",
        ),
    ],
)
def test_sla1_invalid_rules_are_refused_with_a_clear_message(raw, message):
    with pytest.raises(ValidationError) as err:
        rules_from_document(
            {"rules": [{"process": "presales", "step": "first_response", **raw}]}, DEFAULT_RULES
        )
    assert message in str(err.value)


def test_sla1_a_policy_without_a_step_target_or_with_an_unknown_calendar_is_refused():
    without = [r for r in DEFAULT_RULES if r.step != "dispatch"]
    assert check_policy(without, CALENDARS) == [
        "aftersales/dispatch: no catch-all target (severity, tier, channel, variant all '*')"
    ]
    odd = rules_from_document(
        {"rules": [{"process": "presales", "step": "follow_up", "target": "3d", "calendar": "mars"}]},
        DEFAULT_RULES,
    )
    assert any("unknown calendar 'mars'" in p for p in check_policy(odd, CALENDARS))


def test_the_documented_seconds_policy_example_is_valid():
    path = Path(__file__).parents[2] / "docs" / "examples" / "sla-seconds.json"
    rules = rules_from_document(json.loads(path.read_text(encoding="utf-8")), DEFAULT_RULES)
    assert check_policy(rules, CALENDARS) == []
    for channel in ("online_chat", "web_form", "phone"):
        assert resolve(rules, process="presales", step="first_response", channel=channel).target == timedelta(
            seconds=20
        )


def test_durations_read_the_way_people_write_them():
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("3d") == timedelta(days=3)
    assert parse_duration("PT4H") == timedelta(hours=4)
    assert parse_duration(30) == timedelta(seconds=30)


# -- the clock ---------------------------------------------------------------------------------------------------


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
    assert clock.state() == "paused" and clock.next_event() is None and clock.due_at() is None
    assert clock.resume(T0 + timedelta(hours=2)) == timedelta(hours=2, minutes=-3)
    # 7 minutes were left when it paused; 7 minutes are left after it resumes.
    assert clock.due_at() == T0 + timedelta(hours=2, minutes=7)
    assert clock.next_event() == (ClockEvent.WARNING, T0 + timedelta(hours=2, minutes=5))


SHANGHAI_OFFICE = BusinessCalendar(
    name="office",
    week=STANDARD_WEEK,
    holidays=[date(2026, 4, 4), date(2026, 4, 5), date(2026, 4, 6)],
    years=[2026],
)


def cst(*args: int) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime(*args, tzinfo=ZoneInfo("Asia/Shanghai"))


def test_sla2_clock_counts_office_time_across_a_holiday_weekend():
    # Friday 17:50 before Qingming (4/4–4/6): 30 working minutes end Tuesday 09:20.
    clock = StepClock(
        cst(2026, 4, 3, 17, 50),
        timedelta(minutes=30),
        0.8,
        [timedelta(0), timedelta(hours=4)],
        calendar=SHANGHAI_OFFICE,
    )
    assert clock.due_at() == cst(2026, 4, 7, 9, 20)
    assert clock.warn_at() == cst(2026, 4, 7, 9, 14)  # 24 of the 30 minutes used
    clock.fire(ClockEvent.WARNING, cst(2026, 4, 7, 9, 14))
    clock.fire(ClockEvent.BREACH, cst(2026, 4, 7, 9, 20))
    # The director's rung is 4 working hours after the breach, over the lunch break.
    assert clock.next_event() == (ClockEvent.ESCALATE, cst(2026, 4, 7, 14, 20))


def test_sla3_pause_on_a_business_calendar_keeps_the_working_time_left():
    clock = StepClock(cst(2026, 4, 3, 17, 0), timedelta(hours=2), 0.8, [], calendar=SHANGHAI_OFFICE)
    clock.pause(cst(2026, 4, 3, 17, 30))  # 30 working minutes used, 90 left
    assert clock.consumed == timedelta(minutes=30) and clock.due_at() is None
    clock.resume(cst(2026, 4, 7, 11, 0))  # the customer answers on Tuesday at 11:00
    assert clock.due_at() == cst(2026, 4, 7, 13, 30)  # 60 minutes before lunch, 30 after


def test_esc1_chain_rungs_due_together_are_told_together():
    clock = StepClock(T0, timedelta(minutes=5), 0.8, [timedelta(0), timedelta(0), timedelta(hours=1)])
    assert clock.fire(ClockEvent.BREACH, T0 + timedelta(minutes=5)) == [0, 1]
    assert clock.levels_fired == 2
