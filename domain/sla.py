"""SLA policies: targets per (process, step, severity, tier, channel, variant) and the resolver (SLA-1).

A policy is a list of rules. A *target* rule sets the deadline of one step: its metric (first response,
update, resolution, ...), the duration, the business calendar it is counted on (SLA-2), the warning
fraction (SLA-4) and the escalation chain (ESC-1). A *ceiling* rule caps the targets of one metric for a
tier across processes: the tier service standard of 002 (T-5: "VIP solution within 4 h") only ever makes a
process target stricter, never looser.

Every number below is a *seed*: ``careflow migrate`` publishes them as policy version 1 in Postgres, where
admins edit them and publish later versions; a case keeps the version it opened with.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from domain.models import Channel, Department, Process, Role, Severity, Step, Tier

ANY = "*"
TWENTY_FOUR_SEVEN = "24x7"
BUSINESS = "cn-standard"  # the seeded mainland-China office calendar (domain.calendar.STANDARD_WEEK + 调休)

_SHORT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$")
_ISO = TypeAdapter(timedelta)
_UNIT_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> timedelta:
    """Durations as written by people: ``90s``, ``5m``, ``24h``, ``3d``, seconds (``0``, ``90``), or a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        m = _SHORT.match(value)
        if m:
            return timedelta(seconds=float(m.group(1)) * _UNIT_SECONDS[m.group(2) or "s"])
        if value.startswith("P"):
            return _ISO.validate_python(value)
    raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 5m, 24h, 3d)")


def format_duration(value: timedelta | None) -> str:
    if value is None:
        return ""
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class Metric(StrEnum):
    """What a target measures (SLA-1: first-response, update and resolution targets, and the rest)."""

    RESPONSE = "response"  # first response / first contact with the customer
    UPDATE = "update"  # a progress report, proposal or notice owed to the customer
    RESOLUTION = "resolution"  # the solution delivered
    INTERNAL = "internal"  # internal handling: review, dispatch, investigation, a department's reply
    CADENCE = "cadence"  # a recurring touch (monthly push, lead-pool update)
    ADVANCE = "advance"  # notice ahead of an event (24 h before shipping)


