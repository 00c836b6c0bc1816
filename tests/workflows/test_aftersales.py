"""After-sales issue end to end on the time-skipping server with real activities on real Postgres (AS-1..AS-5)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from activities import surveys
from activities.library import LibraryActivities
from config import Settings
from db.engine import transaction
from domain import aftersales as d
from domain.actions import Closure, HandOff
from domain.library import ArchiveRequest
from domain.models import CaseRef, CaseView, NewCustomer, Process
from domain.surveys import SatisfactionCallback, SurveyAnswered
from tests.workflows.helpers import events, rows, rows_eventually, wait_for_step
from workflows.aftersales import AftersalesWorkflow


async def start_aftersales(
    client: Client, settings: Settings, *, customer_id: int | None = None, **kw: Any
) -> WorkflowHandle:
    number = f"AS-T{uuid.uuid4().hex[:8]}"
    intake = d.AftersalesIntake(
        **{
            "channel": "phone",
            "contact": "陈工 13700137000",
            "description": "点击导出报表没有反应",
            "occurred_at": datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
            "environment": "V3.0 标准版, Windows 11, Chrome",
            "issue_type": "how_to",
            **kw,
        }
    )
    start = d.AftersalesStart(
        case=CaseRef(
            number=number,
            process=Process.AFTERSALES,
            customer_id=customer_id,
            new_customer=None
            if customer_id
            else NewCustomer(name="苏州某某制造有限公司", phone="13700137000", type="enterprise"),
            actor="test",
        ),
        intake=intake,
    )
    return await client.start_workflow(
        AftersalesWorkflow.run, start, id=number, task_queue=settings.task_queue
    )


async def at_step(handle: WorkflowHandle, settings: Settings, step: str) -> CaseView:
    """The workflow shows a step open a moment before its row is written; wait for both."""
    view = await wait_for_step(handle, step)
    for _ in range(100):
        if (
            rows(settings, "SELECT current_step FROM cases WHERE number=%s", handle.id)[0]["current_step"]
            == step
        ):
            return view
        await asyncio.sleep(0.05)
    raise AssertionError(f"{handle.id}: the row never showed {step}")


async def close(handle: WorkflowHandle) -> None:
    """Staff close the case: it ends cleanly, with no activity of it left running (unlike a terminate)."""
    view = await handle.execute_update(AftersalesWorkflow.close, Closure(actor="test", reason="test done"))
    assert view.outcome == "closed_by_staff"


async def view_of(handle: WorkflowHandle) -> CaseView:
    return await handle.query(AftersalesWorkflow.view)


def target(view: CaseView) -> timedelta:
    assert view.open_step and view.open_step.due_at
    return view.open_step.due_at - view.open_step.opened_at


def record(settings: Settings, number: str) -> dict[str, Any]:
    return rows(settings, "SELECT * FROM aftersales_records WHERE case_number=%s", number)[0]


async def rejected(handle: WorkflowHandle, update: Any, arg: Any) -> str:
    """The validator's words for an update it turned down."""
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await handle.execute_update(update, arg)
    return str(err.value.cause)


async def to_resolution(handle: WorkflowHandle, *, complex_issue: bool = False) -> CaseView:
    """Responds, dispatches to tech support and has the engineer contact the customer."""
    await wait_for_step(handle, "issue_response")
    await handle.execute_update(
        AftersalesWorkflow.respond, d.IssueResponse(actor="小李", note="已受理，转技术支持", route="dispatch")
    )
    await handle.execute_update(
        AftersalesWorkflow.dispatch, d.Dispatch(actor="小李", assignee="tech.wang", note="客户急用报表")
    )
    return await handle.execute_update(
        AftersalesWorkflow.contact_customer,
        d.TechContact(actor="tech.wang", diagnosis="角色缺少导出权限", complex_issue=complex_issue),
    )


async def approve_and_resolve(
    handle: WorkflowHandle, *, kind: str = "remote", confirmed: bool = True
) -> CaseView:
    await handle.execute_update(
        AftersalesWorkflow.propose_remedy,
        d.RemedyProposal(actor="tech.wang", kind=kind, plan="远程开启导出权限"),
    )
    await handle.execute_update(
        AftersalesWorkflow.customer_decision, d.CustomerDecision(actor="tech.wang", approved=True)
    )
    return await handle.execute_update(
        AftersalesWorkflow.resolve,
        d.Resolution(
            actor="tech.wang",
            remedy="远程指导开启权限",
            cause="角色未开通导出权限",
            customer_confirmed=confirmed,
        ),
    )


