"""The deadline-bound step: the one mechanism every process uses for its deadlines.

``await self.steps.run(Step.PROPOSAL, until=lambda: self.proposal is not None)`` opens the step, records it,
and waits for the action that completes it while durable timers run for the warning (a fraction of the
target) and the breach. A breach records an escalation event, tells the next rung of the chain through the
notifier, raises ``EscalationLevel``, upserts the search attributes, and keeps waiting. Pausing the clock
(SLA-3) shifts every pending time by the length of the pause.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.cases import CaseActivities
    from activities.changes import CaseChange, Notice, StepRow
    from activities.notify import NotifyActivities
    from domain.clock import ClockEvent, StepClock
    from domain.models import Role, Step
    from domain.sla import PolicyRule, resolve

if TYPE_CHECKING:
    from workflows.case import CaseWorkflow

ACTIVITY_TIMEOUT = timedelta(seconds=30)


class CaseClosing(Exception):
    """Unwinds a process when staff close the case at whatever step it stands."""


@dataclass
class OpenStep:
    step: Step
    seq: int
    rule: PolicyRule
    owner_role: Role
    clock: StepClock


class Steps:
    def __init__(self, case: CaseWorkflow) -> None:
        self.case = case
        self.current: OpenStep | None = None
        self._seq: Counter[Step] = Counter()

    async def run(self, step: Step, *, until: Callable[[], bool], variant: str = "*") -> None:
        case = self.case
        rule = resolve(
            case.rules,
            process=case.process,
            step=step,
            severity=case.severity,
            tier=case.tier,
            variant=variant,
        )
        self._seq[step] += 1
        now = workflow.now()
        clock = StepClock(
            opened_at=now,
            target=rule.target,
            warn_fraction=rule.warn_at,
            chain_after=[level.after for level in rule.chain],
        )
        current = self.current = OpenStep(step, self._seq[step], rule, rule.owner_role, clock)
        case.escalation_level = 0
        await self.record(
            "step_opened",
            payload={"due_at": clock.due_at().isoformat(), "target": rule.target.total_seconds()},
            step_open=StepRow(
                step=step,
                seq=current.seq,
                owner_role=current.owner_role,
                owner=case.owner,
                opened_at=now,
                due_at=clock.due_at(),
                target_seconds=int(rule.target.total_seconds()),
            ),
            case_patch={"current_step": step, "owner_role": current.owner_role},
        )
        while True:
            pending = clock.next_event()
            timeout = max(pending[1] - workflow.now(), timedelta(0)) if pending else None
            try:
                await case.park(until, timeout=timeout)
            except TimeoutError:
                assert pending is not None
                await self._fire(current, pending[0])
                continue
            if case.closing:
                raise CaseClosing
            if until():
                break
        await self._complete(current)

    async def _fire(self, current: OpenStep, event: ClockEvent) -> None:
        clock = current.clock
        case = self.case
        now = workflow.now()
        told = clock.fire(event, now)
        if event is ClockEvent.WARNING:
            await self.record("sla_warning", step_patch={"warned_at": now})
            await self.notify("warning", recipient_role=current.owner_role, level=0)
            return
        if event is ClockEvent.BREACH:
            await self.record(
                "sla_breached",
                payload={"due_at": clock.due_at().isoformat(), "told": [current.rule.chain[i].role for i in told]},
                step_patch={"breached_at": now},
                escalate_to=case.escalation_level + len(told),
            )
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

    # -- the clock, driven by the pause_clock / resume_clock actions --------------------------------------

    def pause(self) -> None:
        assert self.current is not None
        self.current.clock.pause(workflow.now())

    def resume(self) -> timedelta:
        assert self.current is not None
        return self.current.clock.resume(workflow.now())

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
        due = current.clock.due_at() if current and not current.clock.paused else None
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
                "next_deadline": due,
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
        channel: str = "inbox",
    ) -> None:
        current = self.current
        await workflow.execute_activity_method(
            NotifyActivities.notify,
            Notice(
                key=self.case.next_event_key(f"notify:{purpose}:{recipient_role}"),
                number=self.case.number,
                purpose=purpose,
                recipient_role=recipient_role,
                recipient=recipient,
                channel=channel,
                step=current.step if current else None,
                level=level,
                due_at=current.clock.due_at() if current else None,
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
