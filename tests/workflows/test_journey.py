"""Customer journeys and care tasks (R-2, R-3, R-4, R-7) on the time-skipping server with real activities."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from api import journeys
from config import Settings
from domain import care as c
from domain.models import CaseView
from tests.workflows.helpers import close_case, eventually, rows, rows_eventually
from workflows.care import CareTaskWorkflow
from workflows.journey import CustomerJourneyWorkflow, journey_id

TASKS = (
    "SELECT c.number, c.state, c.owner, c.owner_role, c.current_step, c.sla_state, c.escalation_level,"
    " c.opened_at, c.outcome, r.kind, r.occasion, r.note, r.result, r.result_note, r.attempts"
    " FROM cases c JOIN care_records r ON r.case_number = c.number"
    " WHERE c.customer_id = %s AND c.process = 'care' ORDER BY c.opened_at, c.number"
)


def customer(
    settings: Settings,
    *,
    tier: str = "normal",
    owner: str | None = None,
    birthday: date | None = None,
    anniversary: date | None = None,
    contract_end: date | None = None,
) -> int:
    return rows(
        settings,
        "INSERT INTO customers (type, name, email, phone, contacts, tier, owner, birthday, anniversary,"
        " contract_end) VALUES ('enterprise', %s, 'buyer@example.com', '13800138000', '[]', %s, %s, %s, %s, %s)"
        " RETURNING id",
        f"旅程客户-{uuid.uuid4().hex[:6]}",
        tier,
        owner,
        birthday,
        anniversary,
        contract_end,
    )[0]["id"]


def messages(settings: Settings, customer_id: int, purpose: str) -> list[dict[str, Any]]:
    return rows(
        settings,
        "SELECT subject, body, channel FROM notifications WHERE recipient=%s AND purpose=%s ORDER BY id",
        f"customer:{customer_id}",
        purpose,
    )


async def tasks(settings: Settings, customer_id: int, count: int = 1) -> list[dict[str, Any]]:
    """The customer's care tasks once ``count`` of them have opened their step."""

    def opened() -> list[dict[str, Any]] | None:
        found = rows(settings, TASKS, customer_id)
        return found if sum(t["current_step"] is not None for t in found) >= count else None

    return await eventually(opened, f"{count} care task(s) of customer {customer_id}")


async def task_view(client: Client, number: str, step: str | None = None) -> CaseView:
    handle = client.get_workflow_handle(number)

    async def opened() -> CaseView | None:
        view = await handle.query(CareTaskWorkflow.view)
        return view if view.open_step and (step is None or view.open_step.step == step) else None

    for _ in range(200):
        if found := await opened():
            return found
        await _pause()
    raise AssertionError(f"{number} never opened {step}")


async def _pause() -> None:
    import asyncio

    await asyncio.sleep(0.05)


def journey(client: Client, customer_id: int) -> WorkflowHandle:
    return client.get_workflow_handle(journey_id(customer_id))


async def journey_view(client: Client, customer_id: int) -> c.JourneyView:
    return await journey(client, customer_id).query(CustomerJourneyWorkflow.view)


async def close_tasks(client: Client, settings: Settings, customer_id: int) -> None:
    for task in rows(settings, TASKS, customer_id):
        if task["state"] != "closed":
            await close_case(client.get_workflow_handle(task["number"]))


async def now(env: WorkflowEnvironment) -> datetime:
    return await env.get_current_time()


# -- R-2 -----------------------------------------------------------------------------------------------------


