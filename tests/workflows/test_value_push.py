"""Value-added push end to end on the time-skipping server with real activities on real Postgres
(VP-1..VP-3, R-6, and the schedules' workflows run directly)."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.campaigns import CampaignActivities, metrics_for
from activities.cases import CaseActivities
from activities.changes import OpenCaseRequest
from config import Settings
from db.engine import transaction
from domain import value_push as d
from domain.actions import Closure
from domain.models import CaseRef, CaseView, Process, Step
from tests.activities.helpers import Gateway
from tests.workflows.helpers import events, eventually, publish, rows, start_presales, wait_for_step
from workflows import registry
from workflows import value_push as vp
from workflows.case import INVALID
from workflows.schedules import schedule_of
from workflows.value_push import MonthlyPushPlanner, PushOccasionsWorkflow, ValuePushWorkflow

LINK = "https://careflow.example.com/services/feature-tutorials"
# The policy the ``quick`` fixture publishes: the window is data, so the tests need to skip minutes, not days,
# past every other case the session left running.
WINDOW = timedelta(minutes=10)
STARTED: list[str] = []


async def publish_quick(settings: Settings) -> None:
    await publish(
        settings,
        {
            "process": "value_push",
            "step": Step.EFFECT_WINDOW,
            "target": f"{int(WINDOW.total_seconds())}s",
            "calendar": "24x7",
        },
        note="tests: a short value-push window",
    )


@pytest.fixture
async def quick(settings: Settings, restore_policy: None) -> None:
    await publish_quick(settings)


@pytest.fixture(autouse=True)
async def close_campaigns(client: Client) -> Any:
    """Campaigns a test leaves open are closed, so later time skips do not run their steps."""
    yield
    numbers, STARTED[:] = list(STARTED), []
    for number in numbers:
        try:
            await client.get_workflow_handle(number).execute_update(
                ValuePushWorkflow.close, Closure(actor="test", reason="test over")
            )
        except (WorkflowUpdateFailedError, RPCError):
            pass  # finished already


def customer(
    settings: Settings,
    *,
    tags: list[str],
    tier: str = "normal",
    preferred: str | None = None,
    email: str | None = "buyer@example.com",
    phone: str | None = "13800138000",
    birthday: date | None = None,
    contract_end: date | None = None,
) -> int:
    return rows(
        settings,
        "INSERT INTO customers (type, name, email, phone, contacts, tier, tags, preferred_channel, birthday,"
        " contract_end) VALUES ('enterprise', %s, %s, %s, '[]', %s, %s::jsonb, %s, %s, %s) RETURNING id",
        f"推送客户-{uuid.uuid4().hex[:6]}",
        email,
        phone,
        tier,
        "[" + ",".join(f'"{t}"' for t in tags) + "]",
        preferred,
        birthday,
        contract_end,
    )[0]["id"]


def a_tag() -> str:
    return f"t_{uuid.uuid4().hex[:8]}"


async def start(client: Client, settings: Settings, **kw: Any) -> WorkflowHandle:
    number = f"VP-T{uuid.uuid4().hex[:8]}"
    intake = d.ValuePushIntake(**{"service": "新功能教程", "link": LINK, "owner": "运营小E", **kw})
    begin = d.ValuePushStart(
        case=CaseRef(number=number, process=Process.VALUE_PUSH, actor="test"), intake=intake
    )
    STARTED.append(number)
    return await client.start_workflow(
        ValuePushWorkflow.run, begin, id=number, task_queue=settings.task_queue
    )


async def pushed(settings: Settings, handle: WorkflowHandle) -> dict[str, Any]:
    """Waits until the campaign's messages went out; its push record row."""
    await eventually(lambda: "push_sent" in events(settings, handle.id), f"{handle.id} pushed")
    return rows(settings, "SELECT * FROM push_records WHERE case_number=%s", handle.id)[0]


def deliveries(settings: Settings, number: str) -> dict[int, dict[str, Any]]:
    found = rows(settings, "SELECT * FROM push_deliveries WHERE case_number=%s", number)
    return {r["customer_id"]: r for r in found}


def sent_payload(settings: Settings, number: str) -> dict[str, Any]:
    return rows(
        settings, "SELECT payload FROM case_events WHERE case_number=%s AND kind='push_sent'", number
    )[0]["payload"]


