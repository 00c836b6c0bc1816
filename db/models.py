"""Typed SQLAlchemy models. Activities and the API are the only writers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Sequence,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

TZ = DateTime(timezone=True)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSONB, list[Any]: JSONB, datetime: TZ}  # noqa: RUF012


case_number_seq = Sequence("case_number_seq", metadata=Base.metadata)


class Customer(Base):
    """C-1 customer profile (see domain/customers.py for what each field takes)."""

    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("source", "external_id", name="customers_source_external_id_key"),)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    type: Mapped[str] = mapped_column(String(20), default="individual")
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(200))
    contacts: Mapped[list[Any]] = mapped_column(default=list)  # decision chain: [{name, role, phone, email}]
    industry: Mapped[str | None] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(100))
    tier: Mapped[str] = mapped_column(String(10), default="normal")
    # Tiering inputs (T-1, db/tiering.py): industry potential high | medium | low, and who referred them.
    potential: Mapped[str | None] = mapped_column(String(10))
    referred_by: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    # C-4 tags (e.g. "high_activity", "upgrade_need", "after_sales_care"): the value-added push audience (VP-1).
    tags: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    # How the customer wants to hear from us (VP-2, PS-3): email | sms | wechat | app; None: email, else SMS.
    preferred_channel: Mapped[str | None] = mapped_column(String(20))
    locale: Mapped[str] = mapped_column(String(10), default="zh-CN", server_default="zh-CN")
    birthday: Mapped[date | None] = mapped_column(Date)
    contract_end: Mapped[date | None] = mapped_column(Date)
    # C-1 profile (0011): scale (e.g. "50-200 人"), needs {core_need, budget_range, product_preference},
    # first-contact channel (domain.customers.FirstContact), expected response in hours, company
    # anniversary, owner (the account manager's staff username), free notes.
    scale: Mapped[str | None] = mapped_column(String(40))
    needs: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    first_contact: Mapped[str | None] = mapped_column(String(20))
    expected_response_hours: Mapped[int | None] = mapped_column(Integer)
    anniversary: Mapped[date | None] = mapped_column(Date)
    owner: Mapped[str | None] = mapped_column(String(100), index=True)
    notes: Mapped[str] = mapped_column(Text, default="", server_default="")
    # C-2: the record's id in the system it came from; (source, external_id) makes the REST upsert idempotent.
    source: Mapped[str | None] = mapped_column(String(40))
    external_id: Mapped[str | None] = mapped_column(String(100))
    # C-3: a record counts as verified only after a review; a merged record points at the one it went into.
    verified_at: Mapped[datetime | None] = mapped_column()
    verified_by: Mapped[str | None] = mapped_column(String(100))
    merged_into: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    # C-5 lifecycle active | dormant | churned, re-derived from last_interaction_at (domain.customers).
    lifecycle: Mapped[str] = mapped_column(String(10), default="active", server_default="active")
    last_interaction_at: Mapped[datetime | None] = mapped_column()
    # SEC-3: ID card and bank card numbers are never stored in clear: a keyed hash (to match) + last 4 digits.
    id_card_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    id_card_last4: Mapped[str | None] = mapped_column(String(4))
    bank_card_hash: Mapped[str | None] = mapped_column(String(64))
    bank_card_last4: Mapped[str | None] = mapped_column(String(4))
    # The case whose intake created this customer: makes that creation idempotent across activity retries.
    created_by_case: Mapped[str | None] = mapped_column(String(40), unique=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class CaseKey(Base):
    """Idempotency: a client's Idempotency-Key or external reference maps to one case number."""

    __tablename__ = "case_keys"
    process: Mapped[str] = mapped_column(String(20), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    case_number: Mapped[str] = mapped_column(String(40), unique=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Case(Base):
    __tablename__ = "cases"
    number: Mapped[str] = mapped_column(String(40), primary_key=True)
    process: Mapped[str] = mapped_column(String(20), index=True)
    # None for a value-added push campaign, which reaches many customers.
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    subject: Mapped[str] = mapped_column(String(300), default="")
    severity: Mapped[str] = mapped_column(String(20), default="ungraded")
    tier_at_open: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(20), default="open", index=True)
    current_step: Mapped[str | None] = mapped_column(String(40))
    owner_role: Mapped[str | None] = mapped_column(String(40))
    owner: Mapped[str | None] = mapped_column(String(100), index=True)
    sla_state: Mapped[str] = mapped_column(String(20), default="on_track", index=True)
    next_deadline: Mapped[datetime | None] = mapped_column(index=True)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    policy_version: Mapped[str] = mapped_column(String(40))
    outcome: Mapped[str | None] = mapped_column(String(40))
    external_ref: Mapped[str | None] = mapped_column(String(200))
    opened_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class CaseStep(Base):
    __tablename__ = "case_steps"
    __table_args__ = (UniqueConstraint("case_number", "step", "seq"),)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    case_number: Mapped[str] = mapped_column(ForeignKey("cases.number"), index=True)
    step: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(Integer)  # a step can open again (reopened case, reactivated lead)
    owner_role: Mapped[str] = mapped_column(String(40))
    owner: Mapped[str | None] = mapped_column(String(100))
    opened_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    warned_at: Mapped[datetime | None]
    breached_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    outcome: Mapped[dict[str, Any] | None]
    paused_seconds: Mapped[int] = mapped_column(Integer, default=0)
    target_seconds: Mapped[int] = mapped_column(Integer)


class CaseEvent(Base):
    """The append-only timeline (a trigger refuses UPDATE and DELETE)."""

    __tablename__ = "case_events"
    __table_args__ = (Index("ix_case_events_case_at", "case_number", "at"),)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # Attempt-independent key: an activity retried after a crash writes its event once.
    key: Mapped[str] = mapped_column(String(200), unique=True)
    case_number: Mapped[str] = mapped_column(ForeignKey("cases.number"))
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(40), index=True)
    step: Mapped[str | None] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # When the row reached Postgres (``at`` is the workflow's time): their gap is how late an escalation ran.
    recorded_at: Mapped[datetime] = mapped_column(server_default=func.clock_timestamp())