async def test_r2_first_purchase_sends_welcome_and_opens_48h_callback(env, client, settings, worker):
    cid = customer(settings, owner="am_wang")
    await journeys.purchased(client, settings, cid, "12800.00", at=await now(env))
    welcome = await eventually(lambda: messages(settings, cid, "welcome"), "the welcome guide")
    assert len(welcome) == 1 and "服务指南" in welcome[0]["subject"]
    [task] = await tasks(settings, cid)
    assert (task["kind"], task["occasion"], task["owner"]) == (
        "welcome_callback",
        "first_transaction",
        "am_wang",
    )
    assert task["number"].startswith("CR-") and task["owner_role"] == "agent"
    view = await task_view(client, task["number"], "welcome_callback")
    assert view.open_step.due_at - view.open_step.opened_at == timedelta(hours=48)
    assert view.actions[:2] == ["complete", "reschedule"] and view.owner == "am_wang"
    state = (await journey_view(client, cid)).state
    assert state.welcomed_at is not None and state.purchases == 1 and state.tasks == [task["number"]]
    saved = await rows_eventually(settings, "SELECT * FROM customer_journeys WHERE customer_id=%s", cid)
    assert saved[0]["welcomed_at"] is not None and saved[0]["purchases"] == 1
    # A second order is no first transaction: no second welcome, no second callback.
    await journeys.purchased(client, settings, cid, "300", at=await now(env))
    await eventually(
        lambda: rows(settings, "SELECT 1 FROM customer_journeys WHERE customer_id=%s AND purchases=2", cid)
    )
    assert len(messages(settings, cid, "welcome")) == 1 and len(rows(settings, TASKS, cid)) == 1
    # The agent calls back and records it: the task closes with its result.
    handle = client.get_workflow_handle(task["number"])
    await handle.execute_update(
        CareTaskWorkflow.complete,
        c.CareDone(actor="小王", result="completed", note="客户已开始使用，反馈良好"),
    )
    assert await handle.result() == "completed"
    [task] = rows(settings, TASKS, cid)
    assert task["state"] == "closed" and task["result_note"] == "客户已开始使用，反馈良好"


async def test_r2_repeat_customer_gets_no_welcome(env, client, settings, worker):
    cid = customer(settings)
    earlier = (await now(env)) - timedelta(days=200)
    rows(
        settings,
        "INSERT INTO transactions (customer_id, amount, occurred_at, external_id, source)"
        " VALUES (%s, 5000, %s, %s, 'erp') RETURNING id",
        cid,
        earlier,
        f"T-{uuid.uuid4().hex[:10]}",
    )
    await journeys.purchased(client, settings, cid, "800", at=await now(env))
    state = await eventually(
        lambda: rows(settings, "SELECT * FROM customer_journeys WHERE customer_id=%s", cid), "journey saved"
    )
    assert state[0]["purchases"] == 1 and state[0]["welcomed_at"] is None
    assert state[0]["first_purchase_at"] == earlier
    assert messages(settings, cid, "welcome") == [] and rows(settings, TASKS, cid) == []


async def test_r2_callback_task_escalates_when_late(env: WorkflowEnvironment, client, settings, worker):
    cid = customer(settings, owner="am_zhao")
    await journeys.purchased(client, settings, cid, "999", at=await now(env))
    [task] = await tasks(settings, cid)
    await task_view(client, task["number"], "welcome_callback")
    await env.sleep(timedelta(hours=39))
    assert (await task_view(client, task["number"])).sla_state == "warning"
    await env.sleep(timedelta(hours=10))
    view = await task_view(client, task["number"])
    assert view.sla_state == "breached" and view.escalation_level == 1
    # The owner by name (the customer's account manager), then every supervisor (ESC-1).
    told = await rows_eventually(
        settings,
        "SELECT purpose, recipient_role, min(recipient) AS recipient FROM notifications"
        " WHERE case_number=%s AND channel='inbox' GROUP BY 1, 2 ORDER BY min(id)",
        task["number"],
        count=3,
    )
    assert [(n["purpose"], n["recipient_role"]) for n in told] == [
        ("warning", "agent"),
        ("breach", "agent"),
        ("escalation", "supervisor"),
    ]
    assert told[0]["recipient"] == told[1]["recipient"] == "am_zhao"
    # Not reachable: the task opens again, due at the new time, and is on track again.
    retry = (await now(env)) + timedelta(days=1)
    view = await client.get_workflow_handle(task["number"]).execute_update(
        CareTaskWorkflow.reschedule, c.Reschedule(actor="小赵", reason="unreachable", retry_at=retry)
    )
    assert view.open_step.seq == 2 and view.sla_state == "on_track"
    assert abs((view.open_step.due_at - retry).total_seconds()) < 1
    assert rows(settings, TASKS, cid)[0]["attempts"] == 2
    await close_tasks(client, settings, cid)


