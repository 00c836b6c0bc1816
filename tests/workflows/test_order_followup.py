"""Order follow-up end to end on the time-skipping server with real activities on real Postgres (OF-1..OF-4)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from config import Settings
from domain import order_followup as d
from domain.actions import Closure
from domain.models import CaseRef, NewCustomer, Process
from domain.surveys import SatisfactionCallback
from tests.workflows.helpers import events, eventually, rows, wait_for_step
from tests.workflows.helpers import view as view_of
from workflows.order_followup import OrderFollowupWorkflow

FACTS_OK = {f: True for f in d.FACTS}


async def start_order(
    client: Client, settings: Settings, *, planned: list[dict[str, Any]] | None = None, **kw: Any
) -> WorkflowHandle:
    number = f"OF-T{uuid.uuid4().hex[:8]}"
    intake = d.OrderFollowupIntake(
        **{
            "channel": "api",
            "order_no": f"DD{uuid.uuid4().hex[:10]}",
            "amount": "50000",
            "model": "V3.0标准版",
            "quantity": 2,
            "payment_status": "paid",
            "address": "上海市浦东新区张江路 100 号",
            "contact": "王先生 13800138000",
            "planned": planned or [],
            **kw,
        }
    )
    start = d.OrderFollowupStart(
        case=CaseRef(
            number=number,
            process=Process.ORDER_FOLLOWUP,
            new_customer=NewCustomer(name="某某公司", email="buyer@example.com", phone="13800138000"),
            actor="test",
        ),
        intake=intake,
    )
    return await client.start_workflow(
        OrderFollowupWorkflow.run, start, id=number, task_queue=settings.task_queue
    )


async def close(handle: WorkflowHandle) -> None:
    """Staff close the case; it ends cleanly (terminating it mid-activity would stall the test server's clock)."""
    await handle.execute_update(OrderFollowupWorkflow.close, Closure(actor="主管", reason="test done"))
    assert await handle.result() == "closed_by_staff"


async def send(handle: WorkflowHandle, type: str, event_id: str | None = None, **kw: Any) -> str:
    event_id = event_id or uuid.uuid4().hex
    await handle.signal(
        OrderFollowupWorkflow.order_event, d.ReceivedEvent(event_id=event_id, type=type, **kw)
    )
    return event_id


async def confirmed(handle: WorkflowHandle, settings: Settings) -> None:
    await wait_for_step(handle, "order_confirmation")
    await handle.execute_update(
        OrderFollowupWorkflow.confirm_order, d.OrderConfirmation(actor="订单专员小周", **FACTS_OK)
    )
    await eventually(lambda: "order_confirmation_sent" in events(settings, handle.id))


def record(settings: Settings, number: str) -> dict[str, Any]:
    return rows(settings, "SELECT * FROM order_records WHERE case_number=%s", number)[0]


def notices(settings: Settings, number: str, purpose: str) -> list[dict[str, Any]]:
    return rows(
        settings,
        "SELECT * FROM notifications WHERE case_number=%s AND purpose=%s ORDER BY id",
        number,
        purpose,
    )


async def now(env: WorkflowEnvironment) -> datetime:
    return await env.get_current_time()


# -- OF-1 ---------------------------------------------------------------------------------------------------


async def test_of1_order_is_recorded_with_its_facts_and_a_two_hour_confirmation(
    env, client, settings, worker
):
    ship = (await now(env)) + timedelta(days=5)
    handle = await start_order(client, settings, planned=[{"milestone": "ship", "planned_at": ship}])
    view = await wait_for_step(handle, "order_confirmation")
    assert view.open_step.due_at - view.open_step.opened_at == timedelta(hours=2)
    assert view.open_step.owner_role == "order_specialist"
    assert "confirm_order" in view.actions and "record_order_event" in view.actions
    row = record(settings, handle.id)
    assert row["model"] == "V3.0标准版" and row["quantity"] == 2 and row["amount"] == 50000
    assert row["payment_status"] == "paid" and row["address"].startswith("上海市")
    assert row["channel"] == "api" and row["contact"] == "王先生 13800138000"
    assert row["order_status"] == "pending_production" and row["milestone"] == "ship"
    assert row["due_date"] == ship and row["milestones"]["ship"]["done_at"] is None
    await close(handle)


async def test_of1_unconfirmed_order_warns_then_breaches_to_the_supervisor(
    env: WorkflowEnvironment, client, settings, worker
):
    handle = await start_order(client, settings)
    await wait_for_step(handle, "order_confirmation")
    await env.sleep(timedelta(minutes=100))  # warning at 80 % of 2 h
    assert (await view_of(handle)).sla_state == "warning"
    await env.sleep(timedelta(minutes=25))
    view = await view_of(handle)
    assert view.sla_state == "breached" and view.escalation_level == 1

    def inbox() -> list[tuple[str, str]]:
        told = rows(
            settings,
            "SELECT purpose, recipient_role FROM notifications WHERE case_number=%s AND channel='inbox'"
            " GROUP BY 1, 2 ORDER BY min(id)",
            handle.id,
        )
        return [(n["purpose"], n["recipient_role"]) for n in told]

    await eventually(lambda: len(inbox()) == 3, "the escalation notice is written")  # after the breach's
    assert inbox() == [
        ("warning", "order_specialist"),
        ("breach", "order_specialist"),
        ("escalation", "supervisor"),
    ]
    await close(handle)


async def test_of1_confirmed_order_sends_the_customer_its_number_and_key_facts(env, client, settings, worker):
    handle = await start_order(client, settings)
    await confirmed(handle, settings)
    row = record(settings, handle.id)
    assert row["confirmed_at"] is not None
    [mail] = notices(settings, handle.id, "order_confirmation")
    assert mail["recipient"].startswith("customer:") and mail["channel"] == "email"
    assert row["order_no"] in mail["subject"] and row["order_no"] in mail["body"]
    assert "V3.0标准版 × 2" in mail["body"] and "已付清" in mail["body"] and "张江路" in mail["body"]
    step = rows(settings, "SELECT * FROM case_steps WHERE case_number=%s", handle.id)[0]
    assert step["step"] == "order_confirmation" and step["outcome"]["address_ok"] is True
    assert (await view_of(handle)).open_step is None  # now following the order's events
    await close(handle)


async def test_of1_doubt_goes_to_the_sales_consultant_within_30_minutes(env, client, settings, worker):
    handle = await start_order(client, settings)
    await wait_for_step(handle, "order_confirmation")
    with pytest.raises(ValueError, match="doubt"):
        d.OrderConfirmation(actor="小周", **{**FACTS_OK, "address_ok": False})
    with pytest.raises(ValueError, match="address"):  # a correction never blanks a fact
        d.DoubtCleared(actor="销售小吴", sales_answer="地址作废", address="")
    view = await handle.execute_update(
        OrderFollowupWorkflow.confirm_order,
        d.OrderConfirmation(actor="小周", **{**FACTS_OK, "address_ok": False}, doubt="地址缺少门牌号"),
    )
    assert view.open_step.step == "order_doubt"
    assert view.open_step.due_at - view.open_step.opened_at == timedelta(minutes=30)
    await eventually(lambda: notices(settings, handle.id, "order_doubt"))
    [doubt] = [n for n in notices(settings, handle.id, "order_doubt") if n["channel"] == "inbox"]
    assert doubt["recipient_role"] == "sales_consultant" and "地址缺少门牌号" in doubt["body"]
    assert not notices(settings, handle.id, "order_confirmation")  # nothing to the customer yet
    await handle.execute_update(
        OrderFollowupWorkflow.clear_doubt,
        d.DoubtCleared(
            actor="销售小吴", sales_answer="客户补充了门牌号", address="上海市浦东新区张江路 100 号 3 号楼"
        ),
    )
    await eventually(lambda: notices(settings, handle.id, "order_confirmation"))
    assert record(settings, handle.id)["address"].endswith("3 号楼")
    assert "3 号楼" in notices(settings, handle.id, "order_confirmation")[0]["body"]
    await close(handle)


# -- OF-2 ---------------------------------------------------------------------------------------------------


async def test_of2_status_events_move_the_order_and_are_handled_in_order_after_an_open_step(
    env, client, settings, worker
):
    handle = await start_order(client, settings)
    await wait_for_step(handle, "order_confirmation")
    ship = (await now(env)) + timedelta(days=4)
    # They arrive while the confirmation is open: queued, then handled in arrival order; a resend is dropped.
    first = await send(handle, "scheduled", milestone="ship", planned_at=ship)
    await send(handle, "scheduled", event_id=first, milestone="ship", planned_at=ship + timedelta(days=9))
    await send(handle, "production_started")
    await send(handle, "shipped")
    await confirmed(handle, settings)
    await eventually(lambda: "order_shipped" in events(settings, handle.id))
    assert [k for k in events(settings, handle.id) if k.startswith("order_")] == [
        "order_confirmation_sent",
        "order_scheduled",
        "order_production_started",
        "order_shipped",
    ]
    row = record(settings, handle.id)
    assert row["order_status"] == "shipped" and row["milestone"] == "ship"
    assert row["due_date"] == ship and row["done_date"] is not None
    assert set(row["milestones"]) == {"production", "ship"}
    # A late production_started does not move the order back.
    await send(handle, "production_started")
    await eventually(lambda: events(settings, handle.id).count("order_production_started") == 2)
    assert record(settings, handle.id)["order_status"] == "shipped"
    await close(handle)


async def test_of2_milestone_notice_goes_24h_before_not_earlier_and_once_per_date(
    env: WorkflowEnvironment, client, settings, worker
):
    ship = (await now(env)) + timedelta(days=3)
    handle = await start_order(client, settings, planned=[{"milestone": "ship", "planned_at": ship}])
    await confirmed(handle, settings)
    await env.sleep(ship - timedelta(hours=24, minutes=5) - await now(env))
    assert not notices(settings, handle.id, "milestone_notice")
    await env.sleep(timedelta(minutes=10))
    await eventually(lambda: "milestone_notice_sent" in events(settings, handle.id))
    [notice] = notices(settings, handle.id, "milestone_notice")
    assert notice["recipient"].startswith("customer:") and "发货" in notice["subject"]
    sent = rows(
        settings,
        "SELECT at, payload FROM case_events WHERE case_number=%s AND kind='milestone_notice_sent'",
        handle.id,
    )
    assert ship - sent[0]["at"] <= timedelta(hours=24)
    assert sent[0]["payload"]["planned_at"] == ship.isoformat()
    # Replanned two days later: one more notice, for the new date, a day before it.
    later = ship + timedelta(days=2)
    await send(handle, "scheduled", milestone="ship", planned_at=later)
    await env.sleep(later - timedelta(hours=25) - await now(env))
    assert len(notices(settings, handle.id, "milestone_notice")) == 1
    await env.sleep(timedelta(hours=2))
    await eventually(lambda: events(settings, handle.id).count("milestone_notice_sent") == 2)
    await env.sleep(timedelta(hours=6))
    assert events(settings, handle.id).count("milestone_notice_sent") == 2
    await close(handle)


async def test_of2_delay_warning_is_due_48h_before_the_milestone_and_moves_it(
    env: WorkflowEnvironment, client, settings, worker
):
    ship = (await now(env)) + timedelta(days=5)
    handle = await start_order(client, settings, planned=[{"milestone": "ship", "planned_at": ship}])
    await confirmed(handle, settings)
    new_date = ship + timedelta(days=3)
    await send(handle, "delay_expected", milestone="ship", reason="原材料延迟到货", new_date=new_date)
    view = await wait_for_step(handle, "delay_warning")
    assert view.open_step.due_at == ship - timedelta(hours=48) and view.sla_state == "on_track"
    assert view.open_step.owner_role == "logistics_coordinator"
    await eventually(lambda: notices(settings, handle.id, "delay_expected"))
    view = await handle.execute_update(
        OrderFollowupWorkflow.warn_delay,
        d.DelayWarning(
            actor="物流小郑", reason="原材料延迟到货", new_date=new_date, message="我们已加急处理"
        ),
    )
    await eventually(lambda: "milestone_replanned" in events(settings, handle.id))
    [mail] = notices(settings, handle.id, "delay_warning")
    assert "原材料延迟到货" in mail["body"] and "我们已加急处理" in mail["body"]
    assert record(settings, handle.id)["due_date"] == new_date
    # The notice follows the new date: none a day before the old one.
    await env.sleep(ship - timedelta(hours=23) - await now(env))
    assert not notices(settings, handle.id, "milestone_notice")
    await close(handle)


async def test_of2_delay_with_too_little_time_left_opens_breached_and_escalates(
    env: WorkflowEnvironment, client, settings, worker
):
    ship = (await now(env)) + timedelta(hours=30)  # less than the 48 h a warning needs
    handle = await start_order(client, settings, planned=[{"milestone": "ship", "planned_at": ship}])
    await confirmed(handle, settings)
    await send(
        handle, "delay_expected", milestone="ship", reason="物流爆仓", new_date=ship + timedelta(days=2)
    )
    await wait_for_step(handle, "delay_warning")
    await eventually(lambda: notices(settings, handle.id, "escalation"))
    view = await view_of(handle)
    assert view.sla_state == "breached" and view.escalation_level == 1
    assert "sla_breached" in events(settings, handle.id)
    escalations = [n for n in notices(settings, handle.id, "escalation") if n["channel"] == "inbox"]
    assert escalations and escalations[0]["recipient_role"] == "supervisor"
    # No "ships tomorrow" notice while the delay is being warned about.
    await env.sleep(timedelta(hours=7))
    assert not notices(settings, handle.id, "milestone_notice")
    await close(handle)


# -- OF-3 ---------------------------------------------------------------------------------------------------


async def test_of3_exception_response_and_resolution_count_from_the_report(
    env: WorkflowEnvironment, client, settings, worker
):
    handle = await start_order(client, settings)
    await wait_for_step(handle, "order_confirmation")
    reported = await now(env)
    # Reported while the confirmation is open: it waits for it, but its clock runs from the report.
    await send(handle, "exception", kind="stock_out", detail="V3.0 标准版缺货 1 台")
    await env.sleep(timedelta(minutes=20))
    await confirmed(handle, settings)
    view = await wait_for_step(handle, "exception_response")
    assert view.open_step.opened_at - reported < timedelta(minutes=1)
    assert view.open_step.due_at - view.open_step.opened_at == timedelta(hours=1)
    await eventually(lambda: notices(settings, handle.id, "order_exception"))
    staff = [n for n in notices(settings, handle.id, "order_exception") if n["channel"] == "inbox"]
    assert staff[0]["recipient_role"] == "order_specialist" and "库存不足" in staff[0]["body"]
    assert "库存不足" in record(settings, handle.id)["exception"]
    view = await handle.execute_update(
        OrderFollowupWorkflow.acknowledge_exception, d.ExceptionAck(actor="小周", note="已联系销售协调替换")
    )
    assert view.open_step.step == "exception_resolution"
    assert view.open_step.due_at - view.open_step.opened_at == timedelta(hours=4)
    assert abs(view.open_step.opened_at - reported) < timedelta(minutes=1)
    new_date = (await now(env)) + timedelta(days=6)
    await handle.execute_update(
        OrderFollowupWorkflow.resolve_exception,
        d.ExceptionResolution(
            actor="小周",
            resolution="substitute",
            detail="改发 V3.1 标准版",
            milestone="delivery",
            new_date=new_date,
        ),
    )
    await eventually(lambda: "milestone_replanned" in events(settings, handle.id))
    [mail] = notices(settings, handle.id, "exception_resolved")
    assert "替换产品" in mail["body"] and "改发 V3.1 标准版" in mail["body"]
    row = record(settings, handle.id)
    assert row["exception"] == "库存不足：V3.0 标准版缺货 1 台 → 替换产品：改发 V3.1 标准版"
    assert row["milestone"] == "delivery" and row["due_date"] == new_date
    await close(handle)


async def test_of3_unanswered_exception_breaches_after_one_hour(
    env: WorkflowEnvironment, client, settings, worker
):
    handle = await start_order(client, settings)
    await confirmed(handle, settings)
    await send(handle, "exception", kind="wrong_address", detail="快递退回：查无此人")
    await wait_for_step(handle, "exception_response")
    await env.sleep(timedelta(minutes=61))
    view = await view_of(handle)
    assert view.open_step.step == "exception_response" and view.sla_state == "breached"
    assert view.escalation_level == 1
    await close(handle)


# -- OF-4 ---------------------------------------------------------------------------------------------------


async def test_of4_satisfaction_after_delivery_and_installation_recorded_by_staff_callback(
    env, client, settings, worker
):
    install = (await now(env)) + timedelta(days=10)
    handle = await start_order(client, settings, planned=[{"milestone": "install", "planned_at": install}])
    await confirmed(handle, settings)
    await send(handle, "delivered")
    await eventually(lambda: "order_delivered" in events(settings, handle.id))
    assert (await view_of(handle)).open_step is None  # installation still to come
    await send(handle, "installed")
    view = await wait_for_step(handle, "delivery_satisfaction")
    assert view.open_step.due_at - view.open_step.opened_at == timedelta(hours=24)
    assert "record_satisfaction" in view.actions
    await eventually(lambda: "survey_sent" in events(settings, handle.id))
    await handle.execute_update(
        OrderFollowupWorkflow.record_satisfaction,
        SatisfactionCallback(actor="客服小李", score=5, comment="安装很及时"),
    )
    assert await handle.result() == "fulfilled"
    row = record(settings, handle.id)
    assert row["satisfaction"] == 5 and row["order_status"] == "installed"
    case = rows(settings, "SELECT * FROM cases WHERE number=%s", handle.id)[0]
    assert case["state"] == "closed" and case["outcome"] == "fulfilled"
    survey = rows(settings, "SELECT * FROM surveys WHERE case_number=%s", handle.id)[0]
    assert survey["score"] == 5 and survey["answered_via"] == "callback"


async def test_of2_staff_record_an_event_mid_step_and_it_is_handled_after_the_step(
    env, client, settings, worker
):
    handle = await start_order(client, settings)
    await wait_for_step(handle, "order_confirmation")
    view = await handle.execute_update(
        OrderFollowupWorkflow.record_order_event,
        d.StaffOrderEvent(actor="客服小李", type="delivered", note="客户来电已签收"),
    )
    assert view.open_step.step == "order_confirmation"  # answered at once; the step is still open
    stored = rows(settings, "SELECT * FROM order_events WHERE case_number=%s", handle.id)
    assert [(e["type"], e["source"]) for e in stored] == [("delivered", "staff:客服小李")]
    await confirmed(handle, settings)
    await wait_for_step(handle, "delivery_satisfaction")
    assert record(settings, handle.id)["order_status"] == "delivered"
    await close(handle)


async def test_of4_satisfaction_is_due_24h_from_receipt_when_the_delivery_waited_in_the_queue(
    env: WorkflowEnvironment, client, settings, worker
):
    handle = await start_order(client, settings)
    await confirmed(handle, settings)
    await send(handle, "exception", kind="changed_details", detail="客户要求改开增值税专票")
    await wait_for_step(handle, "exception_response")
    await send(handle, "delivered")  # signed for while the exception is open: it waits in the queue
    await env.sleep(timedelta(hours=3))
    await handle.execute_update(
        OrderFollowupWorkflow.acknowledge_exception, d.ExceptionAck(actor="小周", note="已转财务")
    )
    await handle.execute_update(
        OrderFollowupWorkflow.resolve_exception,
        d.ExceptionResolution(actor="小周", resolution="other", detail="专票随货补寄"),
    )
    view = await wait_for_step(handle, "delivery_satisfaction")
    [delivered] = rows(
        settings,
        "SELECT payload FROM case_events WHERE case_number=%s AND kind='order_delivered'",
        handle.id,
    )
    received = datetime.fromisoformat(delivered["payload"]["received_at"])
    assert view.open_step.opened_at == received  # not when the queue reached it, three hours later
    assert view.open_step.due_at == received + timedelta(hours=24)
    await close(handle)


async def test_of4_delivery_reported_late_opens_the_satisfaction_step_breached(
    env: WorkflowEnvironment, client, settings, worker
):
    handle = await start_order(client, settings)
    await confirmed(handle, settings)
    signed = (await now(env)) - timedelta(hours=26)  # 2 h past due: the supervisor, not yet the director
    await send(handle, "delivered", occurred_at=signed)
    view = await wait_for_step(handle, "delivery_satisfaction")
    assert view.open_step.due_at == signed + timedelta(hours=24)
    await eventually(lambda: notices(settings, handle.id, "escalation"), "the supervisor hears of it")
    view = await view_of(handle)
    assert view.sla_state == "breached" and view.escalation_level == 1
    assert record(settings, handle.id)["done_date"] == signed
    await close(handle)


async def test_of4_installed_order_gets_its_survey_without_a_delivered_event(env, client, settings, worker):
    install = (await now(env)) + timedelta(days=3)
    handle = await start_order(client, settings, planned=[{"milestone": "install", "planned_at": install}])
    await confirmed(handle, settings)
    await send(handle, "installed")  # the installer's report is the only one that comes
    await wait_for_step(handle, "delivery_satisfaction")
    await eventually(lambda: "survey_sent" in events(settings, handle.id))
    row = record(settings, handle.id)
    assert row["order_status"] == "installed" and row["milestones"]["install"]["done_at"] is not None
    await close(handle)


async def test_of2_milestone_notice_waits_for_the_order_confirmation(
    env: WorkflowEnvironment, client, settings, worker
):
    ship = (await now(env)) + timedelta(hours=10)  # less than a day ahead: the notice is due at once
    handle = await start_order(client, settings, planned=[{"milestone": "ship", "planned_at": ship}])
    await wait_for_step(handle, "order_confirmation")
    await handle.execute_update(
        OrderFollowupWorkflow.confirm_order,
        d.OrderConfirmation(actor="小周", **{**FACTS_OK, "address_ok": False}, doubt="门牌号待确认"),
    )
    await env.sleep(timedelta(minutes=20))
    assert not notices(settings, handle.id, "milestone_notice")  # not with an address still in doubt
    await handle.execute_update(
        OrderFollowupWorkflow.clear_doubt,
        d.DoubtCleared(
            actor="销售小吴", sales_answer="已补门牌号", address="上海市浦东新区张江路 100 号 5 号楼"
        ),
    )
    await eventually(lambda: "milestone_notice_sent" in events(settings, handle.id))
    [confirmation] = [
        n for n in notices(settings, handle.id, "order_confirmation") if n["channel"] == "email"
    ]
    [notice] = [n for n in notices(settings, handle.id, "milestone_notice") if n["channel"] == "email"]
    assert confirmation["id"] < notice["id"] and "5 号楼" in notice["body"]
    await close(handle)
