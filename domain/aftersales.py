"""After-sales issue (SPEC AS-1..AS-5, seed 003 §2.3, 000 §(三)): intake and the staff actions of each step."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from domain.actions import COMMON_ACTIONS, ActionInput, ActionSpec
from domain.library import Category
from domain.models import CaseRef, Channel, Model, Severity, Step
from domain.surveys import Filled, satisfaction_action


class IssueType(StrEnum):
    """003 §2.3.2 步骤1: 功能故障、操作咨询、需求优化."""

    FAULT = "fault"
    HOW_TO = "how_to"
    IMPROVEMENT = "improvement"


class Urgency(StrEnum):
    URGENT = "urgent"
    ROUTINE = "routine"


# 000 §(三) 问题分类: the category picks the SLA rule variant of the response and resolution steps.
CATEGORY: dict[IssueType, Category] = {
    IssueType.FAULT: Category.FAULT,
    IssueType.HOW_TO: Category.CONSULTATION,
    IssueType.IMPROVEMENT: Category.SUGGESTION,
}


class AftersalesIntake(Model):
    """AS-1: the symptom, when it happened, the environment; urgency and type."""

    channel: Channel = Channel.PHONE
    contact: Filled = Field(max_length=200, description="name and phone/email of the person reporting")
    description: Filled = Field(max_length=4000, description="故障现象 / 问题描述")
    occurred_at: datetime | None = Field(default=None, description="when the problem first happened")
    environment: str | None = Field(
        default=None, max_length=2000, description="操作环境: version, device, system"
    )
    issue_type: IssueType
    urgency: Urgency = Urgency.ROUTINE

    @property
    def category(self) -> Category:
        return CATEGORY[self.issue_type]

    @property
    def severity(self) -> Severity:
        return Severity(self.urgency.value)


class AftersalesStart(Model):
    case: CaseRef
    intake: AftersalesIntake


class Route(StrEnum):
    """AS-2: a simple issue is answered by the agent; a complex or urgent one goes to tech support."""

    ANSWER = "answer"
    DISPATCH = "dispatch"


class IssueResponse(ActionInput):
    note: Filled = Field(max_length=4000, description="what the customer was told; with 直接解答, the answer")
    route: Route
    library_entry: int | None = Field(default=None, ge=1, description="the case-library entry used, if any")


class Dispatch(ActionInput):
    assignee: Filled = Field(max_length=100, description="the tech support engineer (username)")
    note: str = Field(default="", max_length=2000, description="what the engineer should know")


class TechContact(ActionInput):
    diagnosis: Filled = Field(max_length=4000, description="初步诊断")
    complex_issue: bool = Field(
        default=False, description="复杂问题: needs a staged plan (a fault: progress within 24 h)"
    )


class RemedyKind(StrEnum):
    """003 §2.3.2 步骤3: 远程指导、现场维修、功能优化."""

    REMOTE = "remote"
    ONSITE = "onsite"
    FIX = "fix"


class RemedyProposal(ActionInput):
    kind: RemedyKind
    plan: Filled = Field(max_length=4000, description="the remedy, as the customer is asked to approve it")
    staged: bool = Field(default=False, description="阶段性方案 (required for a complex issue)")


class CustomerDecision(ActionInput):
    approved: bool
    note: str = Field(default="", max_length=2000)


class ProgressNote(ActionInput):
    note: Filled = Field(max_length=4000, description="the progress the customer is told")


class SiteVisit(ActionInput):
    engineer: Filled = Field(max_length=100, description="the field engineer who went")
    note: Filled = Field(max_length=4000, description="what was done on site")


class Resolution(ActionInput):
    remedy: Filled = Field(max_length=4000, description="what solved the problem")
    cause: str = Field(default="", max_length=4000, description="the cause found")
    customer_confirmed: bool = Field(description="客户确认已解决")


ACTIONS: list[ActionSpec] = [
    ActionSpec("respond", IssueResponse, frozenset({Step.ISSUE_RESPONSE})),
    ActionSpec("dispatch", Dispatch, frozenset({Step.DISPATCH})),
    ActionSpec("contact_customer", TechContact, frozenset({Step.TECH_CONTACT})),
    ActionSpec(
        "post_progress", ProgressNote, frozenset({Step.PROGRESS_UPDATE, Step.RESOLUTION, Step.ONSITE_VISIT})
    ),
    ActionSpec("propose_remedy", RemedyProposal, frozenset({Step.RESOLUTION})),
    ActionSpec("customer_decision", CustomerDecision, frozenset({Step.RESOLUTION})),
    ActionSpec("record_visit", SiteVisit, frozenset({Step.ONSITE_VISIT})),
    ActionSpec("resolve", Resolution, frozenset({Step.RESOLUTION})),
    satisfaction_action(Step.SATISFACTION_CALLBACK),
    *COMMON_ACTIONS,
]

# The outcome of a case the customer is satisfied with (staff may still close a case: closed_by_staff).
OUTCOME_RESOLVED = "resolved"