async def open_case(settings: Settings, process: Process, customer_id: int, at: datetime) -> str:
    """A case of another process opened for the customer at ``at``, by the activity every process opens
    its cases with (the inquiry or the order that follows a push)."""
    number = f"{'OF' if process is Process.ORDER_FOLLOWUP else 'AS'}-T{uuid.uuid4().hex[:8]}"
    await CaseActivities(settings.sqlalchemy_url()).open_case(
        OpenCaseRequest(
            case=CaseRef(number=number, process=process, customer_id=customer_id, actor="test"),
            subject="after the push",
            opened_at=at,
        )
    )
    return number


async def live(settings: Settings, number: str) -> d.PushMetrics:
    async with transaction(settings.sqlalchemy_url()) as db:
        return (await metrics_for(db, [number]))[number]


# -- pure rules ------------------------------------------------------------------------------------------------


async def test_r6_cap_keys_and_vp2_channel_choice():
    day = date(2026, 11, 5)
    assert d.cap_key(d.PushType.MONTHLY, day, None) == "monthly:2026-11"
    # One monthly push a calendar month, not one per 30 days: the planner runs on the 1st, and
    # 1 February to 1 March is 28 days.
    feb, mar = date(2027, 2, 1), date(2027, 3, 1)
    assert d.cap_key(d.PushType.MONTHLY, feb, None) != d.cap_key(d.PushType.MONTHLY, mar, None)
    assert d.cap_key(d.PushType.BIRTHDAY, day, None) == "birthday:2026"
    assert d.cap_key(d.PushType.RENEWAL, day, date(2026, 12, 5)) == "renewal:2026-12-05"
    assert d.channel_for(None, "wechat", "a@b.c", "138") == "wechat"
    assert d.channel_for(None, "sms", "a@b.c", None) == "email"  # no phone for the preferred SMS
    assert d.channel_for(d.PushChannel.SMS, "email", "a@b.c", "138") == "sms"
    assert d.channel_for(None, None, None, None) is None
    m = d.PushMetrics.of(delivered=10, opened=5, clicked=2, inquiries=1, conversions=1, respondents=3)
    assert (m.open_rate, m.click_rate, m.response_rate, m.meets_target) == (0.5, 0.2, 0.3, True)


# -- VP-1 / VP-2: audience and channel -------------------------------------------------------------------------


async def test_vp1_vp2_audience_by_tag_and_tier_on_each_preferred_channel(env, client, settings, worker):
    tag = a_tag()
    by_sms = customer(settings, tags=[tag, "x"], tier="vip", preferred="sms")
    by_wechat = customer(settings, tags=[tag], tier="normal", preferred="wechat")
    no_preference = customer(settings, tags=[tag], tier="normal")
    customer(settings, tags=[tag], tier="watch", preferred="sms")  # not in the tiers asked for
    customer(settings, tags=[a_tag()], tier="vip", preferred="sms")  # another tag
    unreachable = customer(settings, tags=[tag], tier="vip", email=None, phone=None)
    handle = await start(client, settings, tag=tag, tiers="vip, normal")
    record = await pushed(settings, handle)
    sent = deliveries(settings, handle.id)
    assert {k: v["channel"] for k, v in sent.items()} == {
        by_sms: "sms",
        by_wechat: "wechat",
        no_preference: "email",
    }
    assert unreachable not in sent and sent_payload(settings, handle.id)["unreachable"] == 1
    assert len({v["token"] for v in sent.values()}) == 3 and all(len(v["token"]) >= 32 for v in sent.values())
    assert record["count"] == 3 and record["tag"] == tag and record["tiers"] == ["vip", "normal"]
    assert record["window_ends_at"] - record["pushed_at"] == timedelta(days=3)
    # Each customer got the message on that channel, with the tracked link to the service.
    messages = rows(
        settings,
        "SELECT recipient, channel, body FROM notifications WHERE case_number=%s AND purpose='push'",
        handle.id,
    )
    assert {(m["recipient"], m["channel"]) for m in messages} == {
        (f"customer:{by_sms}", "sms"),
        (f"customer:{by_wechat}", "wechat"),
        (f"customer:{no_preference}", "email"),
    }
    sms = next(m for m in messages if m["channel"] == "sms")
    assert f"/t/c/{sent[by_sms]['token']}" in sms["body"] and "新功能教程" in sms["body"]
    case = rows(settings, "SELECT * FROM cases WHERE number=%s", handle.id)[0]
    assert case["customer_id"] is None and case["current_step"] == "effect_window"
    assert case["owner"] == "运营小E"


