"""API schemas, separate from the ORM models."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from domain.models import CaseView, NewCustomer, Process


class ExternalRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    external_ref: str | None = Field(
        default=None, max_length=200, description="the caller's own reference; a repeat returns the same case"
    )


class CustomerChoice(ExternalRef):
    """Every start request names a customer on file or describes a new one (C-1 subset)."""

    customer_id: int | None = Field(default=None, description="a customer on file")
    customer: NewCustomer | None = Field(default=None, description="a customer not on file yet")

    @model_validator(mode="after")
    def _one_customer(self) -> CustomerChoice:
        if (self.customer_id is None) == (self.customer is None):
            raise ValueError("give exactly one of customer_id or customer")
        return self


def start_request_model(process: str, intake: type[BaseModel]) -> type[BaseModel]:
    """``<Process>StartRequest``: the process's intake fields plus the customer choice. A value-added push
    campaign reaches many customers (its intake picks them) and names none."""
    base = ExternalRef if process == Process.VALUE_PUSH else CustomerChoice
    return create_model(f"{process.title().replace('_', '')}StartRequest", __base__=(intake, base))


class StartedCase(BaseModel):
    number: str
    process: str
    created: bool = Field(description="false when an earlier request with the same key started it")
    url: str
    temporal_ui: str


class StepRowOut(BaseModel):
    step: str
    seq: int
    owner_role: str
    owner: str | None
    opened_at: datetime
    due_at: datetime | None
    warned_at: datetime | None
    breached_at: datetime | None
    done_at: datetime | None
    outcome: dict[str, Any] | None
    paused_seconds: int


class EventOut(BaseModel):
    at: datetime
    actor: str
    kind: str
    step: str | None
    payload: dict[str, Any]


class CaseSummary(BaseModel):
    number: str
    process: str
    customer_id: int | None
    subject: str
    severity: str
    tier_at_open: str
    state: str
    current_step: str | None
    owner_role: str | None
    owner: str | None
    sla_state: str
    next_deadline: datetime | None
    escalation_level: int
    outcome: str | None
    opened_at: datetime
    closed_at: datetime | None


class CaseDetail(BaseModel):
    number: str
    process: str
    case: CaseSummary | None = Field(description="the Postgres record (absent for a moment after a start)")
    record: dict[str, Any] | None = Field(description="the process record of SPEC §7")
    live: CaseView | None = Field(description="the workflow's own answer, for a case still running")
    steps: list[StepRowOut]
    timeline: list[EventOut]
    temporal_ui: str


class CasePage(BaseModel):
    items: list[CaseSummary]
    total: int
    page: int
    page_size: int


class ActionInfo(BaseModel):
    name: str
    steps: list[str] | None
    states: list[str]
    input_schema: dict[str, Any]


class ProcessInfo(BaseModel):
    process: str
    prefix: str
    start_schema: dict[str, Any]
    actions: list[ActionInfo]
