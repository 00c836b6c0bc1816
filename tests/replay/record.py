"""Records the histories the replay test checks. Run on purpose, never in the suite:

    .venv/bin/pytest tests/replay/record.py

Re-record only when a workflow change is meant to be incompatible (and then version it, see docs/workflows.md):
the committed histories stand for cases already running in production.
"""

from __future__ import annotations

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