async def answer_on_the_link(settings: Settings, number: str, score: int, comment: str) -> SurveyAnswered:
    """What the survey link's API does: store the answer on the case's newest survey; the caller signals."""
    survey_id = rows(settings, "SELECT max(id) AS id FROM surveys WHERE case_number=%s", number)[0]["id"]
    async with transaction(settings.sqlalchemy_url()) as db:
        await surveys.answer(
            db, survey_id, score=score, comment=comment, via="link", by=None, at=datetime.now(UTC)
        )
    return SurveyAnswered(survey_id=survey_id, score=score, comment=comment)


@pytest.mark.parametrize(
    ("issue_type", "urgency", "category", "response"),
    [
        ("fault", "routine", "fault", timedelta(minutes=5)),
        ("how_to", "routine", "consultation", timedelta(minutes=10)),
        ("improvement", "urgent", "suggestion", timedelta(minutes=30)),
        ("improvement", "routine", "suggestion", timedelta(hours=2)),
    ],
)
async def test_as1_as5_intake_is_recorded_and_classified_with_its_response_target(
    env, client, settings, worker, issue_type, urgency, category, response
):
    handle = await start_aftersales(client, settings, issue_type=issue_type, urgency=urgency)
    view = await at_step(handle, settings, "issue_response")
    assert target(view) == response and view.severity == urgency
    row = record(settings, handle.id)
    assert (row["issue_type"], row["category"], row["urgency"]) == (issue_type, category, urgency)
    assert row["description"] == "点击导出报表没有反应" and row["environment"].startswith("V3.0")
    assert row["occurred_at"] == datetime(2026, 3, 2, 9, 30, tzinfo=UTC) and row["handlings"] == 1
    assert row["contact"] == "陈工 13700137000" and row["channel"] == "phone"
    case = rows(settings, "SELECT severity, current_step, opened_at FROM cases WHERE number=%s", handle.id)[0]
    assert (case["severity"], case["current_step"]) == (urgency, "issue_response")
    assert (
        view.open_step.due_at == case["opened_at"] + response
    )  # counted from intake, not the library look-up
    await close(handle)


async def test_as2_kb1_library_suggestions_are_recorded_at_open(env, client, settings, worker):
    code = f"E{uuid.uuid4().hex[:8]}"  # the best match whatever else the session's library holds
    archived = await LibraryActivities(settings.sqlalchemy_url(), settings).archive_case(
        ArchiveRequest(
            number=(await _closed_case(client, settings)),
            process="aftersales",
            category="fault",
            title="报表导出按钮无反应",
            symptom=f"点击导出报表按钮没有反应，错误码 {code}",
            cause="角色未开通导出权限",
            remedy="远程指导开启导出权限",
        )
    )
    handle = await start_aftersales(client, settings, description=f"导出报表时按钮没有反应 {code}")
    await at_step(handle, settings, "issue_response")
    offered = rows(
        settings, "SELECT payload FROM case_events WHERE case_number=%s AND kind='kb_suggested'", handle.id
    )[0]["payload"]
    first = offered["suggestions"][0]
    assert first["id"] == archived and first["remedy"] == "远程指导开启导出权限"
    assert {"title", "symptom", "remedy", "case_number", "score"} <= set(first)
    assert "报表导出按钮无反应" in offered["note"]
    assert events(settings, handle.id)[:2] == ["opened", "kb_suggested"]  # before the agent's step opens
    await close(handle)


async def _closed_case(client: Client, settings: Settings) -> str:
    """A case row for a library entry to point at."""
    handle = await start_aftersales(client, settings)
    await at_step(handle, settings, "issue_response")
    await close(handle)
    return handle.id


