"""Complaint (SPEC CP-1..CP-4, seed 003 §2.4, 000 §(三) 投诉类): intake, the grading matrix, the staff actions.

Grading (CP-2, 003 §2.4.2 步骤2 "根据投诉影响范围与客户等级分级") starts from the scope of impact and is
raised one grade for a VIP or key customer:

=========  =========  =========  =========  =========
scope      normal     watch      key        vip
=========  =========  =========  =========  =========
single     general    general    serious    serious
several    serious    serious    major      major
wide       major      major      major      major
=========  =========  =========  =========  =========

The matrix only suggests; the grader confirms it or overrides it with a reason.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import Field, ValidationInfo, field_validator

from domain.actions import COMMON_ACTIONS, ActionInput, ActionSpec
from domain.i18n import label
from domain.models import CASE_PREFIX, CaseRef, Channel, Department, Model, Severity, Step, Tier
from domain.surveys import satisfaction_action

# Staff type times in Beijing time; a time without an offset is read so.
_STAFF_TZ = ZoneInfo("Asia/Shanghai")
_CASE_NUMBER = rf"^({'|'.join(CASE_PREFIX.values())})-[A-Za-z0-9]+$"


class Emotion(StrEnum):
    """情绪激烈程度 (003 §2.4.2 步骤1)."""

    CALM = "calm"
    UPSET = "upset"
    ANGRY = "angry"


class Scope(StrEnum):
    """影响范围: one customer, several customers, or wide (many customers, public, media)."""

    SINGLE = "single"
    SEVERAL = "several"
    WIDE = "wide"


class Grade(StrEnum):
    GENERAL = "general"
    SERIOUS = "serious"
    MAJOR = "major"

    @property
    def severity(self) -> Severity:
        return Severity(self.value)


_BY_SCOPE = {Scope.SINGLE: Grade.GENERAL, Scope.SEVERAL: Grade.SERIOUS, Scope.WIDE: Grade.MAJOR}
_RAISING_TIERS = frozenset({Tier.VIP, Tier.KEY})
_ORDER = list(Grade)


def suggest_grade(scope: Scope, tier: Tier) -> Grade:
    """CP-2: the grade the matrix above gives for this scope and customer tier."""
    grade = _BY_SCOPE[scope]
    if tier in _RAISING_TIERS:
        grade = _ORDER[min(_ORDER.index(grade) + 1, len(_ORDER) - 1)]
    return grade


def suggestion_basis(scope: Scope, tier: Tier) -> str:
    return f"{label('scope')}：{label(scope)} × {label('tier')}：{label(tier)}"


def _optional(v: Any) -> Any:
    return None if isinstance(v, str) and not v.strip() else v


class ComplaintIntake(Model):
    """CP-1: who complains, through which channel, about what, what they want, how upset, how wide."""

    channel: Channel = Channel.WEB_FORM
    contact: str = Field(min_length=1, max_length=200, description="name and phone/email of the complainant")
    content: str = Field(min_length=1, max_length=4000, description="涉及问题")
    demand: str = Field(min_length=1, max_length=2000, description="what the customer asks for")
    emotion: Emotion = Field(description="情绪激烈程度")
    scope: Scope = Field(description="影响范围: single customer, several, or wide")
    related_case: str | None = Field(
        default=None,
        max_length=40,
        pattern=_CASE_NUMBER,
        description="e.g. AS-1024 (the case complained about)",
    )

    _blank_is_none = field_validator("related_case", mode="before")(_optional)


class ComplaintStart(Model):
    case: CaseRef
    intake: ComplaintIntake


class FirstContact(ActionInput):
    """CP-1: the specialist called within 5 minutes, apologised and listened."""

    apology: str = Field(min_length=1, max_length=4000, description="what was said: apology, what was heard")
    demand: str = Field(min_length=1, max_length=2000, description="the customer's demand as confirmed")
    emotion: Emotion


class ComplaintGrading(ActionInput):
    """CP-2: general / serious / major; a grade other than the suggested one needs a reason."""

    level: Grade
    reason: str = Field(default="", max_length=1000, description="required when overriding the suggestion")


class Calming(ActionInput):
    """CP-1: the calming contact (000 §(三) 1小时内联系客户安抚情绪)."""

    note: str = Field(min_length=1, max_length=4000, description="what was said to the customer")
    emotion: Emotion = Field(description="the customer's mood after the call")


class Findings(ActionInput):
    """CP-2: the investigation report; it names the party responsible (003 §2.4.2 明确责任方)."""

    findings: str = Field(min_length=1, max_length=4000, description="facts found")
    responsible_party: str = Field(min_length=1, max_length=200, description="责任方, e.g. 仓储部")
    departments: list[Department] = Field(
        default_factory=list, description="departments involved, comma-separated (hand-offs are added)"
    )

    @field_validator("departments", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        if isinstance(v, str):  # the web form sends one text field
            return [
                part.strip() for part in v.replace("，", ",").replace("、", ",").split(",") if part.strip()
            ]
        return v


class RemedyProposal(ActionInput):
    """CP-3: a plan of apology, compensation, replacement and/or corrective action, for the customer to accept."""

    plan: str = Field(min_length=1, max_length=4000, description="the plan, its grounds and its timing")
    apology: bool = Field(default=False, description="a formal apology")
    compensation: str | None = Field(default=None, max_length=500, description="e.g. 延长服务期1个月")
    replacement: str | None = Field(default=None, max_length=500, description="what is replaced")
    corrective_action: str | None = Field(
        default=None, max_length=1000, validate_default=True, description="整改措施"
    )

    _blank_is_none = field_validator("compensation", "replacement", mode="before")(_optional)

    @field_validator("corrective_action", mode="before")
    @classmethod
    def _some_measure(cls, v: Any, info: ValidationInfo) -> Any:
        v = _optional(v)
        data = info.data
        if v is None and not (data.get("apology") or data.get("compensation") or data.get("replacement")):
            raise ValueError(
                "a plan needs at least one measure: apology, compensation, replacement or correction"
            )
        return v

    def summary(self) -> str:
        """The plan as the record and the customer read it."""
        measures = [label("apology")] if self.apology else []
        measures += [
            f"{label(name)}：{value}"
            for name, value in (
                ("compensation", self.compensation),
                ("replacement", self.replacement),
                ("corrective_action", self.corrective_action),
            )
            if value
        ]
        return f"{'；'.join(measures)}。{self.plan}"


class CustomerDecision(ActionInput):
    """CP-3: the customer accepts the plan (it then runs) or rejects it (a new plan is proposed)."""

    accepted: bool = Field(description="the customer accepts the plan")
    note: str = Field(
        default="", max_length=2000, validate_default=True, description="what the customer said"
    )

    @field_validator("note")
    @classmethod
    def _objection(cls, note: str, info: ValidationInfo) -> str:
        if not info.data.get("accepted") and not note.strip():
            raise ValueError("note what the customer objects to, for the next plan")
        return note


class ResultReport(ActionInput):
    """CP-4: the plan was carried out; the customer is told the result."""

    result: str = Field(min_length=1, max_length=4000, description="what was done, as told to the customer")
    executed_at: datetime | None = Field(default=None, description="when it was done (empty: now)")

    @field_validator("executed_at", mode="after")
    @classmethod
    def _beijing(cls, v: datetime | None) -> datetime | None:
        return v.replace(tzinfo=_STAFF_TZ) if v is not None and v.tzinfo is None else v


class Execution(ActionInput):
    """CP-4: the accepted plan has been carried out (the refund paid, the replacement delivered)."""

    executed_at: datetime | None = Field(default=None, description="when it was done (empty: now)")
    note: str = Field(default="", max_length=2000, description="what was done")

    @field_validator("executed_at", mode="after")
    @classmethod
    def _beijing(cls, v: datetime | None) -> datetime | None:
        return v.replace(tzinfo=_STAFF_TZ) if v is not None and v.tzinfo is None else v


ACTIONS: list[ActionSpec] = [
    ActionSpec("contact_complainant", FirstContact, frozenset({Step.COMPLAINT_CONTACT})),
    ActionSpec("grade_complaint", ComplaintGrading, frozenset({Step.COMPLAINT_CONTACT})),
    ActionSpec("calm_customer", Calming, frozenset({Step.CALMING_CONTACT})),
    ActionSpec("report_findings", Findings, frozenset({Step.INVESTIGATION})),
    ActionSpec("propose_remedy", RemedyProposal, frozenset({Step.REMEDY_PLAN})),
    ActionSpec("customer_decision", CustomerDecision, frozenset({Step.REMEDY_PLAN})),
    ActionSpec("record_execution", Execution, frozenset({Step.REMEDY_EXECUTION})),
    ActionSpec("report_result", ResultReport, frozenset({Step.RESULT_NOTICE})),
    satisfaction_action(Step.SECOND_CALLBACK),
    *COMMON_ACTIONS,
]

# Workflow versions (docs/workflows.md): cases whose plan was accepted before the execution step replay without it.
PATCH_EXECUTION_STEP = "cp4-execution-step"

OUTCOME_RESOLVED = "resolved"