# -- R-3 -----------------------------------------------------------------------------------------------------


async def test_r3_renewal_reminder_30_days_before_contract_end(
    env: WorkflowEnvironment, client, settings, worker
):
    today = c.day_of(await now(env))
    ends = today + timedelta(days=40)
    cid = customer(settings, contract_end=ends, owner="am_sun")
    await journeys.start_journey(client, settings, cid)
    saved = await eventually(
        lambda: rows(settings, "SELECT * FROM customer_journeys WHERE customer_id=%s", cid)
    )
    assert saved[0]["next_occasion"] == "contract_ending"
    await env.sleep(timedelta(days=9))
    assert messages(settings, cid, "reminder") == [] and rows(settings, TASKS, cid) == []
    await env.sleep(timedelta(days=2))
    [reminder] = await eventually(lambda: messages(settings, cid, "reminder"), "the renewal reminder")
    assert "合同续约" in reminder["subject"] and ends.isoformat() in reminder["body"]
    [task] = await tasks(settings, cid)
    assert (task["kind"], task["occasion"], task["owner"]) == (
        "renewal_follow_up",
        "contract_ending",
        "am_sun",
    )
    due = c.send_time(ends) - timedelta(days=30)
    assert due <= task["opened_at"] < due + timedelta(days=1)
    await close_tasks(client, settings, cid)


# -- R-4 -----------------------------------------------------------------------------------------------------


async def test_r4_birthday_care_task(env: WorkflowEnvironment, client, settings, worker):
    day = c.day_of(await now(env)) + timedelta(days=3)
    # 1992 and 2016 are leap years: any day of the year is a valid birthday and founding day.
    cid = customer(
        settings, birthday=date(1992, day.month, day.day), anniversary=date(2016, day.month, day.day)
    )
    await journeys.start_journey(client, settings, cid)
    await eventually(lambda: rows(settings, "SELECT 1 FROM customer_journeys WHERE customer_id=%s", cid))
    await env.sleep(timedelta(days=4))
    found = await tasks(settings, cid, count=2)
    assert sorted((t["kind"], t["occasion"]) for t in found) == [
        ("milestone_care", "birthday_care"),
        ("milestone_care", "company_anniversary"),
    ]
    assert all(t["owner_role"] == "account_manager" for t in found)
    # The anniversary greets the customer; the birthday message is the value-added push's birthday campaign.
    [greeting] = messages(settings, cid, "care")
    assert "周年" in greeting["subject"] + greeting["body"]
    await close_tasks(client, settings, cid)


async def test_r4_anniversary_greeting_waits_for_the_frequency_cap(
    env: WorkflowEnvironment, client, settings, worker
):
    """R-6: a greeting is a touch; a customer at the month's cap gets none, but the owner's task still opens."""
    day = c.day_of(await now(env)) + timedelta(days=2)
    cid = customer(settings, anniversary=date(2016, day.month, day.day))
    cap = rows(settings, "SELECT coalesce(max(max_per_month), 4) AS cap FROM touch_policy")[0]["cap"]
    for n in range(cap):
        rows(
            settings,
            "INSERT INTO customer_touches (key, customer_id, kind, source, tier, at)"
            " VALUES (%s, %s, 'push', 'VP-T', 'normal', %s) RETURNING id",
            f"test:{cid}:{n}",
            cid,
            c.send_time(day),
        )
    await journeys.start_journey(client, settings, cid)
    await eventually(lambda: rows(settings, "SELECT 1 FROM customer_journeys WHERE customer_id=%s", cid))
    await env.sleep(timedelta(days=3))
    [task] = await tasks(settings, cid)
    assert (task["kind"], task["occasion"]) == ("milestone_care", "company_anniversary")
    assert messages(settings, cid, "care") == []
    await close_tasks(client, settings, cid)


