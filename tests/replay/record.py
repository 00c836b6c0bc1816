"""Records the histories the replay test checks. Run on purpose, never in the suite:

    .venv/bin/pytest tests/replay/record.py

Re-record only when a workflow change is meant to be incompatible (and then version it, see docs/workflows.md):
the committed histories stand for cases already running in production.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from domain import presales as ps
from domain.actions import Closure, HandOff, HandOffReply, PauseClock, ResumeClock
from tests.workflows.helpers import start_presales, wait_for_step
from workflows.presales import PresalesWorkflow

HISTORIES = Path(__file__).parent / "histories"


async def _save(handle, name: str) -> None:
    history = await handle.fetch_history()
    (HISTORIES / f"{name}.json").write_text(history.to_json(), encoding="utf-8")


async def test_record_histories(env, client, settings, worker):
    # 1. Complex need to a booked trial, with a warning and a breach on the way.
    h = await start_presales(client, settings)
    await wait_for_step(h, "first_response")
    await env.sleep(timedelta(minutes=6))
    await h.execute_update(PresalesWorkflow.respond, ps.FirstResponse(actor="a", note="n"))
    await h.execute_update(
        PresalesWorkflow.grade,
        ps.Grading(actor="a", urgency="urgent", value="high", complex=True, analysis="x"),
    )
    # A hand-off to the tech department that replies late (ESC-2), inside the feasibility review.
    await h.execute_update(
        PresalesWorkflow.hand_off,
        HandOff(actor="a", department="tech", internal_deadline="1h", note="评估接口"),
    )
    await env.sleep(timedelta(hours=2))
    await h.execute_update(
        PresalesWorkflow.reply_handoff, HandOffReply(actor="t", department="tech", reply="可行")
    )
    await h.execute_update(
        PresalesWorkflow.review_feasibility, ps.FeasibilityReview(actor="t", feasible=True, report="ok")
    )
    await h.execute_update(
        PresalesWorkflow.send_proposal, ps.Proposal(actor="a", summary="s", quote="1", timeline="2w")
    )
    await h.execute_update(
        PresalesWorkflow.record_follow_up, ps.FollowUp(actor="a", intent="interested", next_step="trial")
    )
    await h.result()
    await _save(h, "presales_trial_after_breach")

    # 2. Paused clock, lead pool with a monthly touch, reactivation, then closed by staff.
    h = await start_presales(client, settings)
    await wait_for_step(h, "first_response")
    await h.execute_update(PresalesWorkflow.pause_clock, PauseClock(actor="a", reason="r"))
    await env.sleep(timedelta(hours=1))
    await h.execute_update(PresalesWorkflow.resume_clock, ResumeClock(actor="a"))
    await h.execute_update(PresalesWorkflow.respond, ps.FirstResponse(actor="a", note="n"))
    await h.execute_update(
        PresalesWorkflow.grade, ps.Grading(actor="a", urgency="non_urgent", value="normal", analysis="x")
    )
    await h.execute_update(
        PresalesWorkflow.send_proposal, ps.Proposal(actor="a", summary="s", quote="1", timeline="2w")
    )
    await h.execute_update(PresalesWorkflow.record_follow_up, ps.FollowUp(actor="a", intent="not_interested"))
    await env.sleep(timedelta(days=31))
    await h.execute_update(PresalesWorkflow.reactivate, ps.Reactivation(actor="a", note="back"))
    await h.execute_update(PresalesWorkflow.close, Closure(actor="a", reason="done"))
    await h.result()
    await _save(h, "presales_lead_pool_reactivated_closed")


async def test_record_process_histories(env, client, settings, worker):
    """One history per process of issue 4, each through its distinctive paths."""
    from domain import complaint as cp
    from domain.surveys import SatisfactionCallback
    from tests.workflows import test_aftersales as as_
    from tests.workflows import test_complaint as cp_
    from tests.workflows import test_order_followup as of_
    from workflows.aftersales import AftersalesWorkflow
    from workflows.complaint import ComplaintWorkflow
    from workflows.order_followup import OrderFollowupWorkflow

    # Order follow-up: installation planned, a milestone notice, delivery, installation, staff callback.
    install = (await of_.now(env)) + timedelta(days=3)
    h = await of_.start_order(client, settings, planned=[{"milestone": "install", "planned_at": install}])
    await of_.confirmed(h, settings)
    await of_.send(h, "delivered")
    await env.sleep(timedelta(days=2, hours=1))
    await of_.send(h, "installed")
    await wait_for_step(h, "delivery_satisfaction")
    await h.execute_update(
        OrderFollowupWorkflow.record_satisfaction, SatisfactionCallback(actor="a", score=5)
    )
    await h.result()
    await _save(h, "order_followup_installed_and_surveyed")

    # After-sales: a fault resolved, the customer unsatisfied on the link, second handling, then satisfied.
    h = await as_.start_aftersales(client, settings, issue_type="fault")
    await as_.to_resolution(h)
    await as_.approve_and_resolve(h)
    await h.signal(
        AftersalesWorkflow.survey_answered, await as_.answer_on_the_link(settings, h.id, 2, "未解决")
    )
    await as_.at_step(h, settings, "tech_contact")
    from domain import aftersales as asd

    await h.execute_update(AftersalesWorkflow.contact_customer, asd.TechContact(actor="t", diagnosis="缓存"))
    await as_.approve_and_resolve(h)
    await h.execute_update(AftersalesWorkflow.record_satisfaction, SatisfactionCallback(actor="a", score=5))
    await h.result()
    await _save(h, "aftersales_reopened_then_resolved")

    # Complaint: a major complaint led by the director, its plan carried out, second callback within three days.
    # (complaint_major_with_second_callback.json, recorded before the execution step, stays for the old branch.)
    h = await cp_.start(client, settings, scope="wide")
    await cp_.to_result_notice(h, "major")
    await cp_.act(h, "report_result", cp.ResultReport, result="已全额退款")
    await env.sleep(timedelta(days=2))
    await h.execute_update(ComplaintWorkflow.record_satisfaction, SatisfactionCallback(actor="a", score=5))
    await h.result()
    await _save(h, "complaint_major_executed_with_second_callback")


async def test_record_care_histories(env, client, settings, worker):
    """The customer journey (first purchase, a spend drop, the renewal reminder, ended by a merge) and a care
    task (late, rescheduled, completed)."""
    from api import journeys
    from domain import care as c
    from tests.workflows import test_journey as j
    from workflows.care import CareTaskWorkflow

    today = c.day_of(await env.get_current_time())
    cid = j.customer(settings, owner="am_replay", contract_end=today + timedelta(days=35))
    await journeys.purchased(client, settings, cid, "1000", at=await env.get_current_time())
    [task] = await j.tasks(settings, cid)
    await journeys.signal_journey(client, settings, cid, "spend_dropped")
    await j.tasks(settings, cid, count=2)
    handle = client.get_workflow_handle(task["number"])
    await env.sleep(timedelta(hours=50))
    retry = (await env.get_current_time()) + timedelta(days=1)
    await handle.execute_update(
        CareTaskWorkflow.reschedule, c.Reschedule(actor="a", reason="unreachable", retry_at=retry)
    )
    await handle.execute_update(CareTaskWorkflow.complete, c.CareDone(actor="a", note="已回访"))
    await handle.result()
    await _save(handle, "care_welcome_callback_rescheduled_completed")

    await env.sleep(timedelta(days=6))
    await j.rows_eventually(settings, j.TASKS, cid, count=3)  # the renewal follow-up
    await j.close_tasks(client, settings, cid)
    other = j.customer(settings)
    j.rows(settings, "UPDATE customers SET merged_into=%s WHERE id=%s RETURNING id", other, cid)
    await journeys.signal_journey(client, settings, cid, "profile_changed")
    journey = j.journey(client, cid)
    from temporalio.client import WorkflowExecutionStatus

    for _ in range(200):
        if (await journey.describe()).status == WorkflowExecutionStatus.COMPLETED:
            break
        await asyncio.sleep(0.05)
    assert (await journey.describe()).status == WorkflowExecutionStatus.COMPLETED
    await _save(journey, "journey_welcome_drop_renewal_merged")