async def test_as2_simple_issue_is_answered_by_the_agent_and_closes_on_a_satisfied_callback(
    env, client, settings, worker
):
    handle = await start_aftersales(client, settings)
    await at_step(handle, settings, "issue_response")
    view = await handle.execute_update(
        AftersalesWorkflow.respond,
        d.IssueResponse(actor="小李", note="请在角色权限中勾选报表导出", route="answer", library_entry=1),
    )
    assert view.open_step.step == "satisfaction_callback" and target(view) == timedelta(hours=48)
    assert view.actions[0] == "record_satisfaction"
    row = record(settings, handle.id)
    assert row["remedy"] == "请在角色权限中勾选报表导出" and row["solved_at"] is not None
    # AS-4: staff record the phone callback (003 §2.3.2 步骤4 电话回访).
    await handle.execute_update(
        AftersalesWorkflow.record_satisfaction, SatisfactionCallback(actor="小李", score=5, comment="很快")
    )
    assert await handle.result() == "resolved"
    row = record(settings, handle.id)
    assert row["satisfaction"] == 5 and row["handlings"] == 1
    entry = rows(settings, "SELECT * FROM case_library WHERE case_number=%s", handle.id)[0]
    assert entry["category"] == "consultation" and entry["remedy"] == "请在角色权限中勾选报表导出"
    assert events(settings, handle.id)[-2:] == ["archived", "closed_event"]


async def test_as2_urgent_issue_cannot_be_answered_directly(env, client, settings, worker):
    handle = await start_aftersales(client, settings, urgency="urgent")
    await at_step(handle, settings, "issue_response")
    before = events(settings, handle.id)
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await handle.execute_update(
            AftersalesWorkflow.respond, d.IssueResponse(actor="a", note="n", route="answer")
        )
    assert "tech support" in str(err.value.cause) and events(settings, handle.id) == before
    await close(handle)


async def test_as2_dispatch_tells_tech_support_with_the_history_and_urgent_contact_is_30_minutes(
    env, client, settings, worker
):
    handle = await start_aftersales(client, settings, urgency="urgent", issue_type="fault")
    await at_step(handle, settings, "issue_response")
    view = await handle.execute_update(
        AftersalesWorkflow.respond, d.IssueResponse(actor="小李", note="已记录故障现象", route="dispatch")
    )
    assert view.open_step.step == "dispatch" and target(view) == timedelta(minutes=10)
    view = await handle.execute_update(
        AftersalesWorkflow.dispatch, d.Dispatch(actor="小李", assignee="tech.wang", note="生产线停机")
    )
    assert view.owner == "tech.wang" and view.open_step.step == "tech_contact"
    assert view.open_step.owner_role == "tech_support" and target(view) == timedelta(minutes=30)
    assert record(settings, handle.id)["owner"] == "tech.wang"
    told = rows(
        settings,
        "SELECT recipient, recipient_role, body FROM notifications"
        " WHERE case_number=%s AND purpose='aftersales_dispatch' AND channel='inbox'",
        handle.id,
    )
    assert [(t["recipient"], t["recipient_role"]) for t in told] == [("tech.wang", "tech_support")]
    body = told[0]["body"]
    assert "生产线停机" in body and "已记录故障现象" in body and "创建案件" in body
    await close(handle)


async def test_as2_missed_dispatch_and_missed_tech_contact_escalate(
    env: WorkflowEnvironment, client, settings, worker
):
    handle = await start_aftersales(client, settings)
    await at_step(handle, settings, "issue_response")
    await handle.execute_update(
        AftersalesWorkflow.respond, d.IssueResponse(actor="a", note="n", route="dispatch")
    )
    await env.sleep(timedelta(minutes=11))
    view = await view_of(handle)
    assert view.open_step.step == "dispatch" and view.sla_state == "breached" and view.escalation_level == 1
    view = await handle.execute_update(
        AftersalesWorkflow.dispatch, d.Dispatch(actor="主管", assignee="tech.li")
    )
    assert view.escalation_level == 0 and target(view) == timedelta(hours=2)
    await env.sleep(timedelta(hours=2, minutes=1))
    view = await view_of(handle)
    assert view.open_step.step == "tech_contact" and view.sla_state == "breached"
    breaches = rows(
        settings,
        "SELECT step FROM case_steps WHERE case_number=%s AND breached_at IS NOT NULL ORDER BY id",
        handle.id,
    )
    assert [b["step"] for b in breaches] == ["dispatch", "tech_contact"]
    told = rows(
        settings,
        "SELECT DISTINCT recipient_role FROM notifications WHERE case_number=%s AND purpose='escalation'",
        handle.id,
    )
    assert [t["recipient_role"] for t in told] == ["supervisor"]
    await close(handle)


