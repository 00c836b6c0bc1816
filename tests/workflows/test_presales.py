"""Pre-sales end to end on the time-skipping server with real activities on real Postgres (PS-1..PS-4)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from domain import presales as ps
from tests.workflows.helpers import events, rows, start_presales, wait_for_step
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
    described = await handle.describe()
    assert described.typed_search_attributes.get(sa.SLA_STATE) == "breached"
    assert described.typed_search_attributes.get(sa.ESCALATION_LEVEL) == 1
    kinds = events(settings, handle.id)
    assert "sla_warning" in kinds and "sla_breached" in kinds
    inbox = rows(settings, "SELECT * FROM notifications WHERE case_number=%s ORDER BY id", handle.id)
    assert [n["recipient_role"] for n in inbox] == ["agent", "supervisor"]
    assert "王先生" in inbox[1]["body"] and "opened" in inbox[1]["body"]
    # Four hours later the director hears of it too (ESC-1 second rung).
    await env.sleep(timedelta(hours=4))
    view = await view_of(handle)
    assert view.escalation_level == 2
    inbox = rows(
        settings, "SELECT recipient_role FROM notifications WHERE case_number=%s ORDER BY id", handle.id
    )
    assert inbox[-1]["recipient_role"] == "director"


async def test_ps2_to_ps4_complex_need_runs_to_a_booked_trial(env, client, settings, worker):
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
