"""Interaction plans (R-1) under the frequency cap shared with value-added pushes (R-6), on the time-skipping
server with real activities on real Postgres. The plan's run is asked for its customers only, so a test sees
its own; ``at`` is given (the real time or a past holiday), never the test server's skipped clock."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from activities.campaigns import CampaignActivities
from activities.cases import CaseActivities
from activities.changes import OpenCaseRequest
from activities.touches import TouchActivities, set_policy
from config import Settings
from db.engine import sessionmaker_for
from domain import interaction_plans as d
from domain import order_followup as of
from domain import value_push as vp
from domain.i18n import label
from domain.interaction_plans import DEFAULT_CAP, PlanRequest, PlanResult, TouchPolicyIn
from domain.models import CaseRef, Process
from tests.workflows.helpers import close_case, events, eventually, rows, rows_eventually, wait_for_step
from tests.workflows.test_order_followup import FACTS_OK
from workflows import registry
from workflows.interaction_plans import RECURRING, InteractionPlanWorkflow
from workflows.order_followup import OrderFollowupWorkflow

CST = timezone(timedelta(hours=8))
LINK = "https://careflow.example.com/services/feature-tutorials"


def customer(
    settings: Settings,
    *,
    tier: str = "normal",
    potential: str | None = None,
    lifecycle: str = "active",
    tags: list[str] | None = None,
    owner: str | None = None,
    email: str | None = "client@example.com",
) -> int:
    return rows(
        settings,
        "INSERT INTO customers (type, name, email, phone, contacts, tier, potential, lifecycle, tags, owner)"
        " VALUES ('enterprise', %s, %s, '13900139000', '[]', %s, %s, %s, %s::jsonb, %s) RETURNING id",
        f"计划客户-{uuid.uuid4().hex[:6]}",
        email,
        tier,
        potential,
        lifecycle,
        "[" + ",".join(f'"{t}"' for t in tags or []) + "]",
        owner,
    )[0]["id"]


def ledger(settings: Settings, customer_id: int) -> list[dict[str, Any]]:
    return rows(settings, "SELECT * FROM customer_touches WHERE customer_id=%s ORDER BY at, id", customer_id)


async def plan(client: Client, settings: Settings, at: datetime, *ids: int) -> PlanResult:
    return await client.execute_workflow(
        InteractionPlanWorkflow.run,
        PlanRequest(at=at, customer_ids=list(ids)),
        id=f"plan-test-{uuid.uuid4().hex[:8]}",
        task_queue=settings.task_queue,
    )


async def reserve(settings: Settings, customer_id: int, n: int, at: datetime | None = None) -> list[bool]:
    acts = TouchActivities(settings.sqlalchemy_url())
    env = ActivityEnvironment()
    return [
        await env.run(acts.reserve_touch, customer_id, "greeting", "journey", f"t:{uuid.uuid4().hex}", at)
        for _ in range(n)
    ]


@pytest.fixture
async def cap(settings: Settings) -> AsyncIterator[Callable[[int], Awaitable[None]]]:
    """Sets the admin-editable cap for one test; the default is back afterwards."""

    async def set_cap(n: int) -> None:
        async with sessionmaker_for(settings.sqlalchemy_url())() as db:
            await set_policy(db, TouchPolicyIn(max_per_month=n, actor="tests"))
            await db.commit()

    yield set_cap
    await set_cap(DEFAULT_CAP)


async def push_batch(settings: Settings, tag: str, at: datetime) -> tuple[str, vp.BatchSent]:
    """One send batch of a monthly campaign to ``tag``, as the campaign workflow runs it."""
    intake = vp.ValuePushIntake(tag=tag, service="新功能教程", link=LINK)
    number = f"VP-T{uuid.uuid4().hex[:8]}"
    await CaseActivities(settings.sqlalchemy_url()).open_case(
        OpenCaseRequest(
            case=CaseRef(number=number, process=Process.VALUE_PUSH, actor="test"),
            subject=intake.service,
            opened_at=at,
            record=intake.record(),
        )
    )
    acts = CampaignActivities(settings.sqlalchemy_url(), settings)
    sent = await ActivityEnvironment().run(acts.send_batch, vp.SendBatch(number=number, intake=intake, at=at))
    return number, sent


# -- one cap for pushes and every other touch ------------------------------------------------------------


async def test_r6_cap_shared_between_pushes_and_plan_touches(env, client, settings, worker, cap):
    await cap(2)
    now = datetime.now(UTC)
    tag = f"t_{uuid.uuid4().hex[:8]}"
    # Potential customers: a monthly case study each. One had a journey touch, one had two already.
    once, twice, fresh = (customer(settings, potential="high", tags=[tag]) for _ in range(3))
    assert await reserve(settings, once, 1, now) == [True]
    assert await reserve(settings, twice, 2, now) == [True, True]
    assert await reserve(settings, twice, 1, now) == [False]  # the third of the month is refused

    # The monthly push takes the last place of ``once``; ``twice`` is skipped and counted as capped.
    number, sent = await push_batch(settings, tag, now)
    assert (sent.delivered, sent.capped) == (2, 1)
    reached = {
        r["customer_id"] for r in rows(settings, "SELECT * FROM push_deliveries WHERE case_number=%s", number)
    }
    assert reached == {once, fresh}
    assert [t["kind"] for t in ledger(settings, once)] == ["greeting", "push"]

    # The month's plan: ``fresh`` (one push so far) gets the case study; the other two are at the cap.
    result = await plan(client, settings, now, once, twice, fresh)
    assert (result.reserved, result.capped, result.messages) == (1, 2, 1)
    month = d.month_label(d.month_of(now))
    assert [t["key"] for t in ledger(settings, fresh)][-1] == f"plan:{month}:potential_case_study:{fresh}"
    assert len(ledger(settings, once)) == len(ledger(settings, twice)) == 2
    message = rows(
        settings,
        "SELECT * FROM notifications WHERE recipient=%s AND purpose='plan_message'",
        f"customer:{fresh}",
    )
    assert len(message) == 1 and "/t/c/" in message[0]["body"]

    # A raised cap makes room: the re-run plans the two that were left out, and nothing twice.
    await cap(3)
    again = await plan(client, settings, now, once, twice, fresh)
    assert (again.reserved, again.capped, again.messages) == (2, 0, 2)
    assert [len(ledger(settings, c)) for c in (once, twice, fresh)] == [3, 3, 2]


async def test_r6_service_messages_not_capped(env, client, settings, worker, cap):
    await cap(2)
    now = datetime.now(UTC)
    buyer = customer(settings)
    assert await reserve(settings, buyer, 3, now) == [True, True, False]
    # An order follow-up for the capped customer: the order confirmation (a service message) still goes.
    number = f"OF-T{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(
        OrderFollowupWorkflow.run, order_start(number, buyer), id=number, task_queue=settings.task_queue
    )
    await wait_for_step(handle, "order_confirmation")
    await handle.execute_update(
        OrderFollowupWorkflow.confirm_order, of.OrderConfirmation(actor="订单专员小周", **FACTS_OK)
    )
    await eventually(lambda: "order_confirmation_sent" in events(settings, number), "confirmation sent")
    sent = rows(
        settings,
        "SELECT * FROM notifications WHERE case_number=%s AND purpose='order_confirmation' AND recipient=%s",
        number,
        f"customer:{buyer}",
    )
    assert sent, "the capped customer still gets the order confirmation"
    assert len(ledger(settings, buyer)) == 2  # and it is no touch: the ledger is as it was
    await close_case(handle)


def order_start(number: str, customer_id: int) -> of.OrderFollowupStart:
    return of.OrderFollowupStart(
        case=CaseRef(number=number, process=Process.ORDER_FOLLOWUP, customer_id=customer_id, actor="test"),
        intake=of.OrderFollowupIntake(
            channel="api",
            order_no=f"DD{uuid.uuid4().hex[:10]}",
            amount="50000",
            model="V3.0标准版",
            quantity=2,
            payment_status="paid",
            address="上海市浦东新区张江路 100 号",
            contact="王先生 13800138000",
        ),
    )


# -- the plan per tier and category -----------------------------------------------------------------------


async def test_r1_vip_gets_monthly_callback_task(env, client, settings, worker):
    now = datetime.now(UTC)
    vip = customer(settings, tier="vip", owner="am_li")
    key = customer(settings, tier="key", owner="am_wang")
    cold = customer(settings, tier="vip", lifecycle="dormant", owner="am_li")
    watch = customer(settings, tier="watch")
    result = await plan(client, settings, now, vip, key, cold, watch)
    assert result.tasks == 3 and ledger(settings, watch) == []
    month = d.month_label(d.month_of(now))
    # Each task is a care case the plan started; it writes its record a moment later.
    tasks = {
        r["customer_id"]: r
        for r in await rows_eventually(
            settings,
            "SELECT r.*, c.process, c.state FROM care_records r JOIN cases c ON c.number = r.case_number"
            " WHERE r.customer_id IN (%s, %s, %s)",
            vip,
            key,
            cold,
            count=3,
        )
    }
    task = tasks[vip]
    assert (task["process"], task["kind"], task["occasion"], task["owner"]) == (
        "care",
        "plan_touch",
        "interaction_plan",
        "am_li",
    )
    assert task["due_at"] == now + timedelta(days=10) and task["note"] == label("vip_callback")
    assert tasks[key]["note"] == label("key_callback")
    # A dormant customer gets the needs-finding callback, whatever the tier (cold comes first).
    assert tasks[cold]["note"] == label("cold_callback") and tasks[cold]["due_at"] == now + timedelta(days=14)
    touch = ledger(settings, vip)[0]
    assert (touch["kind"], touch["key"], touch["tier"]) == (
        "callback",
        f"plan:{month}:vip_callback:{vip}",
        "vip",
    )
    assert touch["done_at"] is not None
    # The month planned again: no second task.
    again = await plan(client, settings, now, vip, key, cold, watch)
    assert (again.tasks, again.reserved) == (0, 0)
    count = rows(settings, "SELECT count(*) AS n FROM care_records WHERE customer_id=%s", vip)[0]["n"]
    assert count == 1
    # The tasks stay open (due in 10-14 days): completing a child whose parent has finished stalls the
    # time-skipping test server's clock for the rest of the session (the real server is unaffected).
    # The needs-finding callback is not repeated within 90 days: still dormant next month (its task opening
    # counted as an interaction; say the customer was not reached), the plan leaves them out.
    rows(settings, "UPDATE customers SET lifecycle='dormant' WHERE id=%s RETURNING id", cold)
    later = await plan(client, settings, now + timedelta(days=31), cold)
    assert later.tasks == 0


async def test_r1_normal_gets_quarterly_news_and_holiday_greeting(env, client, settings, worker):
    # The plan itself: quarterly news in the first month of a quarter, a greeting on each holiday (清明 none).
    jan, _ = d.month_plan(datetime(2026, 1, 1, 8, tzinfo=CST))
    feb, _ = d.month_plan(datetime(2026, 2, 1, 8, tzinfo=CST))
    apr, _ = d.month_plan(datetime(2026, 4, 1, 8, tzinfo=CST))
    normal = lambda items: sorted((i.entry, i.occasion) for i in items if i.category == "normal")
    assert normal(jan) == [("normal_greeting", "元旦"), ("normal_news", None)]
    assert normal(feb) == [("normal_greeting", "春节")]
    assert normal(apr) == [("normal_news", None)]
    vip_apr = sorted(i.entry for i in apr if i.category == "vip")
    assert vip_apr == ["vip_benefit", "vip_callback"]
    # A year the holiday package does not know yet: the fixed-date holidays only, and the run says so.
    future, complete = d.month_plan(datetime(2031, 10, 1, 8, tzinfo=CST))
    assert not complete and ("normal_greeting", "国庆节") in normal(future)
    assert normal(d.month_plan(datetime(2031, 2, 1, 8, tzinfo=CST))[0]) == []

    # October 2026, planned at 08:59 on National Day: the news at once, the greeting at 09:00.
    fan = customer(settings)
    quiet = customer(settings, tier="watch")
    at = datetime(2026, 10, 1, 8, 59, tzinfo=CST)
    handle = await client.start_workflow(
        InteractionPlanWorkflow.run,
        PlanRequest(at=at, customer_ids=[fan, quiet]),
        id=f"plan-test-{uuid.uuid4().hex[:8]}",
        task_queue=settings.task_queue,
    )
    await eventually(lambda: [t for t in ledger(settings, fan) if t["done_at"]], "the news went out")
    assert [t["kind"] for t in ledger(settings, fan) if t["done_at"] is None] == ["greeting"]
    await env.sleep(timedelta(minutes=2))
    result = await handle.result()
    assert (result.reserved, result.messages, result.tasks) == (2, 2, 0)
    touches = ledger(settings, fan)
    assert [(t["kind"], t["plan"], t["topic"]) for t in touches] == [
        ("news", "normal_news", None),
        ("greeting", "normal_greeting", "国庆节"),
    ]
    assert touches[1]["at"] == datetime(2026, 10, 1, 9, 0, tzinfo=CST)
    assert all(t["done_at"] is not None for t in touches) and ledger(settings, quiet) == []
    sent = {
        r["purpose"]: r
        for r in rows(settings, "SELECT * FROM notifications WHERE recipient=%s", f"customer:{fan}")
    }
    assert set(sent) == {"plan_message", "care"}
    assert "国庆节" in sent["care"]["body"] and label("normal_news") in sent["plan_message"]["subject"]


async def test_r1_interaction_plan_schedule_is_registered(settings):
    [item] = RECURRING
    assert item.cron == d.PLAN_CRON == "0 8 1 * *" and item in registry.RECURRING
    assert InteractionPlanWorkflow in registry.WORKFLOWS
    assert date(2026, 12, 1) == d.month_of(datetime(2026, 11, 30, 16, 0, tzinfo=UTC))