async def test_vp2_channel_override_and_an_empty_audience_closes_the_campaign(env, client, settings, worker):
    tag = a_tag()
    wechat_fan = customer(settings, tags=[tag], preferred="wechat")
    handle = await start(client, settings, tag=tag, channel="email")
    await pushed(settings, handle)
    assert deliveries(settings, handle.id)[wechat_fan]["channel"] == "email"
    empty = await start(client, settings, tag=a_tag())
    assert await empty.result() == d.OUTCOME_NO_AUDIENCE
    assert rows(settings, "SELECT count FROM push_records WHERE case_number=%s", empty.id)[0]["count"] == 0


# -- frequency cap ------------------------------------------------------------------------------------------


async def test_r6_frequency_cap_is_one_monthly_push_a_calendar_month(env, client, settings, worker):
    tag = a_tag()
    first, second = customer(settings, tags=[tag]), customer(settings, tags=[tag])
    june = await start(client, settings, tag=tag)
    record = await pushed(settings, june)
    newcomer = customer(settings, tags=[tag])
    again = await start(client, settings, tag=tag, service="套餐优惠")
    assert (await pushed(settings, again))["capped"] == 2
    assert set(deliveries(settings, again.id)) == {newcomer}
    # Birthday and renewal pushes are extras with their own cap: once a year, once per contract end.
    birthday = await start(client, settings, tag="birthday", push_type="birthday", customer_ids=[first])
    await pushed(settings, birthday)
    assert set(deliveries(settings, birthday.id)) == {first}
    twice = await start(client, settings, tag="birthday", push_type="birthday", customer_ids=[first])
    assert await twice.result() == d.OUTCOME_NO_AUDIENCE
    assert sent_payload(settings, twice.id)["capped"] == 1
    # Pushed in the last hour of the previous month, everyone gets this month's push.
    month = record["pushed_at"].astimezone(ZoneInfo(settings.timezone)).replace(day=1, hour=0, minute=0)
    earlier = month - timedelta(hours=1)
    rows(
        settings,
        "UPDATE push_deliveries SET sent_at=%s, cap_key=%s WHERE case_number IN (%s, %s) RETURNING id",
        earlier,
        f"monthly:{earlier:%Y-%m}",
        june.id,
        again.id,
    )
    july = await start(client, settings, tag=tag)
    await pushed(settings, july)
    assert set(deliveries(settings, july.id)) == {first, second, newcomer}


# -- the send batch itself: retries, heartbeats, concurrent campaigns (real Postgres, a real HTTP gateway) ------


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    gw = Gateway().start()
    try:
        yield gw
    finally:
        gw.stop()


async def campaign_case(settings: Settings, intake: d.ValuePushIntake) -> str:
    """A campaign's case and push record, as the workflow opens them, for calling its activities directly."""
    number = f"VP-T{uuid.uuid4().hex[:8]}"
    await CaseActivities(settings.sqlalchemy_url()).open_case(
        OpenCaseRequest(
            case=CaseRef(number=number, process=Process.VALUE_PUSH, actor="test"),
            subject=intake.service,
            opened_at=datetime.now(UTC),
            record=intake.record(),
        )
    )
    return number


def sends(gateway: Gateway) -> list[str]:
    """The customers the gateway accepted a push for, once per accepted request."""
    return [":".join(r["json"]["key"].rsplit(":", 2)[1:]) for r in gateway.requests if r["status"] < 300]


async def test_r6_vp2_a_retried_send_batch_pushes_no_customer_twice_and_resumes_after_its_heartbeat(
    settings, gateway
):
    tag = a_tag()
    ids = [customer(settings, tags=[tag], preferred="sms") for _ in range(3)]
    intake = d.ValuePushIntake(tag=tag, service="新功能教程", link=LINK)
    req = d.SendBatch(number=await campaign_case(settings, intake), intake=intake, at=datetime.now(UTC))
    acts = CampaignActivities(
        settings.sqlalchemy_url(), settings.model_copy(update={"gateway_url": gateway.url})
    )

    async def attempt(*, resume_after: int | None = None) -> tuple[d.BatchSent, list[int]]:
        run = ActivityEnvironment()
        if resume_after is not None:
            run.info = dataclasses.replace(run.info, attempt=2, heartbeat_details=[resume_after])
        beats: list[int] = []
        run.on_heartbeat = lambda *details: beats.append(details[0])
        return await run.run(acts.send_batch, req), beats

    # The gateway is down: every message fails, and each customer handed over is heartbeated.
    gateway.status = 503
    sent, beats = await attempt()
    assert (sent.delivered, sent.failed, sent.channels, beats) == (3, 3, {"sms": 3}, ids)
    # The retry resumes after the last heartbeat the server kept: only the third customer is tried again.
    gateway.status = 200
    sent, beats = await attempt(resume_after=ids[1])
    assert (sent.delivered, sent.failed, beats) == (3, 2, [ids[2]])
    assert sends(gateway) == [f"customer:{ids[2]}"]
    # A retry from the start: the failed two are sent now, the third is not sent again.
    sent, _ = await attempt()
    assert (sent.delivered, sent.failed) == (3, 0)
    assert sorted(sends(gateway)) == sorted(f"customer:{i}" for i in ids)
    assert len(deliveries(settings, req.number)) == 3
    outbox = rows(settings, "SELECT status FROM notifications WHERE case_number=%s", req.number)
    assert [r["status"] for r in outbox] == ["sent"] * 3


