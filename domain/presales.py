"""Pre-sales inquiry (SPEC PS-1..PS-4, seed 003 §2.1): intake and the staff actions of each step."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field, ValidationInfo, field_validator

from domain.actions import COMMON_ACTIONS, ActionInput, ActionSpec
from domain.models import CarriedCase, CaseRef, CaseState, Channel, Model, Severity, Step


class PresalesIntake(Model):
    """PS-1: contact, product of interest, need, budget, use case."""

    channel: Channel = Channel.WEB_FORM
    contact: str = Field(
        min_length=1, max_length=200, description="name and phone/email of the person asking"
    )
    product: str = Field(min_length=1, max_length=200, description="product or service of interest")
    need: str = Field(min_length=1, max_length=4000, description="core need")
    budget: str | None = Field(default=None, max_length=100)
    use_case: str | None = Field(default=None, max_length=2000)


class PresalesStart(Model):
    case: CaseRef
    intake: PresalesIntake
    # Set when the workflow continues as new while in the lead pool.
    carried: CarriedCase | None = None


class Urgency(StrEnum):
    URGENT = "urgent"
    NON_URGENT = "non_urgent"


class Value(StrEnum):
    HIGH = "high"
    NORMAL = "normal"


class Intent(StrEnum):
    INTERESTED = "interested"
    NOT_INTERESTED = "not_interested"


class NextStep(StrEnum):
    TRIAL = "trial"
    NEGOTIATION = "negotiation"


class FirstResponse(ActionInput):
    note: str = Field(min_length=1, max_length=4000, description="what was said to the customer")


class Grading(ActionInput):
    """PS-2: urgency x value, and whether the need is complex (feasibility review by product/tech)."""

    urgency: Urgency
    value: Value
    complex: bool = False
    analysis: str = Field(min_length=1, max_length=4000, description="needs analysis")

    @property
    def severity(self) -> Severity:
        return Severity(f"{self.urgency.value.replace('_', '')}_{self.value.value}")


class FeasibilityReview(ActionInput):
    feasible: bool
    report: str = Field(min_length=1, max_length=4000, description="feasibility assessment")


class Proposal(ActionInput):
    """PS-3: product fit, quote and timeline, sent on the customer's preferred channel."""

    summary: str = Field(min_length=1, max_length=4000, description="product fit")
    quote: str = Field(min_length=1, max_length=200)
    timeline: str = Field(min_length=1, max_length=200, description="implementation period")
    channel: Channel = Channel.EMAIL


class FollowUp(ActionInput):
    """PS-4: interested -> trial or negotiation booked; not interested -> lead pool."""

    intent: Intent
    next_step: NextStep | None = Field(default=None, validate_default=True)
    booked_for: datetime | None = None
    note: str = Field(default="", max_length=4000)

    @field_validator("next_step")
    @classmethod
    def _booking(cls, next_step: NextStep | None, info: ValidationInfo) -> NextStep | None:
        intent = info.data.get("intent")
        if intent is Intent.INTERESTED and next_step is None:
            raise ValueError("an interested customer needs a trial or a negotiation booked")
        if intent is Intent.NOT_INTERESTED and next_step is not None:
            raise ValueError("only an interested customer gets a trial or negotiation")
        return next_step


class Reactivation(ActionInput):
    note: str = Field(min_length=1, max_length=4000, description="what the lead asked for")


ACTIONS: list[ActionSpec] = [
    ActionSpec("respond", FirstResponse, frozenset({Step.FIRST_RESPONSE})),
    ActionSpec("grade", Grading, frozenset({Step.NEEDS_ANALYSIS})),
    ActionSpec("review_feasibility", FeasibilityReview, frozenset({Step.FEASIBILITY_REVIEW})),
    ActionSpec("send_proposal", Proposal, frozenset({Step.PROPOSAL})),
    ActionSpec("record_follow_up", FollowUp, frozenset({Step.FOLLOW_UP})),
    ActionSpec("reactivate", Reactivation, None, states=frozenset({CaseState.LEAD_POOL})),
    *COMMON_ACTIONS,
]

# Workflow versions (docs/workflows.md): cases started before a change replay without it.
PATCH_CLOSING_SURVEY = "sat-1-closing-survey"

# Outcomes a pre-sales case ends with.
OUTCOME_TRIAL = "trial_booked"
OUTCOME_NEGOTIATION = "negotiation_booked"
OUTCOME_NOT_FEASIBLE = "not_feasible"