async def test_as3_customer_approves_the_remedy_before_it_runs(env, client, settings, worker):
    handle = await start_aftersales(client, settings, issue_type="improvement")
    view = await to_resolution(handle)
    opened_at = rows(settings, "SELECT opened_at FROM cases WHERE number=%s", handle.id)[0]["opened_at"]
    assert view.open_step.step == "resolution" and view.open_step.due_at == opened_at + timedelta(hours=24)
    # The case page offers only what the workflow accepts now: a proposal first.
    assert "propose_remedy" in view.actions
    assert "customer_decision" not in view.actions and "resolve" not in view.actions
    before = events(settings, handle.id)
    words = await rejected(
        handle, AftersalesWorkflow.customer_decision, d.CustomerDecision(actor="a", approved=True)
    )
    assert "no remedy proposal" in words
    words = await rejected(
        handle, AftersalesWorkflow.resolve, d.Resolution(actor="a", remedy="r", customer_confirmed=True)
    )
    assert "not approved" in words
    assert events(settings, handle.id) == before
    view = await handle.execute_update(
        AftersalesWorkflow.propose_remedy,
        d.RemedyProposal(actor="tech.wang", kind="fix", plan="下个版本修复"),
    )
    assert "customer_decision" in view.actions
    assert "propose_remedy" not in view.actions and "resolve" not in view.actions
    words = await rejected(
        handle, AftersalesWorkflow.propose_remedy, d.RemedyProposal(actor="a", kind="fix", plan="another")
    )
    assert "not decided" in words
    view = await handle.execute_update(
        AftersalesWorkflow.customer_decision,
        d.CustomerDecision(actor="tech.wang", approved=False, note="太慢"),
    )
    assert view.open_step.step == "resolution"  # a rejected plan: the tech proposes another
    assert "propose_remedy" in view.actions and "resolve" not in view.actions
    await rejected(
        handle, AftersalesWorkflow.resolve, d.Resolution(actor="a", remedy="r", customer_confirmed=True)
    )
    # Approved, run, but the customer says it is not fixed: the resolution runs again (its second seq).
    await handle.execute_update(
        AftersalesWorkflow.propose_remedy, d.RemedyProposal(actor="tech.wang", kind="fix", plan="热修复")
    )
    view = await handle.execute_update(
        AftersalesWorkflow.customer_decision, d.CustomerDecision(actor="tech.wang", approved=True)
    )
    assert "resolve" in view.actions and "customer_decision" not in view.actions
    view = await handle.execute_update(
        AftersalesWorkflow.resolve, d.Resolution(actor="tech.wang", remedy="热修复", customer_confirmed=False)
    )
    assert view.open_step.step == "resolution" and view.open_step.seq == 2
    assert "propose_remedy" in view.actions and "resolve" not in view.actions
    assert record(settings, handle.id)["customer_confirmed"] is False
    await rejected(
        handle, AftersalesWorkflow.resolve, d.Resolution(actor="a", remedy="r", customer_confirmed=True)
    )
    view = await approve_and_resolve(handle)
    assert view.open_step.step == "satisfaction_callback"
    row = record(settings, handle.id)
    assert row["customer_confirmed"] is True and row["remedy"] == "远程指导开启权限" and row["solved_at"]
    kinds = events(settings, handle.id)
    assert kinds.count("remedy_proposed") == 3 and kinds.count("customer_decided") == 3
    # The customer got each plan to approve.
    sent = await rows_eventually(
        settings,
        "SELECT recipient FROM notifications WHERE case_number=%s AND purpose='aftersales_remedy'",
        handle.id,
        count=3,
    )
    assert len(sent) == 3 and sent[0]["recipient"].startswith("customer:")
    await close(handle)