class PresalesRecord(Base):
    """SPEC §7 pre-sales record (003 §3.1 售前咨询记录表)."""

    __tablename__ = "presales_records"
    case_number: Mapped[str] = mapped_column(ForeignKey("cases.number"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    contact: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(20))
    product: Mapped[str] = mapped_column(String(200))
    need: Mapped[str] = mapped_column(Text)
    budget: Mapped[str | None] = mapped_column(String(100))
    use_case: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[str | None] = mapped_column(String(20))
    complex: Mapped[bool] = mapped_column(Boolean, default=False)
    owner: Mapped[str | None] = mapped_column(String(100))
    proposal_date: Mapped[datetime | None]
    intent: Mapped[str | None] = mapped_column(String(40))
    next_step: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class Notification(Base):
    """Every message the notifier sent: the staff inbox and the outbox in one table."""

    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)  # a retried send writes (and sends) once
    case_number: Mapped[str | None] = mapped_column(ForeignKey("cases.number"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    recipient_role: Mapped[str | None] = mapped_column(String(40), index=True)
    recipient: Mapped[str | None] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    read_at: Mapped[datetime | None]
    # Delivery: inbox rows are delivered when written; email/SMS/WeChat rows go pending -> sent | failed.
    status: Mapped[str] = mapped_column(String(20), default="sent", server_default="sent", index=True)
    sent_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    locale: Mapped[str] = mapped_column(String(10), default="zh-CN", server_default="zh-CN")


class Staff(Base):
    """The people notifications reach by role (and department), and who signs in to the web app."""

    __tablename__ = "staff"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(40), index=True)
    department: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    locale: Mapped[str] = mapped_column(String(10), default="zh-CN", server_default="zh-CN")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # Sign-in (SEC-4, 0014): an argon2 hash (pwdlib); None: this person cannot sign in.
    password_hash: Mapped[str | None] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(60), default="Asia/Shanghai", server_default="Asia/Shanghai")
    last_login_at: Mapped[datetime | None] = mapped_column()


class SlaPolicyVersion(Base):
    """A published SLA policy (SLA-1). Versions are never edited: a change publishes the next one."""

    __tablename__ = "sla_policy_versions"
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    note: Mapped[str] = mapped_column(Text, default="")
    published_by: Mapped[str] = mapped_column(String(100))
    published_at: Mapped[datetime] = mapped_column(server_default=func.now())
    digest: Mapped[str] = mapped_column(String(20))  # of the rules, to spot a no-op publish
    rule_count: Mapped[int] = mapped_column(Integer)


class SlaRule(Base):
    """One rule of a policy version (domain.sla.PolicyRule): a step's target, or a tier's ceiling."""

    __tablename__ = "sla_rules"
    __table_args__ = (
        UniqueConstraint(
            "version", "kind", "process", "step", "metric", "severity", "tier", "channel", "variant"
        ),
    )
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    version: Mapped[int] = mapped_column(ForeignKey("sla_policy_versions.version"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # target | ceiling
    process: Mapped[str] = mapped_column(String(20))
    step: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(20))
    tier: Mapped[str] = mapped_column(String(10))
    channel: Mapped[str] = mapped_column(String(20))
    variant: Mapped[str] = mapped_column(String(40))
    metric: Mapped[str] = mapped_column(String(20))
    owner_role: Mapped[str] = mapped_column(String(40))
    target_seconds: Mapped[int | None] = mapped_column(Integer)
    off_hours_target_seconds: Mapped[int | None] = mapped_column(Integer)
    warn_at: Mapped[float]
    calendar: Mapped[str | None] = mapped_column(String(40))
    chain: Mapped[list[Any]] = mapped_column(default=list)  # [{"role": ..., "after": seconds}]
    source: Mapped[str] = mapped_column(Text, default="")


class Calendar(Base):
    """A named business calendar (SLA-2): working hours per weekday and where its holidays come from."""

    __tablename__ = "calendars"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(60), default="Asia/Shanghai")
    week: Mapped[list[Any]] = mapped_column()  # 7 lists of ["HH:MM", "HH:MM"] spans, Monday first
    makeup_hours: Mapped[list[Any] | None] = mapped_column()
    public_holidays: Mapped[str | None] = mapped_column(String(10))  # "CN": mainland China from the package
    confirmed_years: Mapped[list[Any]] = mapped_column(default=list)  # years an admin completed by hand
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
    updated_by: Mapped[str | None] = mapped_column(String(100))


class CalendarDay(Base):
    """An admin override: an extra day off or a make-up working day (调休) the package does not know yet."""

    __tablename__ = "calendar_days"
    calendar: Mapped[str] = mapped_column(ForeignKey("calendars.name", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # holiday | workday
    note: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class MessageTemplate(Base):
    """COM-2: a Jinja2 template per purpose x channel x tier x locale, editable as data."""

    __tablename__ = "message_templates"
    __table_args__ = (UniqueConstraint("purpose", "channel", "tier", "locale"),)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(20))  # inbox | email | sms | wechat | *
    tier: Mapped[str] = mapped_column(String(10), default="*")
    locale: Mapped[str] = mapped_column(String(10), default="zh-CN")
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
    updated_by: Mapped[str] = mapped_column(String(100), default="seed")