async def test_r6_two_concurrent_campaigns_push_each_customer_once(settings, gateway):
    tag = a_tag()
    ids = {customer(settings, tags=[tag], preferred="sms") for _ in range(12)}
    acts = CampaignActivities(
        settings.sqlalchemy_url(), settings.model_copy(update={"gateway_url": gateway.url})
    )
    at = datetime.now(UTC)
    batches = []
    for service in ("新功能教程", "套餐优惠"):
        intake = d.ValuePushIntake(tag=tag, service=service, link=LINK)
        batches.append(d.SendBatch(number=await campaign_case(settings, intake), intake=intake, at=at))
    one, two = await asyncio.gather(*(ActivityEnvironment().run(acts.send_batch, b) for b in batches))
    assert one.delivered + two.delivered == 12 and one.capped + two.capped == 12
    reached = rows(
        settings,
        "SELECT customer_id FROM push_deliveries WHERE case_number IN (%s, %s)",
        *(b.number for b in batches),
    )
    assert sorted(r["customer_id"] for r in reached) == sorted(ids)
    assert sorted(sends(gateway)) == sorted(f"customer:{i}" for i in ids)


def many_customers(settings: Settings, tag: str, n: int) -> set[int]:
    found = rows(
        settings,
        "INSERT INTO customers (type, name, email, contacts, tier, tags)"
        " SELECT 'individual', 'batch-' || n, 'fan@example.com', '[]', 'normal', %s::jsonb"
        " FROM generate_series(1, %s) AS n RETURNING id",
        f'["{tag}"]',
        n,
    )
    return {r["id"] for r in found}


async def test_vp2_an_audience_larger_than_a_batch_is_pushed_in_full(env, client, settings, worker):
    tag = a_tag()
    ids = many_customers(settings, tag, d.SEND_BATCH + 1)
    handle = await start(client, settings, tag=tag)
    record = await pushed(settings, handle)
    assert record["count"] == d.SEND_BATCH + 1 and set(deliveries(settings, handle.id)) == ids
    messages = rows(
        settings,
        "SELECT count(DISTINCT recipient) AS n, count(*) AS total FROM notifications"
        " WHERE case_number=%s AND purpose='push'",
        handle.id,
    )[0]
    assert messages == {"n": d.SEND_BATCH + 1, "total": d.SEND_BATCH + 1}


async def test_vp2_closing_a_campaign_stops_its_push_between_batches(env, client, settings, worker):
    tag = a_tag()
    many_customers(settings, tag, 4 * d.SEND_BATCH)
    handle = await start(client, settings, tag=tag)
    view = await handle.execute_update(ValuePushWorkflow.close, Closure(actor="运营小E", reason="内容有误"))
    assert view.state == "closed" and await handle.result() == "closed_by_staff"
    assert len(deliveries(settings, handle.id)) < 4 * d.SEND_BATCH
    assert "push_sent" in events(settings, handle.id)


# -- VP-3: effect window, attribution, record, analysis ------------------------------------------------------------


