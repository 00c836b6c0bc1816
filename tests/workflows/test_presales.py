"""Pre-sales end to end on the time-skipping server with real activities on real Postgres (PS-1..PS-4)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from domain import presales as ps
from domain.actions import Assignment, PauseClock, ResumeClock
from tests.workflows.helpers import (
    close_case,
    events,
    publish,
    rows,
    search_attribute,
    start_presales,
    wait_for_step,
)
from tests.workflows.helpers import view as view_of
from workflows import search_attributes as sa
from workflows.presales import PresalesWorkflow


async def test_ps1_inquiry_is_recorded_with_five_minute_first_response(env, client, settings, worker):
    handle = await start_presales(client, settings)
    view = await wait_for_step(handle, "first_response")
    assert view.open_step.due_at - view.open_step.opened_at == timedelta(minutes=5)
    record = rows(settings, "SELECT * FROM presales_records WHERE case_number=%s", handle.id)[0]
    assert record["product"] == "智能客服系统" and record["channel"] == "online_chat"
    case = rows(settings, "SELECT * FROM cases WHERE number=%s", handle.id)[0]
    assert case["current_step"] == "first_response" and case["state"] == "open"
    assert case["next_deadline"] is not None


async def test_ps1_unanswered_inquiry_breaches_and_escalates(
    env: WorkflowEnvironment, client, settings, worker
):
    handle = await start_presales(client, settings)
    await wait_for_step(handle, "first_response")
    await env.sleep(timedelta(minutes=4, seconds=30))
    assert (await view_of(handle)).sla_state == "warning"
    await env.sleep(timedelta(minutes=1))
    view = await view_of(handle)
    assert view.sla_state == "breached" and view.escalation_level == 1
    assert await search_attribute(client, handle.id, sa.SLA_STATE) == "breached"
    assert await search_attribute(client, handle.id, sa.ESCALATION_LEVEL) == 1
    kinds = events(settings, handle.id)
    assert "sla_warning" in kinds and "sla_breached" in kinds
    # Staff of a role each get an inbox entry (and an email); one line per purpose and role here.
    inbox = rows(
        settings,
        "SELECT purpose, recipient_role, min(body) AS body FROM notifications"
        " WHERE case_number=%s AND channel='inbox' GROUP BY 1, 2 ORDER BY min(id)",
        handle.id,
    )
    assert [(n["purpose"], n["recipient_role"]) for n in inbox] == [
        ("warning", "agent"),
        ("breach", "agent"),
        ("escalation", "supervisor"),
    ]
    assert "王先生" in inbox[2]["body"] and "创建案件" in inbox[2]["body"]
    # Four hours later the director hears of it too (ESC-1 second rung).
    await env.sleep(timedelta(hours=4))
    view = await view_of(handle)
    assert view.escalation_level == 2
    inbox = rows(
        settings,
        "SELECT recipient_role FROM notifications WHERE case_number=%s AND channel='inbox' ORDER BY id",
        handle.id,
    )
    assert inbox[-1]["recipient_role"] == "director"


async def test_ps2_to_ps4_complex_need_runs_to_a_booked_trial_and_sat1_survey_goes_out(
    env, client, settings, worker
):
    handle = await start_presales(client, settings)
    await wait_for_step(handle, "first_response")
    await handle.execute_update(PresalesWorkflow.respond, ps.FirstResponse(actor="小李", note="您好，已收到"))
    view = await handle.execute_update(
        PresalesWorkflow.grade,
        ps.Grading(actor="小李", urgency="urgent", value="high", complex=True, analysis="需对接 ERP"),
    )
    assert view.severity == "urgent_high" and view.open_step.step == "feasibility_review"
    view = await handle.execute_update(
        PresalesWorkflow.review_feasibility, ps.FeasibilityReview(actor="技术", feasible=True, report="可行")
    )
    assert view.open_step.step == "proposal"
    assert view.open_step.due_at - view.open_step.opened_at == timedelta(hours=72)
    view = await handle.execute_update(
        PresalesWorkflow.send_proposal,
        ps.Proposal(actor="小李", summary="标准版+ERP接口", quote="48万", timeline="6周"),
    )
    assert view.open_step.step == "follow_up"
    assert view.open_step.due_at - view.open_step.opened_at == timedelta(days=3)
    view = await handle.execute_update(
        PresalesWorkflow.record_follow_up, ps.FollowUp(actor="小李", intent="interested", next_step="trial")
    )
    assert await handle.result() == "trial_booked"
    record = rows(settings, "SELECT * FROM presales_records WHERE case_number=%s", handle.id)[0]
    assert record["priority"] == "urgent_high" and record["intent"] == "interested"
    assert record["next_step"] == "trial" and record["proposal_date"] is not None
    case = rows(settings, "SELECT * FROM cases WHERE number=%s", handle.id)[0]
    assert case["state"] == "closed" and case["outcome"] == "trial_booked"
    # SAT-1: the customer gets a 1–5 survey link; the case closes without waiting for the answer.
    survey = rows(settings, "SELECT * FROM surveys WHERE case_number=%s", handle.id)
    assert [(s["kind"], s["answered_at"]) for s in survey] == [("csat", None)]
    sent = rows(
        settings,
        "SELECT recipient, body FROM notifications WHERE case_number=%s AND purpose='survey'",
        handle.id,
    )
    assert sent and sent[0]["recipient"].startswith("customer:") and "/s/" in sent[0]["body"]


async def test_bad_update_is_rejected_and_leaves_no_trace(env, client, settings, worker):
    handle = await start_presales(client, settings)
    await wait_for_step(handle, "first_response")
    before = events(settings, handle.id)
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await handle.execute_update(
            PresalesWorkflow.send_proposal, ps.Proposal(actor="x", summary="s", quote="1", timeline="t")
        )
    assert "first_response" in str(err.value.cause)
    assert events(settings, handle.id) == before
    # The validator rejected it before it was accepted: no update event entered the history.
    history = (await handle.fetch_history()).events
    assert not [e for e in history if "UPDATE" in EventType.Name(e.event_type)]
    assert (await view_of(handle)).open_step.step == "first_response"


async def test_sla3_pausing_the_clock_keeps_the_remaining_time(
    env: WorkflowEnvironment, client, settings, worker
):
    handle = await start_presales(client, settings)
    opened = await wait_for_step(handle, "first_response")
    await env.sleep(timedelta(minutes=2))
    view = await handle.execute_update(
        PresalesWorkflow.pause_clock, PauseClock(actor="小李", reason="等客户提供型号")
    )
    assert view.sla_state == "paused" and view.open_step.due_at is None
    assert await search_attribute(client, handle.id, sa.SLA_STATE) == "paused"
    assert await search_attribute(client, handle.id, sa.NEXT_DEADLINE) is None
    await env.sleep(timedelta(hours=3))  # far past the 5-minute target: no breach while paused
    view = await handle.execute_update(PresalesWorkflow.resume_clock, ResumeClock(actor="小李"))
    assert view.sla_state == "on_track" and view.escalation_level == 0
    paused_for = view.open_step.due_at - opened.open_step.due_at
    assert timedelta(hours=2, minutes=59) < paused_for < timedelta(hours=3, minutes=1)
    assert "sla_breached" not in events(settings, handle.id)
    await env.sleep(timedelta(minutes=4))
    assert (await view_of(handle)).sla_state == "breached"
    step = rows(settings, "SELECT * FROM case_steps WHERE case_number=%s", handle.id)[0]
    assert step["breached_at"] is not None
    kinds = events(settings, handle.id)
    assert kinds.index("clock_paused") < kinds.index("clock_resumed") < kinds.index("sla_breached")


async def test_sla1_published_version_applies_to_new_cases_and_running_case_keeps_its_own(
    env: WorkflowEnvironment, client, settings, worker, restore_policy
):
    version = await publish(
        settings,
        {
            "process": "presales",
            "step": "first_response",
            "channel": "online_chat",
            "target": "20s",
            "chain": [{"role": "supervisor", "after": "0s"}],
        },
        note="demo: seconds",
    )
    handle = await start_presales(client, settings)
    view = await wait_for_step(handle, "first_response")
    assert view.policy_version == str(version)
    assert view.open_step.due_at - view.open_step.opened_at == timedelta(seconds=20)
    # A version published while the case runs does not touch it (SLA-1) ...
    await publish(settings, {"process": "presales", "step": "needs_analysis", "target": "7s"}, note="faster")
    await env.sleep(timedelta(seconds=21))
    assert (await view_of(handle)).sla_state == "breached"
    view = await handle.execute_update(
        PresalesWorkflow.respond, ps.FirstResponse(actor="a", note="迟到的回复")
    )
    assert view.open_step.step == "needs_analysis"
    assert view.open_step.due_at - view.open_step.opened_at == timedelta(hours=24)
    versions = rows(settings, "SELECT policy_version FROM cases WHERE number=%s", handle.id)
    assert versions[0]["policy_version"] == str(version)
    # ... while a case opened now gets it.
    newer = await start_presales(client, settings)
    await wait_for_step(newer, "first_response")
    view = await newer.execute_update(PresalesWorkflow.respond, ps.FirstResponse(actor="a", note="你好"))
    assert view.open_step.due_at - view.open_step.opened_at == timedelta(seconds=7)
    for h in (handle, newer):
        await close_case(h)


async def test_esc2_assign_sets_owner_in_search_attributes_and_record(env, client, settings, worker):
    handle = await start_presales(client, settings)
    await wait_for_step(handle, "first_response")
    view = await handle.execute_update(PresalesWorkflow.assign, Assignment(actor="主管", owner="小张"))
    assert view.owner == "小张"
    assert await search_attribute(client, handle.id, sa.OWNER) == "小张"
    assert rows(settings, "SELECT owner FROM cases WHERE number=%s", handle.id)[0]["owner"] == "小张"
    assert (
        rows(settings, "SELECT owner FROM presales_records WHERE case_number=%s", handle.id)[0]["owner"]
        == "小张"
    )


async def test_ps4_lead_pool_gets_a_monthly_product_update_until_reactivated(
    env: WorkflowEnvironment, client, settings, worker
):
    handle = await start_presales(client, settings)
    await wait_for_step(handle, "first_response")
    await handle.execute_update(PresalesWorkflow.respond, ps.FirstResponse(actor="a", note="n"))
    await handle.execute_update(
        PresalesWorkflow.grade, ps.Grading(actor="a", urgency="non_urgent", value="normal", analysis="x")
    )
    await handle.execute_update(
        PresalesWorkflow.send_proposal, ps.Proposal(actor="a", summary="s", quote="1", timeline="2w")
    )
    view = await handle.execute_update(
        PresalesWorkflow.record_follow_up, ps.FollowUp(actor="a", intent="not_interested")
    )
    assert view.state == "lead_pool" and view.open_step is None
    await env.sleep(timedelta(days=61))
    outbox = rows(
        settings,
        "SELECT recipient, channel FROM notifications WHERE case_number=%s AND purpose='product_update'",
        handle.id,
    )
    assert len(outbox) == 2 and outbox[0]["channel"] == "sms"  # the customer left a phone, no email
    assert outbox[0]["recipient"].startswith("customer:")
    assert events(settings, handle.id).count("product_update_sent") == 2
    assert rows(settings, "SELECT state FROM cases WHERE number=%s", handle.id)[0]["state"] == "lead_pool"
    view = await handle.execute_update(
        PresalesWorkflow.reactivate, ps.Reactivation(actor="a", note="有预算了")
    )
    assert view.state == "open" and view.open_step.step == "needs_analysis"