class EscalationLevel(BaseModel):
    """One rung of the chain: who is told, and how long after the breach."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    role: Role
    after: timedelta = timedelta(0)

    @field_validator("after", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> timedelta:
        return parse_duration(v)


def _optional_duration(v: Any) -> timedelta | None:
    return None if v is None or v == "" else parse_duration(v)


class PolicyRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["target", "ceiling"] = "target"
    process: str
    step: str
    metric: Metric = Metric.RESPONSE
    severity: str = ANY
    tier: str = ANY
    channel: str = ANY
    variant: str = ANY  # a process-specific qualifier: "complex", an after-sales category, a department
    owner_role: Role = Role.AGENT
    target: timedelta | None = None
    # A different target when the step opens on a non-working day (T-5: VIP "非工作日2小时").
    off_hours_target: timedelta | None = None
    warn_at: float = Field(default=0.8, description="fraction of the target at which the owner is warned")
    calendar: str | None = (
        None  # a target counts 24x7 unless it names a calendar; a ceiling keeps the target's
    )
    chain: tuple[EscalationLevel, ...] = ()
    source: str = ""

    @model_validator(mode="before")
    @classmethod
    def _default_calendar(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("kind", "target") == "target" and not data.get("calendar"):
            return {**data, "calendar": TWENTY_FOUR_SEVEN}
        return data

    @field_validator("target", "off_hours_target", mode="before")
    @classmethod
    def _durations(cls, v: Any) -> timedelta | None:
        return _optional_duration(v)

    @field_validator("process")
    @classmethod
    def _process(cls, v: str) -> str:
        return v if v == ANY else Process(v).value

    @field_validator("step")
    @classmethod
    def _step(cls, v: str) -> str:
        return v if v == ANY else Step(v).value

    @field_validator("severity")
    @classmethod
    def _severity(cls, v: str) -> str:
        return v if v == ANY else Severity(v).value

    @field_validator("tier")
    @classmethod
    def _tier(cls, v: str) -> str:
        return v if v == ANY else Tier(v).value

    @field_validator("channel")
    @classmethod
    def _channel(cls, v: str) -> str:
        return v if v == ANY else Channel(v).value

    @model_validator(mode="after")
    def _sound(self) -> PolicyRule:
        if self.kind == "target":
            if self.target is None:
                raise ValueError("a target rule needs a target (e.g. 30m, 24h)")
            if self.process == ANY and self.step != Step.HANDOFF:
                raise ValueError("a target rule names its process ('*' is for ceilings and hand-offs)")
            if self.step == ANY:
                raise ValueError("a target rule names its step")
        elif self.target is None and self.calendar is None:
            raise ValueError("a ceiling caps the target, the calendar, or both")
        for name in ("target", "off_hours_target"):
            value = getattr(self, name)
            if value is not None and value <= timedelta(0):
                raise ValueError(f"{name} must be positive")
        if not 0 < self.warn_at < 1:
            raise ValueError("the warning must come before the breach: warn_at is a fraction between 0 and 1")
        afters = [level.after for level in self.chain]
        if any(a < timedelta(0) for a in afters):
            raise ValueError("escalation delays must not be negative")
        if afters != sorted(afters):
            raise ValueError("escalation levels must be in order of their delay")
        return self

    @property
    def key(self) -> tuple[str, ...]:
        return (
            self.kind,
            self.process,
            self.step,
            self.metric,
            self.severity,
            self.tier,
            self.channel,
            self.variant,
        )

    @property
    def specificity(self) -> int:
        return sum(p != ANY for p in (self.process, self.severity, self.tier, self.channel, self.variant))

    def matches(self, process: str, step: str, severity: str, tier: str, channel: str, variant: str) -> bool:
        return all(
            mine == ANY or mine == theirs
            for mine, theirs in (
                (self.process, process),
                (self.step, step),
                (self.severity, severity),
                (self.tier, tier),
                (self.channel, channel),
                (self.variant, variant),
            )
        )

    @property
    def is_catch_all(self) -> bool:
        return self.kind == "target" and self.specificity == (self.process != ANY)


class PolicySet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str
    rules: list[PolicyRule]

    def for_process(self, process: str) -> list[PolicyRule]:
        return [r for r in self.rules if r.process in (process, ANY)]


class NoPolicy(LookupError):
    pass


def resolve(
    rules: list[PolicyRule],
    *,
    process: str,
    step: str,
    severity: str = ANY,
    tier: str = ANY,
    channel: str = ANY,
    variant: str = ANY,
) -> PolicyRule:
    """The target for a step: the most specific matching target rule (on a tie, the stricter one),
    then capped by any matching ceiling of the same metric (T-5)."""
    key = (process, step, severity, tier, channel, variant)
    best: PolicyRule | None = None
    for rule in rules:
        if rule.kind != "target" or not rule.matches(*key):
            continue
        assert rule.target is not None
        if best is None or (rule.specificity, -rule.target) > (best.specificity, -best.target):  # type: ignore[operator]
            best = rule
    if best is None:
        raise NoPolicy(
            f"no SLA policy for {process}/{step} (severity={severity}, tier={tier}, channel={channel}, variant={variant})"
        )
    for cap in rules:
        if cap.kind != "ceiling" or cap.metric != best.metric or not cap.matches(*key):
            continue
        assert best.target is not None
        changes: dict[str, Any] = {}
        if cap.target is not None and cap.target < best.target:
            changes["target"] = cap.target
        if cap.off_hours_target is not None:
            changes["off_hours_target"] = min(cap.off_hours_target, changes.get("target", best.target))
        if cap.calendar is not None and cap.calendar != best.calendar:
            changes["calendar"] = cap.calendar
        if changes:
            best = best.model_copy(update={**changes, "source": f"{best.source} ⊓ {cap.source}"})
    return best


def check_policy(rules: list[PolicyRule], calendars: set[str]) -> list[str]:
    """Problems that make a rule set unpublishable, one message per problem (empty when sound)."""
    problems: list[str] = []
    seen: dict[tuple[str, ...], int] = {}
    for i, rule in enumerate(rules):
        if rule.key in seen:
            problems.append(f"rules[{i}]: the same key as rules[{seen[rule.key]}] ({'/'.join(rule.key[1:])})")
        seen.setdefault(rule.key, i)
        if rule.calendar is not None and rule.calendar not in calendars:
            problems.append(
                f"rules[{i}]: unknown calendar {rule.calendar!r} (known: {', '.join(sorted(calendars))})"
            )
    covered = {(r.process, r.step) for r in rules if r.is_catch_all}
    for process, steps in PROCESS_STEPS.items():
        for step in steps:
            if (process, step) not in covered:
                problems.append(
                    f"{process}/{step}: no catch-all target (severity, tier, channel, variant all '*')"
                )
    return problems


def seed_rules_for_new_steps(rules: list[PolicyRule]) -> list[PolicyRule]:
    """The seeded rules of every step the given policy has no catch-all target for: a step a release added
    (a policy published before it cannot cover it). Empty when the policy covers every step."""
    covered = {(r.process, r.step) for r in rules if r.is_catch_all}
    return [r for r in DEFAULT_RULES if r.kind == "target" and (r.process, r.step) not in covered]


def version_of(rules: list[PolicyRule]) -> str:
    body = json.dumps(sorted(json.dumps(r.model_dump(mode="json"), sort_keys=True) for r in rules))
    return hashlib.sha256(body.encode()).hexdigest()[:12]


def merge(base: list[PolicyRule], overrides: list[PolicyRule]) -> list[PolicyRule]:
    """Rules of ``overrides`` replace base rules with the same key and add the rest."""
    merged = {r.key: r for r in base}
    merged.update({r.key: r for r in overrides})
    return list(merged.values())


def rules_from_document(document: dict[str, Any], base: list[PolicyRule]) -> list[PolicyRule]:
    """A policy document is ``{"defaults": {...}, "rules": [{process, step, target, ...}]}`` layered on ``base``.

    ``defaults`` (e.g. ``{"calendar": "24x7", "warn_at": 0.5}``) fill fields a rule leaves out.
    """
    defaults = document.get("defaults", {})
    overrides = [
        PolicyRule.model_validate(with_metric({**defaults, **raw}, base)) for raw in document.get("rules", [])
    ]
    return merge(base, overrides)


def with_metric(raw: dict[str, Any], base: list[PolicyRule]) -> dict[str, Any]:
    """A rule that names no metric keeps the metric of the base's target rules for its step."""
    if "metric" in raw:
        return raw
    for rule in base:
        if rule.kind == "target" and (rule.process, rule.step) == (raw.get("process"), raw.get("step")):
            return {**raw, "metric": rule.metric}
    return raw


