"""Complaint end to end on the time-skipping server with real activities on real Postgres (CP-1..CP-4)."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from config import Settings
from domain import complaint as d
from domain.actions import Closure, HandOff
from domain.models import CaseRef, CaseView, NewCustomer, Process, Tier
from domain.surveys import SatisfactionCallback
from tests.workflows.helpers import events, rows, rows_eventually, view, wait_for_step
from workflows.case import INVALID, STEP_NOT_OPEN
from workflows.complaint import ComplaintWorkflow

STAFF = "投诉专员小周"


def intake(**kw: Any) -> d.ComplaintIntake:
    return d.ComplaintIntake(
        **{
            "channel": "web_form",
            "contact": "刘女士 13700137000",
            "content": "物流延迟3天，事先无人告知",
            "demand": "说明原因并给予补偿",
            "emotion": "upset",
            "scope": "single",
            **kw,
        }
    )


def customer(settings: Settings, tier: Tier) -> int:
    name = f"测试客户-{tier}-{uuid.uuid4().hex[:6]}"
    return rows(
        settings,
        "INSERT INTO customers (type, name, phone, contacts, tier) VALUES ('enterprise', %s, %s, '[]', %s)"
        " RETURNING id",
        name,
        "13700137000",
        tier.value,
    )[0]["id"]


async def start(
    client: Client, settings: Settings, *, customer_id: int | None = None, **kw: Any
) -> WorkflowHandle:
    number = f"CP-T{uuid.uuid4().hex[:8]}"
    begin = d.ComplaintStart(
        case=CaseRef(
            number=number,
            process=Process.COMPLAINT,
            customer_id=customer_id,
            new_customer=None if customer_id else NewCustomer(name="刘女士", phone="13700137000"),
            actor="test",
        ),
        intake=intake(**kw),
    )
    handle = await client.start_workflow(
        ComplaintWorkflow.run, begin, id=number, task_queue=settings.task_queue
    )
    await wait_for_step(handle, "complaint_contact")
    return handle


async def act(handle: WorkflowHandle, action: str, model: type, **payload: Any) -> CaseView:
    return await handle.execute_update(action, model(actor=STAFF, **payload), result_type=CaseView)


async def refused(handle: WorkflowHandle, action: str, model: type, **payload: Any) -> Any:
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await act(handle, action, model, **payload)
    return err.value.cause


async def contact(handle: WorkflowHandle) -> CaseView:
    return await act(
        handle,
        "contact_complainant",
        d.FirstContact,
        apology="非常抱歉，已记录",
        demand="补偿",
        emotion="angry",
    )


async def grade(handle: WorkflowHandle, level: str, reason: str = "") -> CaseView:
    return await act(handle, "grade_complaint", d.ComplaintGrading, level=level, reason=reason)


async def to_investigation(handle: WorkflowHandle, level: str) -> CaseView:
    await contact(handle)
    await grade(handle, level)
    return await act(handle, "calm_customer", d.Calming, note="客户情绪已平复", emotion="calm")


async def to_remedy(handle: WorkflowHandle, level: str) -> CaseView:
    await to_investigation(handle, level)
    return await act(
        handle,
        "report_findings",
        d.Findings,
        findings="仓库漏发",
        responsible_party="仓储部",
        departments=["warehouse"],
    )


async def to_result_notice(handle: WorkflowHandle, level: str) -> CaseView:
    await to_remedy(handle, level)
    await act(
        handle,
        "propose_remedy",
        d.RemedyProposal,
        plan="今日补发",
        apology=True,
        compensation="延长服务期1个月",
    )
    await act(handle, "customer_decision", d.CustomerDecision, accepted=True, note="接受")
    return await act(handle, "record_execution", d.Execution, note="已补发")


async def close(*handles: WorkflowHandle) -> None:
    """Ends a case as staff would. Terminating one with an activity in flight can leave the time-skipping
    server waiting on that activity, and every later ``env.sleep`` times out."""
    for handle in handles:
        await handle.execute_update(ComplaintWorkflow.close, Closure(actor=STAFF, reason="test done"))
        assert await handle.result() == "closed_by_staff"


def record(settings: Settings, number: str) -> dict[str, Any]:
    return rows(settings, "SELECT * FROM complaint_records WHERE case_number=%s", number)[0]


async def sent(settings: Settings, number: str, purpose: str) -> list[dict[str, Any]]:
    """The messages of one purpose; a notice may still be on its way when an update returns."""
    return await rows_eventually(
        settings,
        "SELECT channel, recipient, recipient_role, body FROM notifications"
        " WHERE case_number=%s AND purpose=%s ORDER BY id",
        number,
        purpose,
    )


async def test_cp1_complaint_is_recorded_and_contact_is_due_in_five_minutes_three_by_phone(
    env, client, settings, worker
):
    handle = await start(client, settings, related_case="AS-1024")
    current = await view(handle)
    assert current.open_step.owner_role == "complaint_specialist"
    assert current.open_step.due_at - current.open_step.opened_at == timedelta(minutes=5)
    row = record(settings, handle.id)
    assert (row["content"], row["emotion"], row["scope"], row["related_case"]) == (
        "物流延迟3天，事先无人告知",
        "upset",
        "single",
        "AS-1024",
    )
    phoned = await start(client, settings, channel="phone")
    current = await view(phoned)
    assert current.open_step.due_at - current.open_step.opened_at == timedelta(minutes=3)
    # The contact alone leaves the step open (grading is still owed) and the customer gets the apology.
    current = await contact(handle)
    assert current.open_step.step == "complaint_contact" and "contact_complainant" not in current.actions
    assert current.actions[0] == "grade_complaint"
    apology = await sent(settings, handle.id, "apology")
    assert apology and apology[0]["recipient"].startswith("customer:") and "深表歉意" in apology[0]["body"]
    row = record(settings, handle.id)
    assert (row["demand"], row["emotion"]) == ("补偿", "angry")
    assert "contacted" in events(settings, handle.id)
    cause = await refused(
        handle, "contact_complainant", d.FirstContact, apology="再次", demand="x", emotion="calm"
    )
    assert cause.type == STEP_NOT_OPEN
    current = await grade(handle, "general")
    assert current.open_step.step == "calming_contact" and current.severity == "general"
    # CP-1 general complaint: the calming contact is owed 1 h after the complaint came in.
    opened = rows(settings, "SELECT opened_at FROM cases WHERE number=%s", handle.id)[0]["opened_at"]
    assert current.open_step.due_at - opened == timedelta(hours=1)
    await close(handle, phoned)


async def test_cp1_missed_five_minute_contact_breaches_and_escalates(
    env: WorkflowEnvironment, client, settings, worker
):
    handle = await start(client, settings)
    await env.sleep(timedelta(minutes=5, seconds=30))
    current = await view(handle)
    assert current.sla_state == "breached" and current.escalation_level == 1
    inbox = rows(
        settings,
        "SELECT purpose, recipient_role FROM notifications WHERE case_number=%s AND channel='inbox' ORDER BY id",
        handle.id,
    )
    assert ("breach", "complaint_specialist") in [(n["purpose"], n["recipient_role"]) for n in inbox]
    assert ("escalation", "supervisor") in [(n["purpose"], n["recipient_role"]) for n in inbox]
    step = rows(settings, "SELECT * FROM case_steps WHERE case_number=%s", handle.id)[0]
    assert step["step"] == "complaint_contact" and step["breached_at"] is not None
    # The late contact still completes the step once graded.
    await contact(handle)
    assert (await grade(handle, "general")).open_step.step == "calming_contact"
    await close(handle)


def test_cp2_grade_suggestion_is_scope_raised_by_vip_or_key_tier():
    assert d.suggest_grade(d.Scope.SINGLE, Tier.NORMAL) == "general"
    assert d.suggest_grade(d.Scope.SINGLE, Tier.VIP) == "serious"
    assert d.suggest_grade(d.Scope.SEVERAL, Tier.WATCH) == "serious"
    assert d.suggest_grade(d.Scope.SEVERAL, Tier.KEY) == "major"
    assert d.suggest_grade(d.Scope.WIDE, Tier.NORMAL) == "major"
    assert d.suggest_grade(d.Scope.WIDE, Tier.VIP) == "major"


async def test_cp2_suggested_grade_shows_and_an_override_needs_a_reason(env, client, settings, worker):
    handle = await start(client, settings, customer_id=customer(settings, Tier.VIP), scope="several")
    current = await view(handle)
    assert current.record["suggested_grade"] == "major"
    assert record(settings, handle.id)["suggested_grade"] == "major"
    before = events(settings, handle.id)
    cause = await refused(handle, "grade_complaint", d.ComplaintGrading, level="serious")
    assert cause.type == INVALID and cause.details == ("reason",)
    assert events(settings, handle.id) == before
    current = await grade(handle, "serious", reason="仅两位客户受影响，已单独沟通")
    assert current.severity == "serious" and current.open_step.step == "complaint_contact"
    row = record(settings, handle.id)
    assert (row["grade"], row["grade_reason"]) == ("serious", "仅两位客户受影响，已单独沟通")
    # Graded first, the contact now completes the step; the calming contact is owed 30 min after intake.
    current = await contact(handle)
    assert current.open_step.step == "calming_contact"
    opened = rows(settings, "SELECT opened_at FROM cases WHERE number=%s", handle.id)[0]["opened_at"]
    assert current.open_step.due_at - opened == timedelta(minutes=30)
    await close(handle)


async def test_cp2_major_complaint_goes_to_director(env, client, settings, worker):
    handle = await start(client, settings, scope="wide")
    assert (await view(handle)).record["suggested_grade"] == "major"
    current = await to_investigation(handle, "major")
    step = current.open_step
    assert step.step == "investigation" and step.owner_role == "director"
    assert step.due_at - step.opened_at == timedelta(hours=48)
    told = await sent(settings, handle.id, "complaint_investigation")
    assert told and {n["recipient_role"] for n in told} == {"director"}
    assert "重大投诉" in told[0]["body"] and "牵头调查" in told[0]["body"]
    case = rows(settings, "SELECT severity, owner_role FROM cases WHERE number=%s", handle.id)[0]
    assert case == {"severity": "major", "owner_role": "director"}
    await close(handle)


async def test_cp2_serious_complaint_goes_to_supervisor_with_the_departments_involved(
    env: WorkflowEnvironment, client, settings, worker
):
    handle = await start(client, settings, scope="several")
    current = await to_investigation(handle, "serious")
    step = current.open_step
    assert step.owner_role == "supervisor" and step.due_at - step.opened_at == timedelta(hours=24)
    assert {n["recipient_role"] for n in await sent(settings, handle.id, "complaint_investigation")} == {
        "supervisor"
    }
    await handle.execute_update(
        ComplaintWorkflow.hand_off, HandOff(actor="主管老陈", department="tech", note="核实系统日志")
    )
    current = await act(
        handle,
        "report_findings",
        d.Findings,
        findings="发货系统故障导致漏单",
        responsible_party="技术部",
        departments=["warehouse"],
    )
    assert current.open_step.step == "remedy_plan" and current.open_step.owner_role == "supervisor"
    assert current.open_step.due_at - current.open_step.opened_at == timedelta(hours=48)
    row = record(settings, handle.id)
    assert row["responsible_party"] == "技术部" and row["departments"] == ["warehouse", "tech"]
    await env.sleep(timedelta(hours=49))
    assert (await view(handle)).sla_state == "breached"
    await close(handle)


async def test_cp3_rejected_plan_is_proposed_again_and_only_the_accepted_one_completes(
    env, client, settings, worker
):
    handle = await start(client, settings)
    current = await to_remedy(handle, "general")
    assert current.open_step.due_at - current.open_step.opened_at == timedelta(hours=24)
    assert current.actions[0] == "propose_remedy" and "customer_decision" not in current.actions
    before = events(settings, handle.id)
    cause = await refused(handle, "customer_decision", d.CustomerDecision, accepted=True)
    assert cause.type == STEP_NOT_OPEN and "propose" in cause.message
    assert events(settings, handle.id) == before
    current = await act(
        handle, "propose_remedy", d.RemedyProposal, plan="三日内补发", replacement="补发同型号产品"
    )
    assert current.open_step.step == "remedy_plan" and current.actions[0] == "customer_decision"
    plan = await sent(settings, handle.id, "complaint_remedy")
    assert plan and plan[0]["recipient"].startswith("customer:") and "补发同型号产品" in plan[0]["body"]
    cause = await refused(handle, "propose_remedy", d.RemedyProposal, plan="x", apology=True)
    assert cause.type == STEP_NOT_OPEN
    current = await act(handle, "customer_decision", d.CustomerDecision, accepted=False, note="要求补偿")
    assert current.open_step.step == "remedy_plan" and current.actions[0] == "propose_remedy"
    current = await act(
        handle,
        "propose_remedy",
        d.RemedyProposal,
        plan="今日补发",
        replacement="补发同型号产品",
        compensation="200元",
    )
    current = await act(handle, "customer_decision", d.CustomerDecision, accepted=True)
    assert current.open_step.step == "remedy_execution"
    kinds = events(settings, handle.id)
    assert kinds.count("remedy_proposed") == 2 and kinds.count("remedy_rejected") == 1
    assert "补偿：200元" in record(settings, handle.id)["remedy"]
    remedy_steps = rows(
        settings, "SELECT done_at FROM case_steps WHERE case_number=%s AND step='remedy_plan'", handle.id
    )
    assert len(remedy_steps) == 1 and remedy_steps[0]["done_at"] is not None
    await close(handle)


async def test_cp4_general_complaint_result_survey_and_case_library(env, client, settings, worker):
    handle = await start(client, settings)
    current = await to_result_notice(handle, "general")
    cause = await refused(handle, "report_findings", d.Findings, findings="x", responsible_party="y")
    assert cause.type == STEP_NOT_OPEN and "investigation" in cause.message
    future = current.open_step.opened_at + timedelta(days=2)
    cause = await refused(handle, "report_result", d.ResultReport, result="r", executed_at=future)
    assert cause.type == INVALID and cause.details == ("executed_at",)
    await act(handle, "report_result", d.ResultReport, result="已补发并延长服务期1个月")
    assert await handle.result() == "resolved"
    told = await sent(settings, handle.id, "complaint_result")
    assert (
        told and told[0]["recipient"].startswith("customer:") and "已补发并延长服务期1个月" in told[0]["body"]
    )
    row = record(settings, handle.id)
    assert (
        row["executed_at"] is not None
        and row["result"] == "已补发并延长服务期1个月"
        and row["grade"] == "general"
    )
    # SAT-1: a link only; the case did not wait, and no second callback step ran.
    surveys = rows(settings, "SELECT process, step, answered_at FROM surveys WHERE case_number=%s", handle.id)
    assert surveys == [{"process": "complaint", "step": None, "answered_at": None}]
    steps = [
        r["step"]
        for r in rows(settings, "SELECT step FROM case_steps WHERE case_number=%s ORDER BY id", handle.id)
    ]
    assert steps == [
        "complaint_contact",
        "calming_contact",
        "investigation",
        "remedy_plan",
        "remedy_execution",
        "result_notice",
    ]
    entry = rows(settings, "SELECT * FROM case_library WHERE case_number=%s", handle.id)[0]
    assert (
        entry["category"] == "complaint" and "仓库漏发" in entry["cause"] and "延长服务期" in entry["remedy"]
    )
    case = rows(settings, "SELECT state, outcome FROM cases WHERE number=%s", handle.id)[0]
    assert case == {"state": "closed", "outcome": "resolved"}
    assert events(settings, handle.id)[-2:] == ["archived", "closed_event"]
    # The customer answers after the case closed: the score still lands in the tracking record (§7).
    from tests.workflows.test_aftersales import answer_on_the_link

    await answer_on_the_link(settings, handle.id, 4, "处理及时")
    assert record(settings, handle.id)["satisfaction"] == 4


async def test_cp4_major_second_callback_within_three_days_breaches_when_missed(
    env: WorkflowEnvironment, client, settings, worker
):
    handle = await start(client, settings, scope="wide")
    await to_result_notice(handle, "major")
    current = await act(handle, "report_result", d.ResultReport, result="已全额退款并公开致歉")
    step = current.open_step
    assert step.step == "second_callback" and step.due_at - step.opened_at == timedelta(days=3)
    assert current.actions[0] == "record_satisfaction"
    await env.sleep(timedelta(days=3, minutes=1))
    assert (await view(handle)).sla_state == "breached"
    await handle.execute_update(
        ComplaintWorkflow.record_satisfaction,
        SatisfactionCallback(actor=STAFF, score=4, comment="客户认可处理结果，无进一步诉求"),
    )
    assert await handle.result() == "resolved"
    row = record(settings, handle.id)
    assert (row["satisfaction"], row["callback_notes"]) == (4, "客户认可处理结果，无进一步诉求")
    callback = rows(
        settings, "SELECT * FROM case_steps WHERE case_number=%s AND step='second_callback'", handle.id
    )
    assert callback[0]["breached_at"] is not None and callback[0]["done_at"] is not None
    survey = rows(settings, "SELECT process, step, score FROM surveys WHERE case_number=%s", handle.id)
    assert survey == [{"process": "complaint", "step": "second_callback", "score": 4}]
    # The whole run (in-step actions, the owner notice beside the step) replays deterministically.
    await Replayer(workflows=[ComplaintWorkflow], data_converter=pydantic_data_converter).replay_workflow(
        await handle.fetch_history()
    )


async def test_cp4_result_notice_is_due_24h_after_the_plan_was_carried_out(env, client, settings, worker):
    """A plan that takes two days to carry out (a replacement shipped) does not breach the result notice:
    its 24 h count from the execution, which has its own step and deadline."""
    handle = await start(client, settings)
    await to_remedy(handle, "general")
    await act(handle, "propose_remedy", d.RemedyProposal, plan="换新机", replacement="同型号新机")
    current = await act(handle, "customer_decision", d.CustomerDecision, accepted=True)
    assert current.open_step.step == "remedy_execution"
    assert current.open_step.due_at - current.open_step.opened_at == timedelta(hours=48)
    cause = await refused(handle, "report_result", d.ResultReport, result="r")
    assert cause.type == STEP_NOT_OPEN
    await env.sleep(timedelta(hours=40))
    current = await act(handle, "record_execution", d.Execution, note="新机已签收")
    step = current.open_step
    assert step.step == "result_notice" and step.sla_state == "on_track"
    assert step.due_at - step.opened_at == timedelta(hours=24)
    await act(handle, "report_result", d.ResultReport, result="新机已送达并安装")
    assert await handle.result() == "resolved"
    row = record(settings, handle.id)
    assert row["executed_at"] is not None and row["result"] == "新机已送达并安装"
    breached = rows(
        settings, "SELECT step FROM case_steps WHERE case_number=%s AND breached_at IS NOT NULL", handle.id
    )
    assert breached == []


async def test_cp4_major_second_callback_in_time_is_on_track(
    env: WorkflowEnvironment, client, settings, worker
):
    handle = await start(client, settings, scope="wide")
    await to_result_notice(handle, "major")
    await act(handle, "report_result", d.ResultReport, result="已全额退款")
    await env.sleep(timedelta(days=2))
    await handle.execute_update(
        ComplaintWorkflow.record_satisfaction, SatisfactionCallback(actor=STAFF, score=5, comment="满意")
    )
    assert await handle.result() == "resolved"
    callback = rows(
        settings, "SELECT * FROM case_steps WHERE case_number=%s AND step='second_callback'", handle.id
    )
    assert callback[0]["breached_at"] is None and callback[0]["done_at"] is not None


async def test_cp_staff_close_ends_the_complaint_at_any_step(env, client, settings, worker):
    handle = await start(client, settings)
    await to_investigation(handle, "general")
    await close(handle)
    case = rows(settings, "SELECT state, outcome, current_step FROM cases WHERE number=%s", handle.id)[0]
    assert case == {"state": "closed", "outcome": "closed_by_staff", "current_step": None}


async def test_com2_a_slow_customer_channel_does_not_hold_the_staff_action(env, client, settings):
    """The apology goes out beside the case: the specialist's action answers at once, the SMS follows, and the
    case closes only once it is out."""
    from tests.activities.helpers import Gateway
    from worker import build_worker

    gateway = Gateway(delay=3.0).start()
    slow = settings.model_copy(
        update={"task_queue": f"q-slow-{uuid.uuid4().hex[:6]}", "gateway_url": gateway.url}
    )
    customer_id = rows(
        settings,
        "INSERT INTO customers (type, name, phone, contacts, preferred_channel, tier) "
        "VALUES ('individual', '短信客户', '13900139000', '[]', 'sms', 'normal') RETURNING id",
    )[0]["id"]
    try:
        async with build_worker(client, slow):
            handle = await start(client, slow, customer_id=customer_id)
            began = time.monotonic()
            await contact(handle)
            assert time.monotonic() - began < 2.5  # the gateway takes 3 s to answer
            apology = await sent(settings, handle.id, "apology")
            assert [(m["channel"], m["recipient"]) for m in apology] == [("sms", f"customer:{customer_id}")]
            await act(handle, "close", Closure, reason="测试结束")
            assert await handle.result() == "closed_by_staff"
            # The run ended after the message was delivered, not before.
            row = rows(
                settings,
                "SELECT status FROM notifications WHERE case_number=%s AND purpose='apology'",
                handle.id,
            )
            assert [r["status"] for r in row] == ["sent"] and len(gateway.requests) == 1
    finally:
        gateway.stop()