async def test_vp3_inquiries_and_conversions_within_the_window_count_in_the_push_record(
    env: WorkflowEnvironment, client, settings, worker, quick
):
    tag = a_tag()
    asker, buyer, late, silent = (customer(settings, tags=[tag]) for _ in range(4))
    handle = await start(client, settings, tag=tag)
    record = await pushed(settings, handle)
    sent_at = record["pushed_at"]
    # Within the window: a pre-sales inquiry (a real case) and an order.
    inquiry = await start_presales(client, settings, customer_id=asker)
    await wait_for_step(inquiry, "first_response")
    await open_case(settings, Process.ORDER_FOLLOWUP, buyer, sent_at + WINDOW - timedelta(minutes=1))
    so_far = await live(settings, handle.id)
    assert (so_far.delivered, so_far.inquiries, so_far.conversions) == (4, 1, 1)
    # The figures become final when the window (the EFFECT_WINDOW rule, 3 days by default) closes.
    await env.sleep(WINDOW + timedelta(minutes=1))
    view = await wait_for_step(handle, "effect_analysis")
    assert view.open_step.owner_role == "customer_ops"
    assert view.open_step.due_at - view.open_step.opened_at == timedelta(days=7)
    # After the window: not credited, however soon after.
    await open_case(settings, Process.AFTERSALES, late, sent_at + WINDOW + timedelta(minutes=2))
    record = rows(settings, "SELECT * FROM push_records WHERE case_number=%s", handle.id)[0]
    assert (record["count"], record["inquiries"], record["conversions"]) == (4, 1, 1)
    assert float(record["response_rate"]) == 0.5 and float(record["open_rate"]) == 0
    assert record["metrics_at"] is not None
    sent = deliveries(settings, handle.id)
    assert sent[asker]["inquired_at"] is not None and sent[buyer]["converted_at"] is not None
    assert sent[late]["inquired_at"] is None and sent[silent]["inquired_at"] is None
    assert (await live(settings, handle.id)).inquiries == 1
    assert "effect_measured" in events(settings, handle.id)
    # 50% ≥ 30%: the service may stay.
    view = await handle.execute_update(
        ValuePushWorkflow.record_analysis,
        d.EffectAnalysis(actor="运营小E", decision="keep", improvement_note="增加“案例解析”模块"),
    )
    assert await handle.result() == "keep"
    record = rows(settings, "SELECT * FROM push_records WHERE case_number=%s", handle.id)[0]
    assert record["improvement_note"] == "增加“案例解析”模块" and record["decision"] == "keep"
    await inquiry.execute_update("close", Closure(actor="test", reason="test over"), result_type=CaseView)


async def test_vp3_an_inquiry_is_credited_to_the_most_recent_push(env, client, settings, worker):
    tag = a_tag()
    person = customer(settings, tags=[tag])
    monthly = await start(client, settings, tag=tag)
    await pushed(settings, monthly)
    birthday = await start(client, settings, tag="birthday", push_type="birthday", customer_ids=[person])
    record = await pushed(settings, birthday)
    await open_case(settings, Process.AFTERSALES, person, record["pushed_at"] + timedelta(hours=1))
    assert (await live(settings, birthday.id)).inquiries == 1
    assert (await live(settings, monthly.id)).inquiries == 0


async def test_vp3_low_response_must_be_revised_or_replaced(
    env: WorkflowEnvironment, client, settings, worker, quick
):
    tag = a_tag()
    customer(settings, tags=[tag])
    handle = await start(client, settings, tag=tag)
    await pushed(settings, handle)
    await env.sleep(WINDOW + timedelta(minutes=1))
    await wait_for_step(handle, "effect_analysis")
    before = events(settings, handle.id)
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await handle.execute_update(
            ValuePushWorkflow.record_analysis,
            d.EffectAnalysis(actor="运营小E", decision="keep", improvement_note="保持"),
        )
    cause = err.value.cause
    assert cause.type == INVALID and "30%" in cause.message and cause.details == ("decision",)
    assert events(settings, handle.id) == before
    view: CaseView = await handle.execute_update(
        ValuePushWorkflow.record_analysis,
        d.EffectAnalysis(actor="运营小E", decision="replace", improvement_note="改推免费检测服务"),
    )
    assert view.state == "closed" and await handle.result() == "replace"
    case = rows(settings, "SELECT state, outcome FROM cases WHERE number=%s", handle.id)[0]
    assert case == {"state": "closed", "outcome": "replace"}


# -- the schedules' workflows, run directly ------------------------------------------------------------------------