async def test_as3_onsite_repair_gets_an_engineer_within_24_hours_and_keeps_the_resolution_deadline(
    env: WorkflowEnvironment, client, settings, worker
):
    handle = await start_aftersales(client, settings, issue_type="improvement")
    first = await to_resolution(handle)
    await handle.execute_update(
        AftersalesWorkflow.propose_remedy,
        d.RemedyProposal(actor="tech.wang", kind="onsite", plan="上门更换主板"),
    )
    view = await handle.execute_update(
        AftersalesWorkflow.customer_decision, d.CustomerDecision(actor="tech.wang", approved=True)
    )
    assert view.open_step.step == "onsite_visit" and view.open_step.owner_role == "field_engineer"
    assert target(view) == timedelta(hours=24) and "record_visit" in view.actions
    await env.sleep(timedelta(hours=3))
    view = await handle.execute_update(
        AftersalesWorkflow.post_progress, d.ProgressNote(actor="tech.wang", note="工程师明早 9 点到场")
    )
    assert view.open_step.step == "onsite_visit"
    view = await handle.execute_update(
        AftersalesWorkflow.record_visit, d.SiteVisit(actor="eng.zhao", engineer="eng.zhao", note="已更换主板")
    )
    assert view.open_step.step == "resolution" and view.open_step.seq == 2
    assert view.open_step.due_at == first.open_step.due_at  # the visit does not move the promise
    view = await handle.execute_update(
        AftersalesWorkflow.resolve,
        d.Resolution(actor="tech.wang", remedy="上门更换主板", customer_confirmed=True),
    )
    assert view.open_step.step == "satisfaction_callback"
    progress = await rows_eventually(
        settings,
        "SELECT body FROM notifications WHERE case_number=%s AND purpose='aftersales_progress'",
        handle.id,
    )
    assert progress and "工程师明早 9 点到场" in progress[0]["body"]
    await close(handle)


async def test_as3_complex_issue_gets_a_staged_plan_within_72_hours(env, client, settings, worker):
    # A watch-tier customer: the tier standard caps a normal customer's solution at 48 h (T-5).
    watch = rows(
        settings,
        "INSERT INTO customers (type, name, tier, contacts) VALUES ('enterprise', '无锡某某', 'watch', '[]')"
        " RETURNING id",
    )[0]["id"]
    handle = await start_aftersales(client, settings, customer_id=watch, issue_type="improvement")
    view = await to_resolution(handle, complex_issue=True)
    opened_at = rows(settings, "SELECT opened_at FROM cases WHERE number=%s", handle.id)[0]["opened_at"]
    assert view.open_step.step == "resolution" and view.open_step.due_at == opened_at + timedelta(hours=72)
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await handle.execute_update(
            AftersalesWorkflow.propose_remedy, d.RemedyProposal(actor="a", kind="fix", plan="一次性修复")
        )
    assert err.value.cause.type == "InvalidInput" and list(err.value.cause.details) == ["staged"]
    view = await handle.execute_update(
        AftersalesWorkflow.propose_remedy,
        d.RemedyProposal(actor="a", kind="fix", plan="第一阶段：临时脚本；第二阶段：版本修复", staged=True),
    )
    assert "customer_decision" in view.actions
    await close(handle)


async def test_as5_complex_fault_reports_progress_within_24_hours_and_is_resolved_48_hours_from_intake(
    env: WorkflowEnvironment, client, settings, worker
):
    handle = await start_aftersales(client, settings, issue_type="fault")
    view = await to_resolution(handle, complex_issue=True)
    opened_at = rows(settings, "SELECT opened_at FROM cases WHERE number=%s", handle.id)[0]["opened_at"]
    assert view.open_step.step == "progress_update"
    assert view.open_step.due_at == opened_at + timedelta(hours=24)  # from the report, like the 48 h
    assert "resolve" not in view.actions
    await env.sleep(timedelta(hours=5))
    view = await handle.execute_update(
        AftersalesWorkflow.post_progress, d.ProgressNote(actor="tech.wang", note="已定位到数据库锁，今晚修复")
    )
    assert view.open_step.step == "resolution"
    assert view.open_step.due_at == opened_at + timedelta(hours=48)
    await env.sleep(timedelta(hours=44))
    assert (await view_of(handle)).sla_state == "breached"
    sent = await rows_eventually(
        settings,
        "SELECT recipient, body FROM notifications WHERE case_number=%s AND purpose='aftersales_progress'",
        handle.id,
    )
    assert sent[0]["recipient"].startswith("customer:") and "数据库锁" in sent[0]["body"]
    await close(handle)


async def test_as5_consultation_is_answered_within_2_hours_of_intake(env, client, settings, worker):
    handle = await start_aftersales(client, settings, issue_type="how_to")
    view = await to_resolution(handle)
    opened_at = rows(settings, "SELECT opened_at FROM cases WHERE number=%s", handle.id)[0]["opened_at"]
    assert view.open_step.step == "resolution" and view.open_step.due_at == opened_at + timedelta(hours=2)
    await close(handle)


