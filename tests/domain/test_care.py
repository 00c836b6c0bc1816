"""The journey's date arithmetic and the care policy seed (R-3, R-4, R-7), without a clock."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from domain import care as c
from domain.models import Process, Step, Tier
from domain.sla import DEFAULT_RULES, seed_rules_for_new_steps


def facts(**kw) -> c.CustomerFacts:
    return c.CustomerFacts(
        **{
            "customer_id": 1,
            "name": "甲",
            "tier": Tier.NORMAL,
            "created_at": datetime(2025, 1, 1, tzinfo=c.CST),
            **kw,
        }
    )


NOW = datetime(2026, 3, 1, 12, 0, tzinfo=c.CST)


def test_r3_renewal_is_due_thirty_days_before_the_contract_ends_at_nine():
    [renewal] = c.planned(facts(contract_end=date(2026, 5, 10)), c.JourneyState(), NOW)
    assert renewal.key == "renewal:2026-05-10" and renewal.at == datetime(2026, 4, 10, 9, tzinfo=c.CST)
    # An ended contract has no reminder; a handled one none again.
    assert c.planned(facts(contract_end=date(2026, 2, 1)), c.JourneyState(), NOW) == []
    done = c.JourneyState(done=["renewal:2026-05-10"])
    assert c.planned(facts(contract_end=date(2026, 5, 10)), done, NOW) == []


def test_r4_birthdays_anniversaries_and_years_of_partnership():
    found = c.planned(
        facts(birthday=date(1992, 2, 29), anniversary=date(2016, 3, 1)),
        c.JourneyState(first_purchase_at=datetime(2024, 6, 30, 15, tzinfo=c.CST)),
        NOW,
    )
    assert [(p.key, p.at.astimezone(c.CST).date(), p.detail) for p in found] == [
        ("anniversary:2026", date(2026, 3, 1), "10"),  # today, 09:00 has passed: due now
        ("partnership:2", date(2026, 6, 30), "2"),
        ("birthday:2027", date(2027, 2, 28), ""),  # 29 February kept on 28 February in other years
    ]
    # A first purchase today: the first year of partnership comes a year later.
    [first] = c.planned(facts(), c.JourneyState(first_purchase_at=NOW), NOW)
    assert first.key == "partnership:1" and first.at.astimezone(c.CST).date() == date(2027, 3, 1)


def test_r7_only_a_watch_customer_goes_quiet():
    last = NOW - timedelta(days=10)
    state = c.JourneyState(last_purchase_at=last)
    assert c.planned(facts(tier=Tier.NORMAL), state, NOW) == []
    [quiet] = c.planned(facts(tier=Tier.WATCH), state, NOW)
    assert quiet.key == f"quiet:{last.date().isoformat()}" and quiet.at == last + timedelta(days=90)
    # The churn-watch period comes from the policy (JourneyTimings).
    timed = facts(tier=Tier.WATCH, timings=c.JourneyTimings(churn_after=timedelta(days=60)))
    assert c.planned(timed, state, NOW)[0].at == last + timedelta(days=60)


def test_care_targets_are_seeded_into_a_policy_that_predates_them():
    older = [r for r in DEFAULT_RULES if r.process != Process.CARE]
    added = seed_rules_for_new_steps(older)
    assert {(r.process, r.step) for r in added} == {
        (Process.CARE, s)
        for s in (
            Step.WELCOME_CALLBACK,
            Step.RENEWAL_FOLLOW_UP,
            Step.MILESTONE_CARE,
            Step.RETENTION,
            Step.PLAN_TOUCH,
            Step.RENEWAL_NOTICE,
            Step.CHURN_WATCH,
        )
    }
    callback = next(r for r in added if r.step == Step.WELCOME_CALLBACK)
    assert callback.target == timedelta(hours=48) and callback.metric == "update"
