"""SAT-2: the periodic NPS / CSAT rounds on the time-skipping server, with real activities on real Postgres,
a real SMTP sink and a real HTTP SMS gateway; and the Temporal Schedules that start them."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from config import Settings
from db.engine import transaction
from db.models import Case, Customer
from domain.surveys import ROUND_PURPOSE, SurveyKind, SurveyRoundResult, SurveyRoundStart, round_label, verify
from tests.activities.helpers import Gateway, MailSink, start_mail_sink, unique
from tests.workflows.helpers import rows
from workflows import registry
from workflows.schedules import TIME_ZONE, schedule_of
from workflows.survey_rounds import RECURRING, SurveyRoundWorkflow


@dataclass
class Channels:
    settings: Settings
    mail: MailSink
    gateway: Gateway


@pytest.fixture
async def channels(env: WorkflowEnvironment, settings: Settings, tmp_path: Path) -> AsyncIterator[Channels]:
    """A worker of its own whose notifier really sends: email to an SMTP sink, SMS to an HTTP gateway."""
    from worker import build_worker

    sink, task = await start_mail_sink(tmp_path / "mail")
    gateway = Gateway().start()
    sending = settings.model_copy(
        update={
            "task_queue": f"q-rounds-{uuid.uuid4().hex[:8]}",
            "smtp_host": "127.0.0.1",
            "smtp_port": sink.port,
            "gateway_url": gateway.url,
        }
    )
    try:
        async with build_worker(env.client, sending):
            yield Channels(sending, sink, gateway)
    finally:
        gateway.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@dataclass
class People:
    by_email: int  # active, with an email address
    by_phone: int  # active, with a phone number only
    no_contact: int  # active, but neither
    no_case: int  # an email address, but never a case
    lapsed: int  # an email address, last case over a year ago
    email: str
    phone: str


async def add_customer(url: str, *, email: str | None, phone: str | None, case_at: datetime | None) -> int:
    async with transaction(url) as db:
        customer = Customer(name=unique("客户"), email=email, phone=phone, contacts=[])
        db.add(customer)
        await db.flush()
        if case_at is not None:
            db.add(
                Case(
                    number=unique("T-"),
                    process="aftersales",
                    customer_id=customer.id,
                    tier_at_open="normal",
                    state="closed",
                    outcome="resolved",
                    policy_version="1",
                    opened_at=case_at,
                    closed_at=case_at,
                )
            )
        return customer.id


async def people(settings: Settings, now: datetime) -> People:
    url = settings.sqlalchemy_url()
    email, phone = f"{unique('c')}@example.com", f"139{uuid.uuid4().int % 10**8:08d}"
    recent = now - timedelta(days=30)
    return People(
        by_email=await add_customer(url, email=email, phone=None, case_at=recent),
        by_phone=await add_customer(url, email=None, phone=phone, case_at=recent),
        no_contact=await add_customer(url, email=None, phone="", case_at=recent),
        no_case=await add_customer(url, email=f"{unique('c')}@example.com", phone=None, case_at=None),
        lapsed=await add_customer(
            url, email=f"{unique('c')}@example.com", phone=None, case_at=now - timedelta(days=400)
        ),
        email=email,
        phone=phone,
    )


async def run_round(
    env: WorkflowEnvironment, channels: Channels, start: SurveyRoundStart
) -> SurveyRoundResult:
    # A round needs no timer. Waiting on env.client lets the test server skip time (years, firing every
    # timer of the cases other tests left running); a plain client on the same connection does not.
    plain = Client(
        env.client.service_client, namespace=env.client.namespace, data_converter=env.client.data_converter
    )
    return await plain.execute_workflow(
        SurveyRoundWorkflow.run,
        start,
        id=f"survey-round-test-{uuid.uuid4().hex[:8]}",
        task_queue=channels.settings.task_queue,
    )


def surveys_in(settings: Settings, label: str) -> dict[int, dict]:
    found = rows(settings, "SELECT * FROM surveys WHERE round=%s", label)
    by_customer = {r["customer_id"]: r for r in found}
    assert len(by_customer) == len(found), "a customer was surveyed twice in one round"
    return by_customer


def eligible(settings: Settings, now: datetime, up_to: int) -> set[int]:
    found = rows(
        settings,
        "SELECT id FROM customers c WHERE id <= %s"
        " AND (coalesce(email, '') <> '' OR coalesce(phone, '') <> '')"
        " AND EXISTS (SELECT 1 FROM cases WHERE customer_id = c.id AND opened_at >= %s)",
        up_to,
        now - timedelta(days=365),
    )
    return {r["id"] for r in found}


async def test_sat2_nps_round_surveys_each_active_customer_once_and_a_rerun_sends_nothing_new(
    env: WorkflowEnvironment, settings, channels: Channels
):
    now = await env.get_current_time()
    who = await people(settings, now)
    result = await run_round(env, channels, SurveyRoundStart(kind=SurveyKind.NPS))

    label = round_label(SurveyKind.NPS, now)  # the quarter the round ran in, China time
    assert result.round == label
    sent = surveys_in(settings, label)
    assert who.by_email in sent and who.by_phone in sent
    assert not {who.no_contact, who.no_case, who.lapsed} & set(sent)
    assert eligible(settings, now, up_to=who.lapsed) <= set(sent)
    assert result.customers == result.issued == len(sent) and result.failed == 0
    mine = sent[who.by_email]
    assert mine["kind"] == "nps" and mine["case_number"] is None
    assert mine["expires_at"] - mine["issued_at"] == timedelta(days=7)

    # The customer's email carries a working link to their own survey.
    [mail] = [m for m in channels.mail.messages() if m["To"] == who.email]
    assert "推荐" in mail["Subject"]
    body = mail.get_content()
    token = body.split("/s/", 1)[1].split()[0]
    assert verify(token, settings.signing_key()) == mine["id"]
    # The phone-only customer gets it by SMS through the gateway.
    [sms] = [r["json"] for r in channels.gateway.requests if r["json"]["to"] == who.phone]
    assert (
        sms["channel"] == "sms" and "0–10" in sms["text"] and f"/s/{sent[who.by_phone]['id']}." in sms["text"]
    )
    outbox = rows(
        settings,
        "SELECT purpose, status, case_number FROM notifications WHERE recipient=%s",
        f"customer:{who.by_email}",
    )
    assert outbox == [{"purpose": ROUND_PURPOSE[SurveyKind.NPS], "status": "sent", "case_number": None}]

    mails, texts = len(channels.mail.messages()), len(channels.gateway.requests)
    round_rows = "SELECT key, status FROM notifications WHERE key LIKE %s ORDER BY key"
    notifications = rows(settings, round_rows, f"survey-round:{label}:%")
    assert len(notifications) >= len(sent)  # one per customer and channel
    # The same round again, as after a restarted schedule run.
    again = await run_round(env, channels, SurveyRoundStart(kind=SurveyKind.NPS, round=label))
    assert (again.round, again.issued, again.customers) == (label, 0, result.customers)
    assert surveys_in(settings, label) == sent
    assert len(channels.mail.messages()) == mails and len(channels.gateway.requests) == texts
    assert rows(settings, round_rows, f"survey-round:{label}:%") == notifications


async def test_sat2_csat_round_uses_its_own_template_and_a_low_answer_opens_a_task(
    env: WorkflowEnvironment, settings, channels: Channels
):
    from activities.surveys import answer

    now = await env.get_current_time()
    who = await people(settings, now)
    label = unique("csat-T")
    result = await run_round(env, channels, SurveyRoundStart(kind=SurveyKind.CSAT, round=label))
    assert result.round == label and result.issued == result.customers >= 2
    sent = surveys_in(settings, label)
    [mail] = [m for m in channels.mail.messages() if m["To"] == who.email]
    assert "年度客户满意度调查" in mail["Subject"] and "1–5 分" in mail.get_content()
    async with transaction(settings.sqlalchemy_url()) as db:
        answered = await answer(
            db, sent[who.by_email]["id"], score=2, comment="响应慢", via="link", by=None, at=now
        )
    [task] = rows(settings, "SELECT * FROM improvement_tasks WHERE id=%s", answered.improvement_task)
    assert task["case_number"] is None and task["customer_id"] == who.by_email


async def test_sat2_batches_walk_every_customer_when_there_are_more_than_one_batch(
    env: WorkflowEnvironment, settings, channels: Channels
):
    """With a batch of 2 the round takes several activities and still surveys everyone once."""
    now = await env.get_current_time()
    who = await people(settings, now)
    label = unique("nps-T")
    result = await run_round(env, channels, SurveyRoundStart(kind=SurveyKind.NPS, round=label, batch=2))
    sent = surveys_in(settings, label)
    assert result.customers == result.issued == len(sent) >= 2
    assert eligible(settings, now, up_to=who.lapsed) <= set(sent)


# -- the schedules -------------------------------------------------------------------------------------------


def cron_values(field: str, low: int, high: int) -> set[int]:
    """The values a (minute | hour | day | month | weekday) cron field names; AssertionError if malformed."""
    values: set[int] = set()
    for item in field.split(","):
        part, _, step = item.partition("/")
        if part == "*":
            start, end = low, high
        elif "-" in part:
            start, end = (int(x) for x in part.split("-"))
        else:
            start = end = int(part)
        assert low <= start <= end <= high, f"{item} is outside {low}-{high}"
        values.update(range(start, end + 1, int(step) if step else 1))
    return values


def test_sat2_recurring_rounds_are_well_formed(settings):
    by_kind = {item.arg.kind: item for item in RECURRING}
    assert set(by_kind) == {SurveyKind.NPS, SurveyKind.CSAT}
    assert SurveyRoundWorkflow in registry.WORKFLOWS
    ids = [item.id for item in registry.RECURRING]
    assert len(ids) == len(set(ids)) and {i.id for i in RECURRING} <= set(ids)
    for item in RECURRING:
        minute, hour, day, month, weekday = item.cron.split()
        fields = (minute, 0, 59), (hour, 0, 23), (day, 1, 31), (month, 1, 12), (weekday, 0, 6)
        assert all(cron_values(f, lo, hi) for f, lo, hi in fields)
        assert item.workflow is SurveyRoundWorkflow.run and item.arg.round is None and item.note
        schedule = schedule_of(item, settings)
        assert schedule.spec.time_zone_name == TIME_ZONE == "Asia/Shanghai"
        assert schedule.spec.cron_expressions == [item.cron]
        assert schedule.action.task_queue == settings.task_queue  # type: ignore[attr-defined]
    # NPS once a quarter, CSAT once a year, never in the same month.
    nps_months = cron_values(by_kind[SurveyKind.NPS].cron.split()[3], 1, 12)
    csat_months = cron_values(by_kind[SurveyKind.CSAT].cron.split()[3], 1, 12)
    assert sorted((m - 1) // 3 for m in nps_months) == [0, 1, 2, 3] and len(csat_months) == 1
    assert not nps_months & csat_months
    assert round_label(SurveyKind.NPS, datetime.fromisoformat("2026-12-15T02:00:00+00:00")) == "nps-2026Q4"
    assert round_label(SurveyKind.CSAT, datetime.fromisoformat("2026-12-31T17:00:00+00:00")) == "csat-2027"
