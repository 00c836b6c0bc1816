"""Compliance sampling (T-7, seed 002 §四(四) 服务合规性抽查：每月抽查10%服务记录). Pure: no I/O, no clock.

Each month a tenth of the month's service records — the cases closed in it that serve a customer (every
process but the value-added push campaign, which names no customer) — is drawn for review: a supervisor
checks each against its tier's standard (T-5), e.g. a normal customer promised VIP benefits
(普通客户被承诺 VIP 权益), and records a verdict. The draw is reproducible: the cases are ordered by
md5(case number || month), so drawing the same month over the same records picks the same cases; a month
is drawn once.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator

from domain.models import Model
from domain.tier_report import previous_month

SAMPLE_SHARE = 0.10  # 每月抽查10%服务记录
# Months read in China Standard Time (no DST: a fixed offset is exact and needs no tz data in a workflow).
_CST = timezone(timedelta(hours=8), "CST")
MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"


def sample_size(population: int, share: float = SAMPLE_SHARE) -> int:
    """A tenth, rounded up: at least one record when there are any, none when there are none."""
    return math.ceil(round(population * share, 9)) if population > 0 else 0


def month_to_draw(at: datetime) -> str:
    """The month a draw at ``at`` (the 1st of a month, from the schedule) covers: the one just ended."""
    return previous_month(at.astimezone(_CST).date())


class Verdict(StrEnum):
    OK = "ok"  # the record meets its tier's standard
    ISSUE = "issue"  # it does not: the finding says how


Month = Annotated[str, Field(pattern=MONTH_PATTERN, description="YYYY-MM, local (Asia/Shanghai)")]


class DrawRequest(Model):
    month: Month
    at: datetime
    actor: str = "system"


class DrawResult(Model):
    month: str
    drawn_at: datetime
    drawn_by: str
    population: int = Field(description="service records (customer cases) closed in the month")
    size: int = Field(description="records drawn: 10% of the population, rounded up")
    cases: list[str]
    created: bool = Field(description="false when the month had been drawn before: nothing changed")


class ComplianceStart(Model):
    """Input of ComplianceSampleWorkflow; the schedule passes none: the month just ended is drawn."""

    month: Month | None = None


class VerdictInput(Model):
    verdict: Verdict
    finding: str = Field(default="", max_length=4000, description="what was wrong; required for an issue")

    @field_validator("finding")
    @classmethod
    def _finding_for_an_issue(cls, finding: str, info: ValidationInfo) -> str:
        finding = finding.strip()
        if info.data.get("verdict") is Verdict.ISSUE and not finding:
            raise ValueError("an issue needs a finding, e.g. 普通客户被承诺 VIP 权益")
        return finding


class SampleView(Model):
    """A drawn service record as the reviewer sees it: the tier it was served at, the promise and the fact."""

    id: int
    month: str
    case_number: str
    process: str
    customer_id: int | None
    customer_name: str | None
    tier: str = Field(description="the tier the case opened with (cases.tier_at_open)")
    outcome: str | None
    opened_at: datetime
    closed_at: datetime | None
    first_step: str | None
    promised_seconds: int | None = Field(description="the first step's SLA target (the tier's promise)")
    actual_seconds: int | None = Field(description="how long the first step took, paused time excluded")
    first_breached: bool
    breached_steps: int = Field(description="steps of the case that breached their deadline")
    drawn_at: datetime
    reviewer: str | None
    reviewed_at: datetime | None
    verdict: Verdict | None
    finding: str | None


class ComplianceSummary(Model):
    month: str
    drawn: bool
    drawn_at: datetime | None
    drawn_by: str | None
    population: int | None = Field(description="service records closed in the month, when drawn")
    sampled: int
    reviewed: int
    issues: int
    issue_rate: float | None = Field(description="issues / reviewed samples (0–1); null before any review")


class ComplianceMonth(Model):
    summary: ComplianceSummary
    samples: list[SampleView]


def summarise(month: str, draw: DrawResult | None, samples: list[SampleView]) -> ComplianceSummary:
    reviewed = [s for s in samples if s.verdict is not None]
    issues = sum(1 for s in reviewed if s.verdict is Verdict.ISSUE)
    return ComplianceSummary(
        month=month,
        drawn=draw is not None,
        drawn_at=draw.drawn_at if draw else None,
        drawn_by=draw.drawn_by if draw else None,
        population=draw.population if draw else None,
        sampled=len(samples),
        reviewed=len(reviewed),
        issues=issues,
        issue_rate=round(issues / len(reviewed), 4) if reviewed else None,
    )