# -- the seed --------------------------------------------------------------------------------------------------

# ESC-1 (001 §三.2 升级预案: 一线2小时内反馈, 二线4小时内响应): the supervisor hears of a breach at once,
# the director if it is still open 4 h later.
DEFAULT_CHAIN = (
    EscalationLevel(role=Role.SUPERVISOR, after=timedelta(0)),
    EscalationLevel(role=Role.DIRECTOR, after=timedelta(hours=4)),
)

# The steps each process runs; every one needs a catch-all target in a published policy.
PROCESS_STEPS: dict[str, list[str]] = {
    Process.PRESALES: [
        Step.FIRST_RESPONSE,
        Step.NEEDS_ANALYSIS,
        Step.FEASIBILITY_REVIEW,
        Step.PROPOSAL,
        Step.FOLLOW_UP,
        Step.LEAD_POOL_TOUCH,
    ],
    Process.ORDER_FOLLOWUP: [
        Step.ORDER_CONFIRMATION,
        Step.ORDER_DOUBT,
        Step.MILESTONE_NOTICE,
        Step.DELAY_WARNING,
        Step.EXCEPTION_RESPONSE,
        Step.EXCEPTION_RESOLUTION,
        Step.DELIVERY_SATISFACTION,
    ],
    Process.AFTERSALES: [
        Step.ISSUE_RESPONSE,
        Step.DISPATCH,
        Step.TECH_CONTACT,
        Step.PROGRESS_UPDATE,
        Step.ONSITE_VISIT,
        Step.RESOLUTION,
        Step.SATISFACTION_CALLBACK,
    ],
    Process.COMPLAINT: [
        Step.COMPLAINT_CONTACT,
        Step.CALMING_CONTACT,
        Step.INVESTIGATION,
        Step.REMEDY_PLAN,
        Step.REMEDY_EXECUTION,
        Step.RESULT_NOTICE,
        Step.SECOND_CALLBACK,
    ],
    Process.VALUE_PUSH: [Step.MONTHLY_PUSH, Step.EFFECT_WINDOW, Step.EFFECT_ANALYSIS],
    Process.CARE: [
        Step.WELCOME_CALLBACK,
        Step.RENEWAL_FOLLOW_UP,
        Step.MILESTONE_CARE,
        Step.RETENTION,
        Step.PLAN_TOUCH,
        Step.RENEWAL_NOTICE,
        Step.CHURN_WATCH,
    ],
    ANY: [Step.HANDOFF],
}


