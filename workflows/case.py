"""What every case workflow shares: its state, the live view, the common staff actions, search attributes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta, timezone
from typing import Any, ClassVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from activities.cases import CaseActivities
    from activities.changes import OpenCaseRequest
    from activities.surveys import SurveyActivities
    from domain.actions import (
        ActionSpec,
        Assignment,
        Closure,
        HandOff,
        HandOffReply,
        PauseClock,
        ResumeClock,
        StepNotOpen,
        check_open,
    )
    from domain.actions import open_actions as allowed_actions
    from domain.calendar import BusinessCalendar
    from domain.i18n import label
    from domain.models import (
        CarriedCase,
        CaseRef,
        CaseState,
        CaseView,
        OpenedCase,
        Severity,
        SlaState,
        StepView,
        Tier,
    )
    from domain.sla import ANY, PolicyRule
    from domain.surveys import CallbackAnswer, IssuedSurvey, SatisfactionCallback, SurveyAnswered
    from workflows import search_attributes as sa
    from workflows.steps import ACTIVITY_TIMEOUT, Steps

# Error types the API maps to HTTP: an action at the wrong time is a conflict, bad content is invalid.
STEP_NOT_OPEN = "StepNotOpen"
INVALID = "InvalidInput"

# The current details read in China Standard Time; the NextDeadline attribute itself is an instant.
_CST = timezone(timedelta(hours=8), "CST")


@dataclass
class TakenAction:
    name: str
    actor: str
    payload: dict[str, Any] = field(default_factory=dict)


class CaseWorkflow:
    """Base of every process workflow. Subclasses set ``ACTIONS`` and call ``open_case`` first."""

    ACTIONS: ClassVar[list[ActionSpec]]

    def __init__(self) -> None:
        self.ref: CaseRef | None = None
        self.opened: OpenedCase | None = None
        self.rules: list[PolicyRule] = []
        self.calendars: dict[str, BusinessCalendar] = {}
        self.channel: str = ANY
        self.state = CaseState.OPEN
        self.severity = Severity.UNGRADED
        self.owner: str | None = None
        self.outcome: str | None = None
        self.escalation_level = 0
        self.closing = False
        self.finished = False
        self.record_view: dict[str, Any] = {}
        # SAT-1: the survey sent at the closing satisfaction step, and its answer once given.
        self.survey: IssuedSurvey | None = None
        self.satisfaction: SurveyAnswered | None = None
        self.steps = Steps(self)
        self._parked = False
        self._poked = False
        self._action: TakenAction | None = None
        self._record_patch: dict[str, Any] = {}
        self._events = 0
        self._background: list[asyncio.Task[None]] = []

    # -- lifecycle --------------------------------------------------------------------------------------------

    async def open_case(
        self,
        ref: CaseRef,
        *,
        subject: str,
        record: dict[str, Any],
        carried: CarriedCase | None = None,
        channel: str = ANY,
    ) -> None:
        self.ref = ref
        self.channel = channel
        self.record_view = dict(record)
        if carried is not None:
            self.opened, self.severity, self.owner = carried.opened, carried.severity, carried.owner
        else:
            self.opened = await workflow.execute_activity_method(
                CaseActivities.open_case,
                OpenCaseRequest(case=ref, subject=subject, opened_at=workflow.now(), record=record),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
            )
        self.rules = [PolicyRule.model_validate(r) for r in self.opened.rules]
        self.calendars = {n: BusinessCalendar.model_validate(c) for n, c in self.opened.calendars.items()}
        self.publish()

    def carry(self) -> CarriedCase:
        assert self.opened is not None
        return CarriedCase(opened=self.opened, severity=self.severity, owner=self.owner)

    async def finish(self, outcome: str, *, actor: str = "system", note: str = "") -> str:
        self.outcome = outcome
        self.state = CaseState.CLOSED
        now = workflow.now()
        await self.steps.record(
            "closed_event",
            actor=actor,
            payload={"outcome": outcome, "note": note},
            case_patch={"outcome": outcome, "closed_at": now, "current_step": None},
        )
        self.finished = True  # recorded: actions waiting on the close may answer now
        await self.settle()
        return outcome

    def in_background(self, work: Coroutine[Any, Any, None]) -> None:
        """Runs ``work`` beside the process (a message sent from a staff action); ``settle`` waits for it."""
        self._background.append(asyncio.create_task(work))

    async def settle(self) -> None:
        """Before the run ends (finish, continue-as-new): staff actions answered, background messages out."""
        await workflow.wait_condition(workflow.all_handlers_finished)
        while self._background:
            await self._background.pop()
        await workflow.wait_condition(workflow.all_handlers_finished)

    async def park(self, until: Callable[[], bool], *, timeout: timedelta | None) -> None:
        """Waits for ``until``, a staff action, or ``timeout`` (raises asyncio.TimeoutError)."""
        self._parked = True
        self._poked = False
        try:
            await workflow.wait_condition(lambda: until() or self._poked or self.closing, timeout=timeout)
        finally:
            self._parked = False

    # -- facts the steps read ---------------------------------------------------------------------------------

    @property
    def number(self) -> str:
        assert self.ref is not None
        return self.ref.number

    @property
    def process(self) -> str:
        assert self.ref is not None
        return self.ref.process

    @property
    def tier(self) -> Tier:
        return self.opened.tier if self.opened else Tier.NORMAL

    def sla_state(self) -> SlaState:
        current = self.steps.current
        return current.clock.state() if current else SlaState.ON_TRACK

    def next_event_key(self, kind: str) -> str:
        self._events += 1
        return f"{self.number}:{workflow.info().run_id[:8]}:{self._events}:{kind}"

    def take_action(self) -> TakenAction | None:
        action, self._action = self._action, None
        return action

    def take_record(self) -> dict[str, Any]:
        patch, self._record_patch = self._record_patch, {}
        return patch

    # -- staff actions ------------------------------------------------------------------------------------------

    def check(self, name: str) -> None:
        """Validator body: rejects an action that is not open now, before anything enters the history."""
        spec = next((s for s in self.ACTIONS if s.name == name), None)
        if spec is None:
            raise ApplicationError(f"{self.process} has no action {name!r}", type=STEP_NOT_OPEN)
        current = self.steps.current
        try:
            check_open(spec, state=self.state, step=current.step if current else None)
        except StepNotOpen as err:
            raise ApplicationError(str(err), type=STEP_NOT_OPEN) from None
        if self.closing or self._action is not None:
            raise ApplicationError("another action on this case is still being applied", type=STEP_NOT_OPEN)

    async def act(self, name: str, payload: BaseModel, record: dict[str, Any] | None = None) -> CaseView:
        """Body of a process action: note it for the step's outcome and wait until the workflow moved on."""
        data = payload.model_dump(mode="json", exclude={"actor"})
        self._action = TakenAction(name, payload.actor, data)  # type: ignore[attr-defined]
        self._record_patch.update(record or {})
        self._poked = True
        # The action is consumed when the workflow completes the step; answer once it waits again.
        await workflow.wait_condition(lambda: (self._action is None and self._parked) or self.finished)
        return self.view()

    @workflow.update
    async def assign(self, a: Assignment) -> CaseView:
        self.owner = a.owner
        await self.steps.record(
            "assigned", actor=a.actor, payload={"owner": a.owner}, record={"owner": a.owner}
        )
        return self.view()

    @assign.validator
    def _check_assign(self, a: Assignment) -> None:
        self.check("assign")

    @workflow.update
    async def pause_clock(self, p: PauseClock) -> CaseView:
        self.steps.pause()
        self._poked = True
        await self.steps.record("clock_paused", actor=p.actor, payload={"reason": p.reason})
        return self.view()

    @pause_clock.validator
    def _check_pause(self, p: PauseClock) -> None:
        self.check("pause_clock")
        if self.steps.current and self.steps.current.clock.paused:
            raise ApplicationError("the clock is already paused", type=STEP_NOT_OPEN)

    @workflow.update
    async def resume_clock(self, r: ResumeClock) -> CaseView:
        lasted = self.steps.resume()
        self._poked = True
        await self.steps.record(
            "clock_resumed",
            actor=r.actor,
            payload={"paused_seconds": lasted.total_seconds(), "note": r.note},
        )
        return self.view()

    @resume_clock.validator
    def _check_resume(self, r: ResumeClock) -> None:
        self.check("resume_clock")
        if not (self.steps.current and self.steps.current.clock.paused):
            raise ApplicationError("the clock is not paused", type=STEP_NOT_OPEN)

    @workflow.update
    async def hand_off(self, h: HandOff) -> CaseView:
        await self.steps.hand_off(h)
        self._poked = True  # the step's wait picks up the hand-off's internal deadline
        return self.view()

    @hand_off.validator
    def _check_hand_off(self, h: HandOff) -> None:
        self.check("hand_off")
        current = self.steps.current
        if current is not None and current.open_handoff(h.department) is not None:
            raise ApplicationError(
                f"the case is already with {h.department}, waiting for its reply", type=STEP_NOT_OPEN
            )

    @workflow.update
    async def reply_handoff(self, r: HandOffReply) -> CaseView:
        await self.steps.reply_handoff(r.department, r.reply, r.actor)
        self._poked = True
        return self.view()

    @reply_handoff.validator
    def _check_reply_handoff(self, r: HandOffReply) -> None:
        self.check("reply_handoff")
        current = self.steps.current
        if current is None or current.open_handoff(r.department) is None:
            raise ApplicationError(
                f"no hand-off to {r.department} is waiting for a reply", type=STEP_NOT_OPEN
            )

    # -- satisfaction (SAT-1): the customer's link answer (a signal from the API) or a staff callback -----------

    @workflow.signal
    def survey_answered(self, a: SurveyAnswered) -> None:
        """The API stored the customer's answer; an answer to an older survey of this case changes nothing."""
        if self.survey is None or a.survey_id != self.survey.id or self.satisfaction is not None:
            return
        self.satisfaction = a
        if self._action is None:
            self._action = TakenAction(
                "survey_answered", "customer", {"score": a.score, "comment": a.comment or ""}
            )
        self._poked = True

    @workflow.update
    async def record_satisfaction(self, c: SatisfactionCallback) -> CaseView:
        assert self.survey is not None
        answer = await workflow.execute_activity_method(
            SurveyActivities.record_callback,
            CallbackAnswer(
                survey_id=self.survey.id, score=c.score, comment=c.comment, actor=c.actor, at=workflow.now()
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        # The link may have been answered while the callback was being recorded: the first answer counts.
        self.satisfaction = SurveyAnswered(survey_id=answer.survey_id, score=answer.score, comment=c.comment)
        return await self.act("record_satisfaction", c)

    @record_satisfaction.validator
    def _check_satisfaction(self, c: SatisfactionCallback) -> None:
        self.check("record_satisfaction")
        if self.survey is None or self.satisfaction is not None:
            raise ApplicationError("the satisfaction survey has been answered already", type=STEP_NOT_OPEN)

    @workflow.update
    async def close(self, c: Closure) -> CaseView:
        self._action = TakenAction("close", c.actor, {"reason": c.reason})
        self.closing = True
        await workflow.wait_condition(lambda: self.finished)
        return self.view()

    @close.validator
    def _check_close(self, c: Closure) -> None:
        self.check("close")

    async def closed_by_staff(self) -> str:
        action = self.take_action()
        return await self.finish(
            "closed_by_staff",
            actor=action.actor if action else "system",
            note=action.payload.get("reason", "") if action else "",
        )

    # -- what people see --------------------------------------------------------------------------------------

    def offers(self, name: str) -> bool:
        """Whether the case offers an action its step allows: a process narrows this where an action is
        open only at a point inside a step (a decision only once a plan is proposed)."""
        return True

    @workflow.query
    def view(self) -> CaseView:
        current = self.steps.current
        step_view = None
        if current is not None:
            clock = current.clock
            step_view = StepView(
                step=current.step,
                seq=current.seq,
                owner_role=current.owner_role,
                owner=self.owner,
                opened_at=clock.opened_at,
                due_at=clock.due_at(),
                warn_at=clock.warn_at(),
                sla_state=clock.state(),
                escalation_level=self.escalation_level,
                target_seconds=int(clock.target.total_seconds()),
                calendar=clock.calendar.name,
                calendar_gap=current.calendar_gap,
                handoffs=list(current.handoffs),
            )
        actions = allowed_actions(
            self.ACTIONS,
            state=self.state,
            step=current.step if current else None,
            paused=bool(current and current.clock.paused),
            awaiting_reply=bool(current and any(h.replied_at is None for h in current.handoffs)),
        )
        actions = [name for name in actions if self.offers(name)]
        return CaseView(
            number=self.number,
            process=self.process,
            state=self.state,
            customer_id=self.opened.customer_id if self.opened else None,
            customer_name=self.opened.customer_name if self.opened else None,
            tier=self.opened.tier if self.opened else None,
            severity=self.severity,
            owner=self.owner,
            open_step=step_view,
            sla_state=self.sla_state(),
            escalation_level=self.escalation_level,
            outcome=self.outcome,
            policy_version=self.opened.policy_version if self.opened else None,
            actions=actions,
            record=self.record_view,
        )

    def publish(self) -> None:
        """Upserts the search attributes and the current details, so the Temporal UI reads like a queue."""
        current = self.steps.current
        due = current.clock.due_at() if current else None
        owner = self.owner or (current.owner_role if current else "")
        workflow.upsert_search_attributes(
            [
                sa.CASE_PROCESS.value_set(self.process),
                sa.CASE_STEP.value_set(current.step if current else self.state),
                sa.CUSTOMER_TIER.value_set(self.tier),
                sa.SEVERITY.value_set(self.severity),
                sa.OWNER.value_set(owner),
                sa.SLA_STATE.value_set(self.sla_state()),
                sa.NEXT_DEADLINE.value_set(due) if due else sa.NEXT_DEADLINE.value_unset(),
                sa.ESCALATION_LEVEL.value_set(self.escalation_level),
                sa.CUSTOMER_ID.value_set(str(self.opened.customer_id or "") if self.opened else ""),
            ]
        )
        parts = [label(self.process), label(self.severity), label(self.tier)]
        if current is not None:
            parts.append(f"等待{label(current.owner_role)}{label(current.step)}")
            parts.append(label(current.clock.state()))
            if due is not None:
                parts.append(f"{label('due')} {due.astimezone(_CST).strftime('%m-%d %H:%M')}")
        else:
            parts.append(label(self.state))
        if self.escalation_level:
            parts.append(f"升级 L{self.escalation_level}")
        workflow.set_current_details(" · ".join(p for p in parts if p))
