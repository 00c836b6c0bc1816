"""The models the case activities take: what a workflow asks Postgres to record."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

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
    """A message about a case for staff (by role, department or name) or for the customer.

    The notifier renders the template for ``purpose`` per channel, tier and locale (COM-2), adds the case
    history (ESC-1), and sends once per recipient and channel however often the activity is retried.
    """

    key: str
    number: str | None = None
    purpose: str  # warning | breach | escalation | handoff | handoff_overdue | product_update | ...
    audience: Literal["staff", "customer"] = "staff"
    recipient_role: Role | None = None
    department: str | None = None
    recipient: str | None = None  # a staff username
    channels: list[str] | None = None  # None: staff get inbox + email, the customer their preferred channel
    step: Step | None = None
    level: int = 0
    due_at: datetime | None = None
    context: dict[str, Any] = Field(default_factory=dict)  # extra template variables