def _t(
    process: str,
    step: Step,
    metric: Metric,
    target: str,
    source: str,
    *,
    owner: Role = Role.AGENT,
    calendar: str | None = None,
    **key: str,
) -> PolicyRule:
    """A seeded target. Minute- and hour-scale targets (under a day) presuppose someone at the desk and count
    office time on the business calendar; day-scale promises ("24小时内", "3天内") count elapsed time."""
    duration = parse_duration(target)
    if calendar is None:
        calendar = BUSINESS if duration < timedelta(hours=24) else TWENTY_FOUR_SEVEN
    return PolicyRule(
        process=process,
        step=step,
        metric=metric,
        target=duration,
        owner_role=owner,
        calendar=calendar,
        chain=DEFAULT_CHAIN,
        source=source,
        **key,
    )


def _cap(tier: Tier, metric: Metric, source: str, *, target: str | None = None, **kw: Any) -> PolicyRule:
    return PolicyRule(
        kind="ceiling",
        process=ANY,
        step=ANY,
        metric=metric,
        tier=tier,
        target=_optional_duration(target),
        calendar=kw.pop("calendar", None),
        source=source,
        **kw,
    )


PS, OF, AS, CP, VP, CR = (
    Process.PRESALES,
    Process.ORDER_FOLLOWUP,
    Process.AFTERSALES,
    Process.COMPLAINT,
    Process.VALUE_PUSH,
    Process.CARE,
)
R, U, X, I, C, A = (
    Metric.RESPONSE,
    Metric.UPDATE,
    Metric.RESOLUTION,
    Metric.INTERNAL,
    Metric.CADENCE,
    Metric.ADVANCE,
)