async def test_as5_fault_gets_5_minute_response_and_a_warehouse_hand_off_carries_the_history_and_2_hours(
    env, client, settings, worker
):
    handle = await start_aftersales(
        client, settings, issue_type="fault", description="设备到货外箱破损无法开机"
    )
    view = await at_step(handle, settings, "issue_response")
    assert target(view) == timedelta(minutes=5)
    view = await handle.execute_update(
        AftersalesWorkflow.hand_off,
        HandOff(actor="小李", department="warehouse", note="请核实发货包装与物流记录"),
    )
    handoff = view.open_step.handoffs[0]
    assert handoff.due_at - handoff.handed_at == timedelta(hours=2)
    told = await rows_eventually(
        settings,
        "SELECT body FROM notifications WHERE case_number=%s AND purpose='handoff' AND channel='inbox'",
        handle.id,
    )
    body = told[0]["body"]  # the department's staff, or its shared inbox when none is on file
    assert "仓储部" in body
    assert "请核实发货包装与物流记录" in body and "创建案件" in body and "苏州某某制造有限公司" in body
    await close(handle)


async def test_as4_unsatisfied_customer_reopens_the_case_until_satisfied_then_it_is_archived(
    env, client, settings, worker
):
    handle = await start_aftersales(client, settings, issue_type="fault")
    await to_resolution(handle)
    view = await approve_and_resolve(handle)
    assert view.open_step.step == "satisfaction_callback" and target(view) == timedelta(hours=48)
    # The customer answers on the signed link: 2 of 5.
    answered = await answer_on_the_link(settings, handle.id, 2, "还是导不出")
    await handle.signal(AftersalesWorkflow.survey_answered, answered)
    view = await at_step(handle, settings, "tech_contact")
    assert view.open_step.seq == 2 and view.owner == "tech.wang"
    row = record(settings, handle.id)
    assert row["handlings"] == 2 and row["satisfaction"] == 2 and row["customer_confirmed"] is None
    reopened = rows(
        settings, "SELECT payload FROM case_events WHERE case_number=%s AND kind='reopened'", handle.id
    )[0]["payload"]
    assert reopened["score"] == 2 and reopened["note"] == "还是导不出"
    told = rows(
        settings,
        "SELECT recipient, body FROM notifications"
        " WHERE case_number=%s AND purpose='aftersales_reopened' AND channel='inbox'",
        handle.id,
    )
    assert [t["recipient"] for t in told] == ["tech.wang"]
    # The history tells the next engineer what was diagnosed and done, and what the customer said.
    body = told[0]["body"]
    assert "角色缺少导出权限" in body and "远程指导开启权限" in body and "还是导不出" in body
    # Second handling: contact, remedy, resolution and a new survey; this time staff record a 5 on the phone.
    await handle.execute_update(
        AftersalesWorkflow.contact_customer, d.TechContact(actor="tech.wang", diagnosis="缓存未刷新")
    )
    view = await approve_and_resolve(handle)
    assert view.open_step.step == "satisfaction_callback" and view.open_step.seq == 2
    await handle.execute_update(
        AftersalesWorkflow.record_satisfaction, SatisfactionCallback(actor="小李", score=5)
    )
    assert await handle.result() == "resolved"
    row = record(settings, handle.id)
    assert row["handlings"] == 2 and row["satisfaction"] == 5
    surveys = rows(
        settings, "SELECT score, answered_via FROM surveys WHERE case_number=%s ORDER BY id", handle.id
    )
    assert [(s["score"], s["answered_via"]) for s in surveys] == [(2, "link"), (5, "callback")]
    entry = rows(settings, "SELECT * FROM case_library WHERE case_number=%s", handle.id)[0]
    assert (entry["category"], entry["symptom"], entry["cause"], entry["remedy"]) == (
        "fault",
        "点击导出报表没有反应",
        "角色未开通导出权限",
        "远程指导开启权限",
    )
    case = rows(settings, "SELECT state, outcome FROM cases WHERE number=%s", handle.id)[0]
    assert case == {"state": "closed", "outcome": "resolved"}
