"""Staff actions: one table per process says which action may run at which step.

The workflow's Update validators and the web/API layer read the same table, so a form only offers what
the workflow will accept, and both reject the same things with the same words.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field, field_validator

from domain.models import CaseState, Department, Model, Step
from domain.sla import parse_duration


class ActionInput(Model):
    """Every action says who did it; the staff app fills this from the login (SEC-4)."""

    actor: str = Field(min_length=1, max_length=100)


@dataclass(frozen=True)
class ActionSpec:
    name: str
    model: type[BaseModel]
    # The steps at which the action is open; None: at any open step (e.g. assign, pause).
    steps: frozenset[Step] | None
    states: frozenset[CaseState] = frozenset({CaseState.OPEN})
    # True for actions that change the step's clock or owner, not the process itself.
    housekeeping: bool = False
    # Needs some step open (its clock or owner is what the action changes), whichever step it is.
    needs_step: bool = False


class Assignment(ActionInput):
    owner: str = Field(min_length=1, max_length=100, description="staff member who takes the case")


class PauseClock(ActionInput):
    reason: str = Field(min_length=1, max_length=500, description="what we wait on the customer for")


class ResumeClock(ActionInput):
    note: str = Field(default="", max_length=500)


class Closure(ActionInput):
    reason: str = Field(min_length=1, max_length=500)


class HandOff(ActionInput):
    """ESC-2: hand the open step to another department, which owes a reply by an internal deadline."""

    department: Department = Field(description="the department that receives the case")
    lead_department: Department | None = Field(default=None, description="牵头部门 (003 §4.3), if not ours")
    internal_deadline: timedelta | None = Field(
        default=None, description="e.g. 2h; empty: the policy's hand-off target for that department"
    )
    note: str = Field(min_length=1, max_length=1000, description="what the department is asked to do")

    @field_validator("internal_deadline", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> timedelta | None:
        if v is None or v == "":
            return None
        value = parse_duration(v)
        if value <= timedelta(0):
            raise ValueError("the internal deadline must be positive")
        return value


class HandOffReply(ActionInput):
    department: Department = Field(description="the department that replies")
    reply: str = Field(min_length=1, max_length=2000)


COMMON_ACTIONS: list[ActionSpec] = [
    ActionSpec("assign", Assignment, None, housekeeping=True, needs_step=True),
    ActionSpec("pause_clock", PauseClock, None, housekeeping=True, needs_step=True),
    ActionSpec("resume_clock", ResumeClock, None, housekeeping=True, needs_step=True),
    ActionSpec("hand_off", HandOff, None, housekeeping=True, needs_step=True),
    ActionSpec("reply_handoff", HandOffReply, None, housekeeping=True, needs_step=True),
    ActionSpec(
        "close", Closure, None, states=frozenset({CaseState.OPEN, CaseState.LEAD_POOL}), housekeeping=True
    ),
]


class StepNotOpen(Exception):
    """The action is not open now (wrong step, closed case): the API answers 409."""


def check_open(spec: ActionSpec, *, state: CaseState, step: Step | None) -> None:
    if state not in spec.states:
        raise StepNotOpen(f"action {spec.name!r} is not allowed while the case is {state}")
    if spec.needs_step and step is None:
        raise StepNotOpen(f"action {spec.name!r} needs a step open (none is open now)")
    if spec.steps is not None and step not in spec.steps:
        where = ", ".join(sorted(spec.steps))
        raise StepNotOpen(f"action {spec.name!r} needs the step {where} open (open now: {step or 'none'})")


def open_actions(
    specs: list[ActionSpec],
    *,
    state: CaseState,
    step: Step | None,
    paused: bool,
    awaiting_reply: bool = False,
) -> list[str]:
    names = []
    for spec in specs:
        try:
            check_open(spec, state=state, step=step)
        except StepNotOpen:
            continue
        if spec.name == "pause_clock" and paused or spec.name == "resume_clock" and not paused:
            continue
        if spec.name == "reply_handoff" and not awaiting_reply:
            continue
        names.append(spec.name)
    return names