DEFAULT_RULES: list[PolicyRule] = [
    # -- PS: pre-sales inquiry (003 §2.1) -----------------------------------------------------------------------
    _t(PS, Step.FIRST_RESPONSE, R, "5m", "PS-1 · 003 §2.1.1 5分钟内响应客户咨询(在线/电话渠道)"),
    _t(PS, Step.FIRST_RESPONSE, R, "5m", "COM-1 · 003 §4.1 在线咨询5分钟内响应", channel=Channel.ONLINE_CHAT),
    _t(PS, Step.FIRST_RESPONSE, R, "2h", "COM-1 · 003 §4.1 邮件咨询2小时内回复", channel=Channel.EMAIL),
    _t(
        PS,
        Step.FIRST_RESPONSE,
        R,
        "30m",
        "COM-1 · 003 §4.1 紧急问题30分钟内启动处理",
        severity=Severity.URGENT_HIGH,
    ),
    _t(PS, Step.NEEDS_ANALYSIS, I, "24h", "PS-2 · 003 §2.1.1 24小时内完成需求深度分析"),
    _t(
        PS,
        Step.FEASIBILITY_REVIEW,
        I,
        "24h",
        "PS-2 · 003 §2.1.2 步骤2 复杂需求可行性评估",
        owner=Role.TECH_SUPPORT,
    ),
    _t(PS, Step.PROPOSAL, U, "48h", "PS-3 · 003 §2.1.2 步骤3 48小时内制定方案"),
    _t(PS, Step.PROPOSAL, U, "72h", "PS-3 · 003 §2.1.2 步骤3 复杂需求72小时内", variant="complex"),
    _t(
        PS,
        Step.FOLLOW_UP,
        U,
        "3d",
        "PS-4 · 003 §2.1.2 步骤4 方案反馈后3天内跟进",
        owner=Role.SALES_CONSULTANT,
    ),
    # Not a deadline but a cadence: how often a lead in the pool gets the product update (PS-4, 每月).
    _t(PS, Step.LEAD_POOL_TOUCH, C, "30d", "PS-4 · 003 §2.1.2 步骤4 线索池每月推送产品动态"),
    # -- OF: order follow-up (003 §2.2) -------------------------------------------------------------------------
    _t(
        OF,
        Step.ORDER_CONFIRMATION,
        R,
        "2h",
        "OF-1 · 003 §2.2.1 订单确认后2小时内同步订单编号",
        owner=Role.ORDER_SPECIALIST,
    ),
    _t(
        OF,
        Step.ORDER_DOUBT,
        I,
        "30m",
        "OF-1 · 003 §2.2.2 步骤1 如有疑问30分钟内联系销售顾问",
        owner=Role.ORDER_SPECIALIST,
    ),
    _t(
        OF,
        Step.MILESTONE_NOTICE,
        A,
        "24h",
        "OF-2 · 003 §2.2.2 步骤2 关键节点前24小时通知客户",
        owner=Role.ORDER_SPECIALIST,
    ),
    _t(
        OF,
        Step.DELAY_WARNING,
        A,
        "48h",
        "OF-2 · 003 §2.2.2 步骤2 可能延迟提前48小时预警",
        owner=Role.LOGISTICS_COORDINATOR,
    ),
    _t(
        OF,
        Step.EXCEPTION_RESPONSE,
        R,
        "1h",
        "OF-3 · 003 §2.2.1 异常订单1小时内响应",
        owner=Role.ORDER_SPECIALIST,
    ),
    _t(
        OF,
        Step.EXCEPTION_RESOLUTION,
        X,
        "4h",
        "OF-3 · 003 §2.2.1 4小时内给出处理方案",
        owner=Role.ORDER_SPECIALIST,
    ),
    _t(OF, Step.DELIVERY_SATISFACTION, U, "24h", "OF-4 · 003 §2.2.2 步骤4 签收后24小时内确认满意度"),
    # -- AS: after-sales issue (003 §2.3; 000 §(三) categories) --------------------------------------------------
    _t(AS, Step.ISSUE_RESPONSE, R, "2h", "AS-1 · 003 §2.3.1 普通问题2小时响应"),
    _t(AS, Step.ISSUE_RESPONSE, R, "30m", "AS-1 · 003 §2.3.1 紧急问题30分钟响应", severity=Severity.URGENT),
    _t(AS, Step.ISSUE_RESPONSE, R, "10m", "AS-5 · 000 §(三) 咨询类10分钟内响应", variant="consultation"),
    _t(AS, Step.ISSUE_RESPONSE, R, "5m", "AS-5 · 000 §(三) 故障类5分钟内响应", variant="fault"),
    _t(AS, Step.ISSUE_RESPONSE, R, "3m", "000 §(三) 投诉类3分钟内响应", variant="complaint"),
    _t(AS, Step.DISPATCH, I, "10m", "AS-2 · 003 §2.3.2 步骤2 复杂/紧急问题10分钟内派单"),
    _t(
        AS,
        Step.TECH_CONTACT,
        R,
        "2h",
        "AS-2 · 003 §2.3.2 步骤2 复杂问题2小时内联系客户",
        owner=Role.TECH_SUPPORT,
    ),
    _t(
        AS,
        Step.TECH_CONTACT,
        R,
        "30m",
        "AS-2 · 003 §2.3.2 步骤2 紧急问题30分钟内联系客户",
        owner=Role.TECH_SUPPORT,
        severity=Severity.URGENT,
    ),
    _t(
        AS,
        Step.PROGRESS_UPDATE,
        U,
        "24h",
        "AS-5 · 000 §(三) 故障类复杂问题24小时内给出处理进度",
        owner=Role.TECH_SUPPORT,
    ),
    _t(
        AS,
        Step.ONSITE_VISIT,
        I,
        "24h",
        "AS-3 · 003 §2.3.2 步骤3 24小时内安排工程师上门",
        owner=Role.FIELD_ENGINEER,
    ),
    _t(AS, Step.RESOLUTION, X, "24h", "AS-3 · 003 §2.3.1 普通问题24小时内解决", owner=Role.TECH_SUPPORT),
    _t(
        AS,
        Step.RESOLUTION,
        X,
        "72h",
        "AS-3 · 003 §2.3.1 复杂问题72小时内给出阶段性方案",
        owner=Role.TECH_SUPPORT,
        variant="complex",
    ),
    _t(AS, Step.RESOLUTION, X, "2h", "AS-5 · 000 §(三) 咨询类2小时内给出解决方案", variant="consultation"),
    _t(
        AS,
        Step.RESOLUTION,
        X,
        "48h",
        "AS-5 · 000 §(三) 故障类48小时内解决",
        owner=Role.TECH_SUPPORT,
        variant="fault",
    ),
    _t(AS, Step.SATISFACTION_CALLBACK, U, "48h", "AS-4 · 003 §2.3.1 问题解决后48小时内完成满意度回访"),
    # -- CP: complaint (003 §2.4; 000 §(三)) ----------------------------------------------------------------------
    _t(
        CP,
        Step.COMPLAINT_CONTACT,
        R,
        "5m",
        "CP-1 · 003 §2.4.2 步骤1 第一时间(5分钟内)联系客户",
        owner=Role.COMPLAINT_SPECIALIST,
    ),
    _t(
        CP,
        Step.COMPLAINT_CONTACT,
        R,
        "3m",
        "CP-1 · 000 §(三) 投诉类3分钟内响应",
        owner=Role.COMPLAINT_SPECIALIST,
        channel=Channel.PHONE,
    ),
    _t(
        CP,
        Step.CALMING_CONTACT,
        R,
        "1h",
        "CP-1 · 000 §(三) 1小时内联系客户安抚情绪; 003 §2.4.1 一般投诉1小时",
        owner=Role.COMPLAINT_SPECIALIST,
    ),
    _t(
        CP,
        Step.CALMING_CONTACT,
        R,
        "30m",
        "CP-1 · 003 §2.4.1 严重投诉30分钟",
        owner=Role.COMPLAINT_SPECIALIST,
        severity=Severity.SERIOUS,
    ),
    _t(
        CP,
        Step.CALMING_CONTACT,
        R,
        "30m",
        "COM-1 · 003 §4.1 重大投诉30分钟内启动处理",
        owner=Role.COMPLAINT_SPECIALIST,
        severity=Severity.MAJOR,
    ),
    _t(
        CP,
        Step.INVESTIGATION,
        I,
        "24h",
        "CP-2 · 003 §2.4.1 一般投诉24小时内处理并反馈",
        owner=Role.COMPLAINT_SPECIALIST,
    ),
    _t(
        CP,
        Step.INVESTIGATION,
        I,
        "24h",
        "CP-2 · 003 §2.4.2 步骤2 严重投诉主管牵头24小时内完成调查",
        owner=Role.SUPERVISOR,
        severity=Severity.SERIOUS,
    ),
    _t(
        CP,
        Step.INVESTIGATION,
        I,
        "48h",
        "CP-2 · 003 §2.4.2 步骤2 重大投诉部门总监牵头48小时内完成调查",
        owner=Role.DIRECTOR,
        severity=Severity.MAJOR,
    ),
    _t(
        CP,
        Step.REMEDY_PLAN,
        X,
        "24h",
        "CP-3 · 003 §2.4.2 步骤3 一般投诉24小时内制定方案; 000 §(三) 24小时内给出处理方案",
        owner=Role.COMPLAINT_SPECIALIST,
    ),
    _t(
        CP,
        Step.REMEDY_PLAN,
        X,
        "48h",
        "CP-3 · 003 §2.4.2 步骤3 严重投诉48小时内",
        owner=Role.SUPERVISOR,
        severity=Severity.SERIOUS,
    ),
    _t(
        CP,
        Step.REMEDY_PLAN,
        X,
        "48h",
        "CP-3 · 003 §2.4.2 步骤3 重大投诉48小时内",
        owner=Role.DIRECTOR,
        severity=Severity.MAJOR,
    ),
    # Internal: no tier ceiling caps it (a VIP's 4 h solution is the plan, not the refund's arrival).
    _t(
        CP,
        Step.REMEDY_EXECUTION,
        I,
        "48h",
        "CP-4 · 003 §2.4.2 步骤4 方案确认后立即执行(48小时为 Careflow 默认)",
        owner=Role.COMPLAINT_SPECIALIST,
    ),
    _t(
        CP,
        Step.RESULT_NOTICE,
        U,
        "24h",
        "CP-4 · 003 §2.4.2 步骤4 执行完成后24小时内通知客户结果",
        owner=Role.COMPLAINT_SPECIALIST,
    ),
    _t(
        CP,
        Step.SECOND_CALLBACK,
        U,
        "3d",
        "CP-4 · 003 §2.4.2 步骤4 重大投诉3天内二次回访",
        owner=Role.COMPLAINT_SPECIALIST,
    ),
    # -- VP: value-added push (003 §2.5) ------------------------------------------------------------------------
    _t(VP, Step.MONTHLY_PUSH, C, "30d", "VP-2 · 003 §2.5.2 步骤2 每月集中推送1次", owner=Role.CUSTOMER_OPS),
    _t(
        VP,
        Step.EFFECT_WINDOW,
        I,
        "3d",
        "VP-3 · 003 §2.5.2 步骤3 推送后3天内跟踪响应数据",
        owner=Role.CUSTOMER_OPS,
    ),
    _t(
        VP,
        Step.EFFECT_ANALYSIS,
        U,
        "7d",
        "VP-3 · 003 §2.5.2 步骤3 每月分析推送效果(7天为 Careflow 默认)",
        owner=Role.CUSTOMER_OPS,
    ),
    # -- CR: care tasks of the customer journey (001 §四, 000 §(二); docs/journeys.md) --------------------------
    # Proactive touches owed to the customer: metric "update", so the T-5 response/solution ceilings (which
    # are about answering the customer) do not shorten them.
    _t(CR, Step.WELCOME_CALLBACK, U, "48h", "R-2 · 001 §四(二) Step1 48小时内由专属客服首次回访"),
    _t(
        CR,
        Step.RENEWAL_FOLLOW_UP,
        U,
        "7d",
        "R-3 · 001 §四(二) 续约提醒发出后7天内客户经理跟进续约(7天为 Careflow 默认)",
        owner=Role.ACCOUNT_MANAGER,
    ),
    _t(
        CR,
        Step.MILESTONE_CARE,
        U,
        "8h",
        "R-4 · 000 §(二) 生日/周年庆/合作满1年节点关怀(1个工作日为 Careflow 默认)",
        owner=Role.ACCOUNT_MANAGER,
    ),
    _t(
        CR,
        Step.RETENTION,
        U,
        "24h",
        "R-7 · 002 §二(二) 流失预警后3个工作日内完成挽留联系(Careflow 默认)",
        owner=Role.ACCOUNT_MANAGER,
        calendar=BUSINESS,
    ),
    _t(
        CR,
        Step.PLAN_TOUCH,
        U,
        "7d",
        "R-1 · 000 §(二) 互动计划触达任务(未指定截止时间时7天为 Careflow 默认)",
        owner=Role.ACCOUNT_MANAGER,
    ),
    # Journey timings, not deadlines: how far ahead of the contract end the reminder goes, how long a watch
    # customer may go without a purchase before the churn warning.
    _t(
        CR,
        Step.RENEWAL_NOTICE,
        A,
        "30d",
        "R-3 · 001 §四(二) 合同到期前30天发送续约提醒",
        owner=Role.ACCOUNT_MANAGER,
    ),
    _t(
        CR,
        Step.CHURN_WATCH,
        C,
        "90d",
        "R-7 · T-5 002 §二(二) 观察客户3个月无消费触发流失预警",
        owner=Role.ACCOUNT_MANAGER,
    ),
    # -- any process: a cross-department hand-off's internal deadline (ESC-2) ------------------------------------
    _t(ANY, Step.HANDOFF, I, "4h", "ESC-2 · 001 §三.2 二线4小时内响应"),
    _t(
        ANY,
        Step.HANDOFF,
        I,
        "2h",
        "AS-5 · 000 §(三) 仓储部需在2小时内反馈物流进度",
        variant=Department.WAREHOUSE,
    ),
    # -- T-5: the tier service standard (002 §二(二)) caps the response and resolution targets -----------------
    _cap(Tier.VIP, R, "T-5 · 002 §二(二) VIP 24小时电话响应(全天候)", calendar=TWENTY_FOUR_SEVEN),
    _cap(
        Tier.VIP,
        X,
        "T-5 · 002 §二(二) VIP 4小时内解决方案(非工作日2小时)",
        target="4h",
        off_hours_target="2h",
        calendar=TWENTY_FOUR_SEVEN,
    ),
    _cap(Tier.KEY, R, "T-5 · 002 §二(二) 重点客户8小时内电话响应", target="8h"),
    _cap(Tier.KEY, X, "T-5 · 002 §二(二) 重点客户24小时内解决方案", target="24h"),
    _cap(Tier.NORMAL, R, "T-5 · 002 §二(二) 普通客户24小时内响应", target="24h"),
    _cap(Tier.NORMAL, X, "T-5 · 002 §二(二) 普通客户48小时内解决方案", target="48h"),
    _cap(Tier.WATCH, R, "T-5 · 002 §二(二) 观察客户48小时内响应", target="48h"),
]