# -- R-7 -----------------------------------------------------------------------------------------------------


async def test_r7_watch_customer_three_months_without_purchase_gets_retention_task(
    env: WorkflowEnvironment, client, settings, worker
):
    last = (await now(env)) - timedelta(days=80)
    watch, normal = customer(settings, tier="watch"), customer(settings, tier="normal")
    for cid in (watch, normal):
        rows(
            settings,
            "INSERT INTO transactions (customer_id, amount, occurred_at, external_id, source)"
            " VALUES (%s, 100, %s, %s, 'erp') RETURNING id",
            cid,
            last,
            f"T-{uuid.uuid4().hex[:10]}",
        )
        await journeys.start_journey(client, settings, cid)
        await eventually(
            lambda cid=cid: rows(settings, "SELECT 1 FROM customer_journeys WHERE customer_id=%s", cid)
        )
    await env.sleep(timedelta(days=9))
    assert rows(settings, TASKS, watch) == []
    await env.sleep(timedelta(days=2))
    [task] = await tasks(settings, watch)
    assert (task["kind"], task["occasion"]) == ("retention", "quiet_watch")
    view = await task_view(client, task["number"], "retention")
    assert view.open_step.target_seconds == 24 * 3600  # 3 working days (the suite runs every clock 24x7)
    assert rows(settings, TASKS, normal) == []
    await close_tasks(client, settings, watch)


async def test_r7_spend_drop_signal_opens_retention_task(env, client, settings, worker):
    cid = customer(settings, tier="key", owner="am_qian")
    await journeys.signal_journey(client, settings, cid, "spend_dropped")
    [task] = await tasks(settings, cid)
    assert (task["kind"], task["occasion"], task["owner"]) == ("retention", "spend_decline", "am_qian")
    handle = client.get_workflow_handle(task["number"])
    await task_view(client, task["number"], "retention")
    await handle.execute_update(
        CareTaskWorkflow.complete, c.CareDone(actor="小钱", result="retained", note="已提供季度优惠")
    )
    assert await handle.result() == "retained"
    # The same day's second warning names the same (finished) task: nothing new is opened.
    await journeys.signal_journey(client, settings, cid, "spend_dropped")
    await eventually(lambda: rows(settings, "SELECT 1 FROM customer_journeys WHERE customer_id=%s", cid))
    view = await journey_view(client, cid)
    for _ in range(100):
        if view.state.events >= 2:
            break
        await _pause()
        view = await journey_view(client, cid)
    assert view.state.events == 2 and view.state.tasks == [task["number"]]
    assert len(rows(settings, TASKS, cid)) == 1


# -- continue-as-new -------------------------------------------------------------------------------------------


async def test_journey_continues_as_new_keeping_state(env: WorkflowEnvironment, client, settings, worker):
    cid = customer(settings)
    await journeys.purchased(client, settings, cid, "500", at=await now(env))
    [task] = await tasks(settings, cid)
    await close_case(client.get_workflow_handle(task["number"]))
    first_run = (await journey(client, cid).describe()).run_id
    await env.sleep(timedelta(days=366))
    described = await journey(client, cid).describe()
    assert described.run_id != first_run
    view = await journey_view(client, cid)
    assert view.state.runs == 2 and view.state.purchases == 1 and view.state.welcomed_at is not None
    # The year of partnership came on the way: its task and greeting, handled once.
    assert "partnership:1" in view.state.done
    await journeys.purchased(client, settings, cid, "700", at=await now(env))
    await eventually(
        lambda: rows(settings, "SELECT 1 FROM customer_journeys WHERE customer_id=%s AND purchases=2", cid)
    )
    assert len(messages(settings, cid, "welcome")) == 1
    assert len(messages(settings, cid, "care")) == 1
    await close_tasks(client, settings, cid)
