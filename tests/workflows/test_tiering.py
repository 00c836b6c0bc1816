"""T-4 re-evaluation on the time-skipping server with real activities on real Postgres: the schedules, the
VIP-only run, and the two-month spend drop that triggers an immediate review."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.tier_reviews import detect_spend_drops
from config import Settings
from db.engine import transaction
from domain.models import Tier
from domain.tiering import ReviewCause, TierEvaluationResult, TierEvaluationStart, is_spend_drop
from tests.workflows.helpers import rows
from tests.workflows.test_survey_rounds import cron_values
from workflows.registry import RECURRING as ALL_RECURRING
from workflows.schedules import TIME_ZONE, schedule_of
from workflows.tiering import RECURRING, TierEvaluationWorkflow

CST = ZoneInfo(TIME_ZONE)
# Far from the dates other tests use: a check on 1 June 2030 looks at April and May 2030 (the dropped
# months) against October 2029 – March 2030 (the baseline).
AS_OF = datetime(2030, 6, 1, 4, 0, tzinfo=CST)
BASELINE = [date(2029, m, 15) for m in (10, 11, 12)] + [date(2030, m, 15) for m in (1, 2, 3)]


def customer(settings: Settings, name: str, tier: str) -> int:
    return rows(
        settings,
        "INSERT INTO customers (type, name, contacts, tier) VALUES ('enterprise', %s, '[]', %s) RETURNING id",
        f"{name}{uuid.uuid4().hex[:6]}",
        tier,
    )[0]["id"]


def orders(settings: Settings, customer_id: int, spend: list[tuple[date, int]]) -> None:
    for day, amount in spend:
        rows(
            settings,
            "INSERT INTO transactions (customer_id, amount, occurred_at, external_id, source)"
            " VALUES (%s, %s, %s, %s, 'erp') RETURNING id",
            customer_id,
            Decimal(amount),
            datetime(day.year, day.month, day.day, 10, 0, tzinfo=CST),
            uuid.uuid4().hex,
        )


def monthly(baseline: int, april: int, may: int) -> list[tuple[date, int]]:
    spend = [(d, baseline) for d in BASELINE] + [(date(2030, 4, 15), april), (date(2030, 5, 15), may)]
    return [(d, a) for d, a in spend if a]


async def run(
    env: WorkflowEnvironment, settings: Settings, start: TierEvaluationStart
) -> TierEvaluationResult:
    # No timers: a plain client on the same connection keeps the test server from skipping time.
    plain = Client(
        env.client.service_client, namespace=env.client.namespace, data_converter=env.client.data_converter
    )
    return await plain.execute_workflow(
        TierEvaluationWorkflow.run,
        start,
        id=f"tier-evaluation-test-{uuid.uuid4().hex[:8]}",
        task_queue=settings.task_queue,
    )


def reviews(settings: Settings, ids: list[int]) -> dict[int, list[dict]]:
    found = rows(settings, "SELECT * FROM tier_reviews WHERE customer_id = ANY(%s) ORDER BY id", ids)
    return {i: [r for r in found if r["customer_id"] == i] for i in ids}


def test_t4_schedules_vip_quarterly_others_half_yearly(settings: Settings) -> None:
    by_id = {r.id: r for r in RECURRING}
    assert set(by_id) <= {r.id for r in ALL_RECURRING}  # `careflow schedules` creates them
    vip, others, drop = (
        by_id["tier-evaluation-vip"],
        by_id["tier-evaluation-others"],
        by_id["tier-spend-drop"],
    )
    assert vip.arg.tiers == [Tier.VIP] and vip.arg.cause is ReviewCause.SCHEDULED
    assert set(others.arg.tiers) == set(Tier) - {Tier.VIP} and others.arg.cause is ReviewCause.SCHEDULED
    assert drop.arg.cause is ReviewCause.SPEND_DROP
    for item in RECURRING:
        schedule = schedule_of(item, settings)
        assert schedule.spec.cron_expressions == [item.cron]
        assert schedule.spec.time_zone_name == "Asia/Shanghai"
        assert schedule.action.workflow == "TierEvaluationWorkflow"  # type: ignore[attr-defined]
    fields = {r.id: r.cron.split() for r in RECURRING}
    # minute hour day month weekday
    assert cron_values(fields["tier-evaluation-vip"][3], 1, 12) == {1, 4, 7, 10}  # quarterly
    assert cron_values(fields["tier-evaluation-others"][3], 1, 12) == {1, 7}  # half-yearly
    assert cron_values(fields["tier-spend-drop"][3], 1, 12) == set(range(1, 13))  # monthly
    assert all(cron_values(f[2], 1, 31) == {1} for f in fields.values())
    # The runs of one day an hour apart: each scores every customer.
    assert len({f[1] for f in fields.values()}) == 3


async def test_t4_vip_run_reviews_only_vip_customers(env, settings, worker) -> None:
    # Both buy once, long ago: computed watch, unlike either approved tier.
    vip = customer(settings, "VIP客户", "vip")
    normal = customer(settings, "普通客户", "normal")
    for c in (vip, normal):
        orders(settings, c, [(date(2029, 1, 10), 1000)])
    vip_only = TierEvaluationStart(cause=ReviewCause.SCHEDULED, tiers=[Tier.VIP], as_of=AS_OF)
    result = await run(env, settings, vip_only)
    assert result.scored >= 2 and result.reviews >= 1
    found = reviews(settings, [vip, normal])
    assert [
        (r["current_tier"], r["computed_tier"], r["proposed_tier"], r["cause"], r["status"])
        for r in found[vip]
    ] == [("vip", "watch", "watch", "scheduled", "pending")]
    assert found[normal] == []
    # A second run opens nothing twice (one pending review per customer); customers.tier is untouched.
    await run(env, settings, vip_only)
    assert len(reviews(settings, [vip])[vip]) == 1
    assert rows(settings, "SELECT tier FROM customers WHERE id=%s", vip)[0]["tier"] == "vip"
    # The half-yearly run reviews the others.
    others = [Tier.KEY, Tier.NORMAL, Tier.WATCH]
    await run(env, settings, TierEvaluationStart(cause=ReviewCause.SCHEDULED, tiers=others, as_of=AS_OF))
    assert [r["current_tier"] for r in reviews(settings, [normal])[normal]] == ["normal"]


async def test_t4_spend_drop_two_months_triggers_review(env, settings, worker) -> None:
    dropped = customer(settings, "骤降", "watch")  # ≤ half the usual spend in April and in May
    one_slow = customer(settings, "单月下滑", "watch")  # April low, May back to normal
    halved = customer(settings, "减半持平", "watch")  # exactly half, twice: month over month it is flat
    newcomer = customer(settings, "新客户", "watch")  # no baseline to drop from
    flagged_before = customer(settings, "上月已预警", "watch")  # the same drop, flagged a month ago
    still_low = customer(settings, "持续走低", "watch")  # flagged now, and still low next month
    orders(settings, dropped, [*monthly(100_000, 40_000, 30_000), (date(2030, 6, 1), 500_000)])
    orders(settings, one_slow, monthly(100_000, 30_000, 100_000))
    orders(settings, halved, monthly(100_000, 50_000, 50_000))
    orders(settings, newcomer, monthly(0, 0, 20_000))
    orders(settings, flagged_before, monthly(100_000, 10_000, 10_000))
    orders(settings, still_low, [*monthly(100_000, 20_000, 20_000), (date(2030, 6, 10), 10_000)])
    rows(
        settings,
        "INSERT INTO tier_spend_drops (customer_id, month, baseline, earlier, later)"
        " VALUES (%s, '2030-04-01', 100000, 100000, 10000) RETURNING customer_id",
        flagged_before,
    )
    mine = [dropped, one_slow, halved, newcomer, flagged_before, still_low]
    start = TierEvaluationStart(cause=ReviewCause.SPEND_DROP, as_of=AS_OF)

    result = await run(env, settings, start)

    found = rows(
        settings,
        "SELECT customer_id, month, baseline, earlier, later, signalled_at FROM tier_spend_drops"
        " WHERE customer_id = ANY(%s) AND month = '2030-05-01'",
        mine,
    )
    by_customer = {r["customer_id"]: r for r in found}
    assert set(by_customer) == {dropped, halved, still_low}
    assert (
        by_customer[dropped]["baseline"],
        by_customer[dropped]["earlier"],
        by_customer[dropped]["later"],
    ) == (
        Decimal("100000.00"),
        Decimal("40000.00"),
        Decimal("30000.00"),
    )
    assert result.spend_drops >= 3 and result.signalled >= 3
    # Their journeys were told (none runs for these customers: "not found" is not an error).
    assert all(r["signalled_at"] is not None for r in found)
    # Reviewed at once, with cause spend_drop, on a score as of the check; the others not reviewed.
    scored = {
        r["customer_id"]: r["tier"]
        for r in rows(
            settings, "SELECT customer_id, tier FROM customer_scores WHERE customer_id = ANY(%s)", mine
        )
    }
    opened = reviews(settings, mine)
    for c in (dropped, halved, still_low):
        assert scored[c] != "watch"
        assert [(r["cause"], r["current_tier"], r["proposed_tier"]) for r in opened[c]] == [
            ("spend_drop", "watch", scored[c])
        ]
    assert all(opened[c] == [] for c in (one_slow, newcomer, flagged_before))

    # Idempotent per customer and month: the same check again records and opens nothing.
    again = await run(env, settings, start)
    assert again.spend_drops == 0 and again.reviews == 0
    assert len(rows(settings, "SELECT 1 FROM tier_spend_drops WHERE customer_id = ANY(%s)", mine)) == 4
    # A month later: May and June. still_low qualifies again (is_spend_drop), but its May flag covers May:
    # the same drop, not a new one. flagged_before's flag covered March and April: May and June are new.
    assert is_spend_drop([Decimal(a) for a in (100_000,) * 5 + (20_000, 20_000, 10_000)])
    async with transaction(settings.sqlalchemy_url()) as db:
        month, _ = await detect_spend_drops(db, as_of=datetime(2030, 7, 1, 4, 0, tzinfo=CST))
    assert month == date(2030, 6, 1)
    june = rows(
        settings,
        "SELECT customer_id FROM tier_spend_drops WHERE month = '2030-06-01' AND customer_id = ANY(%s)",
        mine,
    )
    assert june == [{"customer_id": flagged_before}]