async def test_vp2_monthly_planner_starts_one_campaign_per_active_tag_and_never_twice(
    env, client, settings, worker
):
    fan = customer(settings, tags=["high_activity"], preferred="sms")
    seeded = rows(
        settings,
        "SELECT id, tag, service FROM push_services WHERE push_type='monthly' AND active ORDER BY id",
    )
    assert {(r["tag"], r["service"]) for r in seeded} >= {
        ("high_activity", "新功能教程"),
        ("upgrade_need", "套餐优惠"),
        ("after_sales_care", "免费检测服务"),
    }
    at = datetime(2030, 4, 30, 17, 0, tzinfo=UTC)  # 1 May 01:00 in Shanghai
    numbers = [f"VP-203005-M{r['id']}" for r in seeded]
    run = await client.execute_workflow(
        MonthlyPushPlanner.run,
        d.PlanRequest(at=at),
        id=f"plan-{uuid.uuid4().hex[:6]}",
        task_queue=settings.task_queue,
    )
    STARTED.extend(run.started)
    assert run.started == numbers and run.existing == []
    high = next(n for n, r in zip(numbers, seeded, strict=True) if r["tag"] == "high_activity")
    campaign = client.get_workflow_handle(high)
    record = await pushed(settings, campaign)
    assert record["service"] == "新功能教程" and deliveries(settings, high)[fan]["channel"] == "sms"
    again = await client.execute_workflow(
        MonthlyPushPlanner.run,
        d.PlanRequest(at=at),
        id=f"plan-{uuid.uuid4().hex[:6]}",
        task_queue=settings.task_queue,
    )
    assert again.started == [] and again.existing == numbers
    assert len(deliveries(settings, high)) == len(
        rows(settings, "SELECT 1 FROM customers WHERE tags ? 'high_activity'")
    )


async def test_vp2_occasions_start_a_birthday_and_a_renewal_campaign(env, client, settings, worker):
    at = datetime(2030, 7, 15, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai
    born = customer(settings, tags=[], birthday=date(1990, 7, 15), preferred="wechat")
    renewing = customer(settings, tags=[], contract_end=date(2030, 8, 14))
    customer(settings, tags=[], contract_end=date(2030, 8, 20))  # not yet
    run = await client.execute_workflow(
        PushOccasionsWorkflow.run,
        d.OccasionRequest(at=at),
        id=f"occasions-{uuid.uuid4().hex[:6]}",
        task_queue=settings.task_queue,
    )
    STARTED.extend(run.started)
    assert run.started == ["VP-20300715-B", "VP-20300715-R"]
    await pushed(settings, client.get_workflow_handle("VP-20300715-B"))
    await pushed(settings, client.get_workflow_handle("VP-20300715-R"))
    assert {k: v["channel"] for k, v in deliveries(settings, "VP-20300715-B").items()} == {born: "wechat"}
    assert set(deliveries(settings, "VP-20300715-R")) == {renewing}
    records = rows(
        settings,
        "SELECT case_number, push_type, service FROM push_records WHERE case_number LIKE 'VP-20300715-%%'",
    )
    assert {(r["push_type"], r["service"]) for r in records} == {
        ("birthday", "生日专属礼遇"),
        ("renewal", "续约专属优惠"),
    }
    again = await client.execute_workflow(
        PushOccasionsWorkflow.run,
        d.OccasionRequest(at=at),
        id=f"occasions-{uuid.uuid4().hex[:6]}",
        task_queue=settings.task_queue,
    )
    assert again.started == [] and again.existing == ["VP-20300715-B", "VP-20300715-R"]
    quiet = await client.execute_workflow(
        PushOccasionsWorkflow.run,
        d.OccasionRequest(at=at + timedelta(days=2)),
        id=f"occasions-{uuid.uuid4().hex[:6]}",
        task_queue=settings.task_queue,
    )
    assert quiet.started == [] and quiet.existing == []


_CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")
_CRON_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]


async def test_vp2_recurring_schedules_are_well_formed(settings):
    assert [r.id for r in vp.RECURRING] == ["value-push-monthly", "value-push-occasions"]
    for item in vp.RECURRING:
        fields = item.cron.split()
        assert len(fields) == 5, item.cron
        for value, (low, high) in zip(fields, _CRON_RANGES, strict=True):
            assert _CRON_FIELD.match(value), item.cron
            assert all(low <= int(n) <= high for n in re.findall(r"\d+", value.split("/")[0])), item.cron
        # The workflow the schedule starts is one the worker registers.
        assert workflow._Definition.must_from_run_fn(item.workflow).cls in registry.WORKFLOWS
        assert item in registry.RECURRING
        schedule = schedule_of(item, settings)
        assert schedule.spec.time_zone_name == "Asia/Shanghai" and schedule.action.id == item.id
    assert vp.RECURRING[0].cron == "0 9 1 * *"  # the 1st of every month
