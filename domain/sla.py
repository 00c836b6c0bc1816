"""SLA policies: targets per (process, step, severity, tier[, variant]) and the resolver.

Every number here is a *default* of an editable policy (SPEC §5, SLA-1): a policy file named by
``CAREFLOW_SLA_POLICY`` layers its rules over these (a demo can use seconds), and the resolved set is
recorded in the case's history when it opens, so a running case keeps the version it started with.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from domain.models import Process, Role, Severity, Step, Tier

ANY = "*"

_SHORT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)\s*$")
_ISO = TypeAdapter(timedelta)
_UNIT_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> timedelta:
    """Durations as written by people: ``90s``, ``5m``, ``24h``, ``3d``, a number of seconds, or a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        m = _SHORT.match(value)
        if m:
            return timedelta(seconds=float(m.group(1)) * _UNIT_SECONDS[m.group(2)])
        if value.startswith("P"):
            return _ISO.validate_python(value)
    raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 5m, 24h, 3d)")


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class EscalationLevel(BaseModel):
    """One rung of the chain: who is told, and how long after the breach."""

    model_config = ConfigDict(extra="forbid")
    role: Role
    after: timedelta = timedelta(0)

    @field_validator("after", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> timedelta:
        return parse_duration(v)


class PolicyRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    process: Process
    step: Step
    severity: str = ANY
    tier: str = ANY
    variant: str = ANY  # a process-specific qualifier, e.g. "complex" for a pre-sales proposal
    owner_role: Role = Role.AGENT
    target: timedelta
    warn_at: float = Field(default=0.8, gt=0, lt=1, description="fraction of the target that warns")
    chain: list[EscalationLevel] = Field(default_factory=list)
    source: str = ""

    @field_validator("target", mode="before")
    @classmethod
    def _target(cls, v: Any) -> timedelta:
        return parse_duration(v)

    @field_validator("severity")
    @classmethod
    def _severity(cls, v: str) -> str:
        if v != ANY:
            Severity(v)
        return v

    @field_validator("tier")
    @classmethod
    def _tier(cls, v: str) -> str:
        if v != ANY:
            Tier(v)
        return v

    @model_validator(mode="after")
    def _positive(self) -> PolicyRule:
        if self.target <= timedelta(0):
            raise ValueError("target must be positive")
        if any(level.after < timedelta(0) for level in self.chain):
            raise ValueError("escalation delays must not be negative")
        return self

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.process, self.step, self.severity, self.tier, self.variant)

    @property
    def specificity(self) -> int:
        return sum(part != ANY for part in (self.severity, self.tier, self.variant))


class PolicySet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str
    rules: list[PolicyRule]

    def for_process(self, process: Process) -> list[PolicyRule]:
        return [r for r in self.rules if r.process == process]


class NoPolicy(LookupError):
    pass


def resolve(
    rules: list[PolicyRule],
    *,
    process: Process,
    step: Step,
    severity: str = ANY,
    tier: str = ANY,
    variant: str = ANY,
) -> PolicyRule:
    """The most specific rule matching the key; a rule's ``*`` matches anything."""
    best: PolicyRule | None = None
    for rule in rules:
        if rule.process != process or rule.step != step:
            continue
        if not all(
            mine == ANY or mine == theirs
            for mine, theirs in ((rule.severity, severity), (rule.tier, tier), (rule.variant, variant))
        ):
            continue
        if best is None or rule.specificity > best.specificity:
            best = rule
    if best is None:
        raise NoPolicy(f"no SLA policy for {process}/{step} (severity={severity}, tier={tier}, variant={variant})")
    return best


def merge(base: list[PolicyRule], overrides: list[PolicyRule]) -> list[PolicyRule]:
    """Rules of ``overrides`` replace base rules with the same key and add the rest."""
    merged = {r.key: r for r in base}
    merged.update({r.key: r for r in overrides})
    return list(merged.values())


def version_of(rules: list[PolicyRule]) -> str:
    body = json.dumps([r.model_dump(mode="json") for r in rules], sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:12]


def policy_from_document(document: dict[str, Any], base: list[PolicyRule]) -> PolicySet:
    """A policy file is ``{"defaults": {...}, "rules": [{process, step, target, ...}]}``.

    ``defaults`` (e.g. ``{"chain": [...]}`` or ``{"warn_at": 0.5}``) fill fields a rule leaves out.
    """
    defaults = document.get("defaults", {})
    overrides = [PolicyRule.model_validate({**defaults, **raw}) for raw in document.get("rules", [])]
    rules = merge(base, overrides)
    return PolicySet(version=version_of(rules), rules=rules)


# ESC-1 (001 §三.2): the supervisor hears of a breach at once, the director if it is still open 4 h later.
DEFAULT_CHAIN = [
    EscalationLevel(role=Role.SUPERVISOR, after=timedelta(0)),
    EscalationLevel(role=Role.DIRECTOR, after=timedelta(hours=4)),
]


def _rule(step: Step, target: str, source: str, **kw: Any) -> PolicyRule:
    return PolicyRule(
        process=Process.PRESALES, step=step, target=parse_duration(target), chain=DEFAULT_CHAIN, source=source, **kw
    )


DEFAULT_RULES: list[PolicyRule] = [
    _rule(Step.FIRST_RESPONSE, "5m", "PS-1 · 003 §2.1.1 5分钟内响应"),
    _rule(Step.NEEDS_ANALYSIS, "24h", "PS-2 · 003 §2.1.1 24小时内完成需求深度分析"),
    _rule(Step.FEASIBILITY_REVIEW, "24h", "PS-2 · 003 §2.1.2 步骤2 复杂需求可行性评估", owner_role=Role.TECH_SUPPORT),
    _rule(Step.PROPOSAL, "48h", "PS-3 · 003 §2.1.2 步骤3 48小时内制定方案"),
    _rule(Step.PROPOSAL, "72h", "PS-3 · 003 §2.1.2 步骤3 复杂需求72小时内", variant="complex"),
    _rule(Step.FOLLOW_UP, "3d", "PS-4 · 003 §2.1.2 步骤4 方案反馈后3天内跟进", owner_role=Role.SALES_CONSULTANT),
    # Not a deadline but a cadence: how often a lead in the pool gets the product update (PS-4, 每月).
    _rule(Step.LEAD_POOL_TOUCH, "30d", "PS-4 · 003 §2.1.2 步骤4 线索池每月推送产品动态"),
]

DEFAULT_POLICY = PolicySet(version=version_of(DEFAULT_RULES), rules=DEFAULT_RULES)
