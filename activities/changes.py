"""The models the case activities take: what a workflow asks Postgres to record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from domain.models import CaseRef, Model, Role, Step


class OpenCaseRequest(Model):
    case: CaseRef
    subject: str
    opened_at: datetime
    record: dict[str, Any] = Field(default_factory=dict)  # the process record's intake columns


class StepRow(Model):
    step: Step
    seq: int
    owner_role: Role
    owner: str | None
    opened_at: datetime
    due_at: datetime | None
    target_seconds: int


class CaseChange(Model):
    """One change to a case: an event for the timeline plus the row updates that go with it.

    Applied in one transaction and keyed by ``key``: a retried activity applies it once.
    """

    number: str
    key: str
    at: datetime
    actor: str
    kind: str
    step: Step | None = None
    seq: int | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    case: dict[str, Any] = Field(default_factory=dict)  # cases columns
    step_open: StepRow | None = None
    step_patch: dict[str, Any] = Field(default_factory=dict)  # case_steps columns of (step, seq)
    record: dict[str, Any] = Field(default_factory=dict)  # the process record's columns


class Notice(Model):
    """A message for a role or person about a case; the notifier adds the case history (ESC-1)."""

    key: str
    number: str
    purpose: str  # warning | escalation | product_update | ...
    recipient_role: Role | None = None
    recipient: str | None = None
    channel: str = "inbox"
    step: Step | None = None
    level: int = 0
    due_at: datetime | None = None
