"""The deadline-bound step: the one mechanism every process uses for its deadlines.

``await self.steps.run(Step.PROPOSAL, until=lambda: self.proposal is not None)`` resolves the step's rule from
the case's policy version (process × step × severity × tier × channel × variant), opens the step, records
it, and waits for the action that completes it while durable timers run for the warning (a fraction of the
target) and the breach, counted on the rule's business calendar. A breach records an escalation event,
tells the owner and the chain's rungs through the notifier, raises ``EscalationLevel``, upserts the search
attributes, and keeps waiting. Pausing the clock (SLA-3) stops working time from being used. A hand-off to
another department (ESC-2) runs its own internal deadline inside the step.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.cases import CaseActivities
    from activities.changes import CaseChange, Notice, StepRow
    from activities.notify import NotifyActivities
    from activities.surveys import SurveyActivities
    from domain.actions import HandOff
    from domain.calendar import TWENTY_FOUR_SEVEN, BusinessCalendar
    from domain.clock import ClockEvent, StepClock
    from domain.models import HandOffView, Role, Step
    from domain.sla import ANY, BUSINESS, PolicyRule, resolve
    from domain.surveys import IssuedSurvey, IssueSurvey, SurveyAnswered

if TYPE_CHECKING:
    from workflows.case import CaseWorkflow

ACTIVITY_TIMEOUT = timedelta(seconds=30)
# An SMTP server or SMS gateway that is down gets about 15 minutes of retries, then the case moves on.
NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=2), maximum_attempts=12
)


# Workflow versions (docs/workflows.md): cases that sent messages inside staff actions before this replay so.
PATCH_NOTIFY_BESIDE_ACTIONS = "notify-beside-staff-actions"


class CaseClosing(Exception):
    """Unwinds a process when staff close the case at whatever step it stands."""


@dataclass
class OpenStep:
    step: Step
    seq: int
    rule: PolicyRule
    owner_role: Role
    clock: StepClock
    calendar_gap: list[int] = field(default_factory=list)
    handoffs: list[HandOffView] = field(default_factory=list)

    def open_handoff(self, department: str) -> HandOffView | None:
        return next((h for h in self.handoffs if h.department == department and h.replied_at is None), None)

    def next_handoff_due(self) -> HandOffView | None:
        waiting = [h for h in self.handoffs if h.replied_at is None and not h.overdue]
        return min(waiting, key=lambda h: h.due_at) if waiting else None


class Steps:
    def __init__(self, case: CaseWorkflow) -> None:
        self.case = case
        self.current: OpenStep | None = None
        self._seq: Counter[Step] = Counter()

    def calendar(self, name: str | None) -> BusinessCalendar:
        return self.case.calendars.get(name or TWENTY_FOUR_SEVEN.name, TWENTY_FOUR_SEVEN)

    def rule_for(self, step: Step, variant: str = ANY) -> PolicyRule:
        case = self.case
        return resolve(
            case.rules,
            process=case.process,
            step=step,
            severity=case.severity,
            tier=case.tier,
            channel=case.channel,
            variant=variant,
        )

    async def run(
        self,
        step: Step,
        *,
        until: Callable[[], bool],
        variant: str = ANY,
        since: datetime | None = None,
        before: datetime | None = None,
    ) -> None:
        """Opens ``step`` and waits for ``until``. The deadline counts from now, or from ``since`` (an earlier
        instant the target is measured from, e.g. when an order exception was reported), or — for an
        ``advance`` rule — lies the rule's target ahead of ``before`` (warn 48 h before the milestone)."""
        case = self.case
        rule = self.rule_for(step, variant)
        self._seq[step] += 1
        now = workflow.now()
        assert rule.target is not None
        target, calendar = rule.target, self.calendar(rule.calendar)
        if rule.off_hours_target is not None and not self.calendar(BUSINESS).is_working_day_at(now):
            # T-5: "4小时内解决方案(非工作日2小时)" — on a non-working day the shorter target runs round the clock.
            target, calendar = rule.off_hours_target, TWENTY_FOUR_SEVEN
        start = min(since, now) if since is not None else now
        if before is not None:
            # Whatever working time is left until (before - target); none left: the step opens breached.
            latest = before - target
            start, target = now, calendar.between(now, latest) if latest > now else timedelta(0)
        clock = StepClock(
            opened_at=start,
            target=target,
            warn_fraction=rule.warn_at,
            chain_after=[level.after for level in rule.chain],
            calendar=calendar,
        )
        due = clock.due_at()
        assert due is not None
        current = self.current = OpenStep(step, self._seq[step], rule, rule.owner_role, clock)
        current.calendar_gap = calendar.missing_years(now, due)
        case.escalation_level = 0
        await self.record(
            "step_opened",
            payload={
                "due_at": due.isoformat(),
                "target": target.total_seconds(),
                "calendar": calendar.name,
                "rule": rule.source,
                **({"calendar_gap": current.calendar_gap} if current.calendar_gap else {}),
            },
            step_open=StepRow(
                step=step,
                seq=current.seq,
                owner_role=current.owner_role,
                owner=case.owner,
                opened_at=start,
                due_at=due,
                target_seconds=int(target.total_seconds()),
            ),
            case_patch={"current_step": step, "owner_role": current.owner_role},
        )
        while True:
            fire, at = self._next(current)
            timeout = max(at - workflow.now(), timedelta(0)) if at else None
            try:
                await case.park(until, timeout=timeout)
            except TimeoutError:
                await fire()
                continue
            if case.closing:
                raise CaseClosing
            if until():
                break
        await self._complete(current)

    def _next(self, current: OpenStep) -> tuple[Callable[[], Any], datetime | None]:
        """The earliest pending timer of the step: its own clock or a hand-off's internal deadline."""
        pending = current.clock.next_event()
        handoff = current.next_handoff_due()
        if handoff is not None and (pending is None or handoff.due_at < pending[1]):
            return (lambda: self._handoff_overdue(current, handoff)), handoff.due_at
        if pending is not None:
            event = pending[0]
            return (lambda: self._fire(current, event)), pending[1]
        return (lambda: None), None

    async def _fire(self, current: OpenStep, event: ClockEvent) -> None:
        clock = current.clock
        case = self.case
        now = workflow.now()
        told = clock.fire(event, now)
        if event is ClockEvent.WARNING:
            await self.record("sla_warning", step_patch={"warned_at": now})
            await self.notify("warning", recipient_role=current.owner_role, recipient=case.owner)
            return
        if event is ClockEvent.BREACH:
            await self.record(
                "sla_breached",
                payload={
                    "due_at": clock.due_at().isoformat(),
                    "told": [current.rule.chain[i].role for i in told],
                },  # type: ignore[union-attr]
                step_patch={"breached_at": now},
                escalate_to=case.escalation_level + len(told),
            )
            await self.notify("breach", recipient_role=current.owner_role, recipient=case.owner)
        elif told:
            await self.record(
                "escalated",
                payload={"told": [current.rule.chain[i].role for i in told]},
                escalate_to=case.escalation_level + len(told),
            )
        for rung in told:
            await self.notify("escalation", recipient_role=current.rule.chain[rung].role, level=rung + 1)

    async def _complete(self, current: OpenStep) -> None:
        case = self.case
        now = workflow.now()
        current.clock.resume(now)
        action = case.take_action()
        self.current = None
        await self.record(
            "step_done",
            actor=action.actor if action else "system",
            step=current.step,
            seq=current.seq,
            payload={"action": action.name, **action.payload} if action else {},
            step_patch={
                "done_at": now,
                "outcome": action.payload if action else None,
                "paused_seconds": int(current.clock.paused_total.total_seconds()),
            },
            record=case.take_record(),
        )

    # -- satisfaction (SAT-1) ------------------------------------------------------------------------------

    async def send_survey(self, step: Step | None = None) -> IssuedSurvey | None:
        """Sends the customer a signed 1–5 survey link; None for a case without a customer (a campaign)."""
        case = self.case
        if case.opened is None or case.opened.customer_id is None:
            return None
        issued = await workflow.execute_activity_method(
            SurveyActivities.issue_survey,
            IssueSurvey(
                key=f"{case.number}:survey:{step or 'close'}:{self._seq[step] if step else 0}",
                customer_id=case.opened.customer_id,
                number=case.number,
                process=case.process,
                step=step,
                issued_at=workflow.now(),
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        case.survey, case.satisfaction = issued, None
        await self.notify(
            "survey",
            audience="customer",
            context={"survey_url": issued.url, "expires_at": issued.expires_at.isoformat()},
        )
        await self.record(
            "survey_sent", payload={"survey_id": issued.id, "expires_at": issued.expires_at.isoformat()}
        )
        return issued

    async def satisfaction(
        self, step: Step, *, variant: str = ANY, since: datetime | None = None
    ) -> SurveyAnswered:
        """The closing satisfaction step: a survey link goes out and ``step`` runs until the customer answers
        it, or staff record the answer of a phone callback (the ``record_satisfaction`` action). ``since``:
        as for ``run``, the instant the target counts from (an order's receipt)."""
        case = self.case
        await self.send_survey(step)
        await self.run(step, until=lambda: case.satisfaction is not None, variant=variant, since=since)
        assert case.satisfaction is not None
        return case.satisfaction

    # -- the clock, driven by the pause_clock / resume_clock actions --------------------------------------

    def pause(self) -> None:
        assert self.current is not None
        self.current.clock.pause(workflow.now())

    def resume(self) -> timedelta:
        assert self.current is not None
        return self.current.clock.resume(workflow.now())

    # -- cross-department hand-off (ESC-2) -----------------------------------------------------------------

    async def hand_off(self, h: HandOff) -> HandOffView:
        current = self.current
        assert current is not None
        now = workflow.now()
        rule = self.rule_for(Step.HANDOFF, variant=h.department)
        calendar = self.calendar(rule.calendar)
        within = h.internal_deadline or rule.target
        assert within is not None
        view = HandOffView(
            department=h.department,
            lead_department=h.lead_department,
            note=h.note,
            handed_at=now,
            due_at=calendar.add(now, within),
        )
        current.handoffs.append(view)
        context = {
            "department": view.department,
            "lead_department": view.lead_department,
            "internal_due_at": view.due_at.isoformat(),
            "note": view.note,
        }
        await self.record(
            "handed_off",
            actor=h.actor,
            payload={**context, "within": within.total_seconds(), "calendar": calendar.name},
        )
        await self.notify("handoff", department=h.department, due_at=view.due_at, context=context)
        return view

    async def reply_handoff(self, department: str, reply: str, actor: str) -> None:
        current = self.current
        assert current is not None
        view = current.open_handoff(department)
        assert view is not None
        view.replied_at, view.reply = workflow.now(), reply
        await self.record(
            "handoff_replied",
            actor=actor,
            payload={"department": department, "reply": reply, "late": view.overdue},
        )

    async def _handoff_overdue(self, current: OpenStep, view: HandOffView) -> None:
        view.overdue = True
        context = {
            "department": view.department,
            "internal_due_at": view.due_at.isoformat(),
            "note": view.note,
        }
        await self.record("handoff_overdue", payload=context)
        await self.notify(
            "handoff_overdue",
            recipient_role=Role.SUPERVISOR,
            department=view.department,
            due_at=view.due_at,
            context=context,
        )

    # -- recording --------------------------------------------------------------------------------------------

    async def record(
        self,
        kind: str,
        *,
        actor: str = "system",
        step: Step | None = None,
        seq: int | None = None,
        payload: dict[str, Any] | None = None,
        step_open: StepRow | None = None,
        step_patch: dict[str, Any] | None = None,
        case_patch: dict[str, Any] | None = None,
        record: dict[str, Any] | None = None,
        escalate_to: int | None = None,
    ) -> None:
        """Writes an event (and the rows that go with it) and republishes the case's search attributes."""
        case = self.case
        if escalate_to is not None:
            case.escalation_level = escalate_to
        current = self.current
        if step is None and current is not None:
            step, seq = current.step, current.seq
        change = CaseChange(
            number=case.number,
            key=case.next_event_key(kind),
            at=workflow.now(),
            actor=actor,
            kind=kind,
            step=step,
            seq=seq,
            payload=payload or {},
            step_open=step_open,
            step_patch=step_patch or {},
            record=record or {},
            case={
                "sla_state": case.sla_state(),
                "next_deadline": current.clock.due_at() if current else None,
                "escalation_level": case.escalation_level,
                "owner": case.owner,
                "severity": case.severity,
                "state": case.state,
                **(case_patch or {}),
            },
        )
        await workflow.execute_activity_method(
            CaseActivities.record_change, change, start_to_close_timeout=ACTIVITY_TIMEOUT
        )
        case.publish()

    async def notify(
        self,
        purpose: str,
        *,
        level: int = 0,
        recipient_role: Role | None = None,
        recipient: str | None = None,
        department: str | None = None,
        audience: str = "staff",
        due_at: datetime | None = None,
        context: dict[str, Any] | None = None,
    ) -> None:
        """Sends a message through the notifier. Called from a staff action (an Update handler), the message
        goes out beside the case: a channel that is down (retried for about 15 minutes) must not hold the
        staff member's answer. The case finishes only after such messages are out (``CaseWorkflow.settle``)."""
        current = self.current
        if due_at is None and current is not None:
            due_at = current.clock.due_at()
        notice = Notice(
            key=self.case.next_event_key(f"notify:{purpose}:{recipient_role or department or audience}"),
            number=self.case.number,
            purpose=purpose,
            audience=audience,  # type: ignore[arg-type]
            recipient_role=recipient_role,
            recipient=recipient,
            department=department,
            step=current.step if current else None,
            level=level,
            due_at=due_at,
            context=context or {},
        )
        if workflow.current_update_info() is not None and workflow.patched(PATCH_NOTIFY_BESIDE_ACTIONS):
            self.case.in_background(self._deliver(notice))
        else:
            await self._deliver(notice)

    async def _deliver(self, notice: Notice) -> None:
        try:
            await workflow.execute_activity_method(
                NotifyActivities.notify,
                notice,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=NOTIFY_RETRY,
            )
        except ActivityError as err:
            # The inbox rows are written before anything is sent, so staff still see the message; a channel
            # that stays down must not hold the case's clock hostage. The outbox shows the failed rows.
            await self.record(
                "notify_failed",
                payload={"purpose": notice.purpose, "key": notice.key, "error": str(err.cause or err)},
            )
