"""Enums and the models that cross the workflow boundary (inputs, update payloads, snapshots)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Process(StrEnum):
    PRESALES = "presales"
    ORDER_FOLLOWUP = "order_followup"
    AFTERSALES = "aftersales"
    COMPLAINT = "complaint"
    VALUE_PUSH = "value_push"
    CARE = "care"  # owner tasks of the customer journey and interaction plans (R-1..R-4, R-7)


# Case numbers carry the process so a number alone tells a person what it is.
CASE_PREFIX: dict[Process, str] = {
    Process.PRESALES: "PS",
    Process.ORDER_FOLLOWUP: "OF",
    Process.AFTERSALES: "AS",
    Process.COMPLAINT: "CP",
    Process.VALUE_PUSH: "VP",
    Process.CARE: "CR",
}


class Step(StrEnum):
    # Pre-sales (003 §2.1)
    FIRST_RESPONSE = "first_response"
    NEEDS_ANALYSIS = "needs_analysis"
    FEASIBILITY_REVIEW = "feasibility_review"
    PROPOSAL = "proposal"
    FOLLOW_UP = "follow_up"
    LEAD_POOL_TOUCH = "lead_pool_touch"
    # Order follow-up (003 §2.2)
    ORDER_CONFIRMATION = "order_confirmation"
    ORDER_DOUBT = "order_doubt"
    MILESTONE_NOTICE = "milestone_notice"
    DELAY_WARNING = "delay_warning"
    EXCEPTION_RESPONSE = "exception_response"
    EXCEPTION_RESOLUTION = "exception_resolution"
    DELIVERY_SATISFACTION = "delivery_satisfaction"
    # After-sales (003 §2.3, 000 §(三))
    ISSUE_RESPONSE = "issue_response"
    DISPATCH = "dispatch"
    TECH_CONTACT = "tech_contact"
    PROGRESS_UPDATE = "progress_update"
    ONSITE_VISIT = "onsite_visit"
    RESOLUTION = "resolution"
    SATISFACTION_CALLBACK = "satisfaction_callback"
    # Complaint (003 §2.4, 000 §(三))
    COMPLAINT_CONTACT = "complaint_contact"
    CALMING_CONTACT = "calming_contact"
    INVESTIGATION = "investigation"
    REMEDY_PLAN = "remedy_plan"
    REMEDY_EXECUTION = "remedy_execution"
    RESULT_NOTICE = "result_notice"
    SECOND_CALLBACK = "second_callback"
    # Value-added push (003 §2.5)
    MONTHLY_PUSH = "monthly_push"
    EFFECT_WINDOW = "effect_window"
    EFFECT_ANALYSIS = "effect_analysis"
    # Any process: a cross-department hand-off's internal deadline (ESC-2, 000 §(三))
    HANDOFF = "handoff"
    # Care tasks (001 §四, 000 §(二)): one step per kind of owner task
    WELCOME_CALLBACK = "welcome_callback"
    RENEWAL_FOLLOW_UP = "renewal_follow_up"
    MILESTONE_CARE = "milestone_care"
    RETENTION = "retention"
    PLAN_TOUCH = "plan_touch"
    # Customer journey timings (not steps of a case): renewal reminder lead, churn-warning quiet period
    RENEWAL_NOTICE = "renewal_notice"
    CHURN_WATCH = "churn_watch"


class Tier(StrEnum):
    VIP = "vip"
    KEY = "key"
    NORMAL = "normal"
    WATCH = "watch"


class Severity(StrEnum):
    """Severity / urgency of a case; each process uses its own subset."""

    UNGRADED = "ungraded"
    # Pre-sales grades: urgency x value (PS-2)
    URGENT_HIGH = "urgent_high"
    URGENT_NORMAL = "urgent_normal"
    NONURGENT_HIGH = "nonurgent_high"
    NONURGENT_NORMAL = "nonurgent_normal"
    # After-sales urgency (AS-1)
    URGENT = "urgent"
    ROUTINE = "routine"  # 普通 (not "normal": that is a tier)
    # Complaint grades (CP-2)
    GENERAL = "general"
    SERIOUS = "serious"
    MAJOR = "major"


class Role(StrEnum):
    AGENT = "agent"
    SALES_CONSULTANT = "sales_consultant"
    ORDER_SPECIALIST = "order_specialist"
    LOGISTICS_COORDINATOR = "logistics_coordinator"
    TECH_SUPPORT = "tech_support"
    FIELD_ENGINEER = "field_engineer"
    COMPLAINT_SPECIALIST = "complaint_specialist"
    SUPERVISOR = "supervisor"
    DIRECTOR = "director"
    CUSTOMER_OPS = "customer_ops"
    DATA_ANALYST = "data_analyst"
    ACCOUNT_MANAGER = "account_manager"
    SALES_SUPERVISOR = "sales_supervisor"
    ADMIN = "admin"


class Department(StrEnum):
    """Departments a case is handed to (ESC-2, 000 §(三) 跨部门问题, 003 §4.3 牵头部门)."""

    CUSTOMER_SERVICE = "customer_service"
    SALES = "sales"
    TECH = "tech"
    PRODUCT = "product"
    WAREHOUSE = "warehouse"
    QUALITY = "quality"
    LOGISTICS = "logistics"
    FINANCE = "finance"


class SlaState(StrEnum):
    ON_TRACK = "on_track"
    WARNING = "warning"
    BREACHED = "breached"
    PAUSED = "paused"


class CaseState(StrEnum):
    OPEN = "open"
    LEAD_POOL = "lead_pool"
    CLOSED = "closed"


class Channel(StrEnum):
    ONLINE_CHAT = "online_chat"
    PHONE = "phone"
    EMAIL = "email"
    WEB_FORM = "web_form"
    API = "api"
    WECHAT = "wechat"
    SMS = "sms"
    APP = "app"


class CustomerType(StrEnum):
    INDIVIDUAL = "individual"
    ENTERPRISE = "enterprise"


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class Contact(Model):
    name: str = Field(min_length=1, max_length=100)
    role: str = Field(default="contact", max_length=40, description="contact | decision_maker | ...")
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=200)


class NewCustomer(Model):
    """The C-1 subset taken at intake when the customer is not on file yet."""

    type: CustomerType = CustomerType.INDIVIDUAL
    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=200)
    industry: str | None = Field(default=None, max_length=100)
    region: str | None = Field(default=None, max_length=100)
    contacts: list[Contact] = Field(default_factory=list)


class CaseRef(Model):
    """What every process workflow is started with, beside its own intake."""

    number: str
    process: Process
    customer_id: int | None = None
    new_customer: NewCustomer | None = None
    external_ref: str | None = None
    actor: str = "system"


class OpenedCase(Model):
    """What the open_case activity returns: facts the workflow needs and keeps for its whole life."""

    number: str
    customer_id: int | None  # None for a value-added push campaign
    customer_name: str
    tier: Tier
    policy_version: str
    rules: list[Any]  # list[domain.sla.PolicyRule]; typed there to keep this module dependency-free
    # The business calendars those rules count time on, built when the case opened (name -> calendar).
    calendars: dict[str, Any] = Field(default_factory=dict)
    opened_at: datetime


class CarriedCase(Model):
    """What a case carries into its next run when it continues as new (its policy version stays)."""

    opened: OpenedCase
    severity: Severity
    owner: str | None = None


class HandOffView(Model):
    """A cross-department hand-off inside a step (ESC-2): who has it, by when they owe a reply."""

    department: Department
    lead_department: Department | None
    note: str
    handed_at: datetime
    due_at: datetime
    overdue: bool = False
    replied_at: datetime | None = None
    reply: str | None = None


class StepView(Model):
    step: Step
    seq: int
    owner_role: Role
    owner: str | None
    opened_at: datetime
    due_at: datetime | None
    warn_at: datetime | None
    sla_state: SlaState
    escalation_level: int
    target_seconds: int = 0
    calendar: str = "24x7"
    # Years the deadline runs into for which the calendar has no official holiday schedule (SLA-2).
    calendar_gap: list[int] = Field(default_factory=list)
    handoffs: list[HandOffView] = Field(default_factory=list)


class CaseView(Model):
    """The live query answer: where a case stands now, straight from its workflow."""

    number: str
    process: Process
    state: CaseState
    customer_id: int | None
    customer_name: str | None
    tier: Tier | None
    severity: Severity
    owner: str | None
    open_step: StepView | None
    sla_state: SlaState
    escalation_level: int
    outcome: str | None
    policy_version: str | None
    actions: list[str]  # the actions open now, in the process's table order
    record: dict[str, Any]
