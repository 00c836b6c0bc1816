"""Satisfaction surveys (SAT-1, SAT-2): what a survey asks, the signed link a customer answers it on, the
periodic NPS / CSAT rounds, the figures, and the improvement task a low score opens.

The link carries the survey id and its expiry, signed with the deployment's secret (HMAC-SHA256), so the
public page needs no login and a changed id or date is refused. Single use is kept by the database: the
answer is written only while ``answered_at`` is empty.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from domain.actions import ActionInput, ActionSpec
from domain.models import Model, Step


class SurveyKind(StrEnum):
    CSAT = "csat"  # 1–5, after every case (SAT-1) and in the periodic CSAT round (SAT-2)
    NPS = "nps"  # 0–10, "how likely are you to recommend us" (SAT-2)


SCALE: dict[SurveyKind, tuple[int, int]] = {SurveyKind.CSAT: (1, 5), SurveyKind.NPS: (0, 10)}

# 003 §4.4: a score below 4 (of 5) starts the improvement process.
IMPROVEMENT_BELOW = 4
# How long the supervisor has to act on an improvement task.
IMPROVEMENT_WITHIN = timedelta(days=3)
# How long a survey link stays valid.
LINK_VALID_FOR = timedelta(days=7)


def needs_improvement(kind: SurveyKind, score: int) -> bool:
    return kind is SurveyKind.CSAT and score < IMPROVEMENT_BELOW


def in_scale(kind: SurveyKind, score: int) -> bool:
    low, high = SCALE[kind]
    return low <= score <= high


class IssueSurvey(Model):
    key: str
    kind: SurveyKind = SurveyKind.CSAT
    customer_id: int
    number: str | None = None
    process: str | None = None
    step: Step | None = None
    round: str | None = None
    issued_at: datetime


class IssuedSurvey(Model):
    id: int
    url: str
    expires_at: datetime


class SurveyAnswered(Model):
    """Signal to the case: the customer answered its survey on the link (the answer is already stored)."""

    survey_id: int
    score: int
    comment: str | None = None


class SatisfactionCallback(ActionInput):
    """Staff record the customer's answer from a phone callback (003 §2.3.2 步骤4 电话/问卷回访)."""

    score: int = Field(ge=1, le=5, description="满意度 1–5")
    comment: str = Field(default="", max_length=2000)


class CallbackAnswer(Model):
    survey_id: int
    score: int
    comment: str | None
    actor: str
    at: datetime


class AnswerResult(Model):
    survey_id: int
    score: int
    improvement_task: int | None = None
    first: bool = True  # False: the survey had been answered before (a reused link, a retried activity)


# -- the signed link ----------------------------------------------------------------------------------------


class BadToken(Exception):
    """The link was altered or is not ours."""


class ExpiredToken(Exception):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(survey_id: int, expires_at: datetime, secret: str) -> str:
    payload = f"{survey_id}.{int(expires_at.timestamp())}"
    mac = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()[:18]
    return f"{payload}.{_b64(mac)}"


def verify(token: str, secret: str, *, now: datetime | None = None) -> int:
    """The survey id of a valid token; BadToken if it was tampered with, ExpiredToken if it is too old."""
    try:
        survey, expires, mac = token.split(".")
        survey_id, expires_ts = int(survey), int(expires)
    except ValueError:
        raise BadToken("malformed link") from None
    expected = sign(survey_id, datetime.fromtimestamp(expires_ts, UTC), secret).rsplit(".", 1)[1]
    if not hmac.compare_digest(mac, expected):
        raise BadToken("the link's signature does not match")
    if (now or datetime.now(UTC)).timestamp() > expires_ts:
        raise ExpiredToken("the link has expired")
    return survey_id


# -- periodic rounds (SAT-2, 000 §(四) 主动调研：季度/年度 NPS、CSAT) -------------------------------------------

# The notifier's template purpose for each round; the after-case survey uses "survey".
ROUND_PURPOSE: dict[SurveyKind, str] = {SurveyKind.NPS: "nps", SurveyKind.CSAT: "csat_round"}
# A customer is surveyed in a round while they have had a case in the year before it.
ACTIVE_WITHIN = timedelta(days=365)
# Customers issued and notified by one activity.
ROUND_BATCH = 100
# Round labels read in China Standard Time (no DST, so a fixed offset is exact and needs no tz data).
_CST = timezone(timedelta(hours=8), "CST")


def round_label(kind: SurveyKind, at: datetime) -> str:
    """The round a survey sent at ``at`` belongs to: NPS per quarter ("nps-2026Q4"), CSAT per year."""
    local = at.astimezone(_CST)
    if kind is SurveyKind.NPS:
        return f"nps-{local.year}Q{(local.month - 1) // 3 + 1}"
    return f"csat-{local.year}"


class RoundBatch(Model):
    kind: SurveyKind
    round: str
    at: datetime
    after: int = 0
    size: int


class RoundBatchResult(Model):
    customers: int
    issued: int
    failed: int
    last: int | None  # the last customer id of the batch


class SurveyRoundResult(Model):
    round: str
    kind: SurveyKind
    customers: int = 0  # eligible customers handled
    issued: int = 0  # surveys created by this run; 0 for a re-run of a finished round
    failed: int = 0  # customers whose message could not be delivered (the outbox shows why)

    def add(self, batch: RoundBatchResult) -> SurveyRoundResult:
        return self.model_copy(
            update={
                "customers": self.customers + batch.customers,
                "issued": self.issued + batch.issued,
                "failed": self.failed + batch.failed,
            }
        )


class SurveyRoundStart(Model):
    """Input of SurveyRoundWorkflow; a schedule passes only ``kind``."""

    kind: SurveyKind
    # None: the round of the period the workflow runs in. Set: re-run (or continue) that round.
    round: str | None = None
    at: datetime | None = None  # when the round was sent; kept across continue-as-new
    after: int = 0  # the last customer id handled (continue-as-new)
    done: SurveyRoundResult | None = None
    batch: int = Field(default=ROUND_BATCH, ge=1, le=1000)  # customers per activity


# -- figures (SAT-2 summary, REP-1) -------------------------------------------------------------------------

SATISFIED_FROM = 4  # CSAT: the share of answers 4–5 of 5
PROMOTERS_FROM, DETRACTORS_UPTO = 9, 6  # NPS: % of 9–10 minus % of 0–6


class Figures(Model):
    issued: int
    answered: int
    response_rate: float | None  # % of issued surveys answered
    average: float | None
    csat: float | None  # % of answers 4–5; CSAT surveys only
    nps: float | None  # % promoters minus % detractors, -100..100; NPS surveys only


class RoundFigures(Figures):
    round: str
    kind: SurveyKind


class ProcessFigures(Figures):
    process: str


class SurveySummary(Model):
    rounds: list[RoundFigures]
    processes: list[ProcessFigures]  # the after-case surveys (SAT-1), per process


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def figures(
    kind: SurveyKind,
    *,
    issued: int,
    answered: int,
    score_sum: int,
    satisfied: int,
    promoters: int,
    detractors: int,
) -> dict[str, float | int | None]:
    """The figures of a set of surveys of one kind from its counts (``satisfied``: scores 4–5)."""
    return {
        "issued": issued,
        "answered": answered,
        "response_rate": _percent(answered, issued),
        "average": round(score_sum / answered, 2) if answered else None,
        "csat": _percent(satisfied, answered) if kind is SurveyKind.CSAT else None,
        "nps": (
            round(100 * (promoters - detractors) / answered, 1)
            if kind is SurveyKind.NPS and answered
            else None
        ),
    }


# -- improvement tasks (SAT-1) ------------------------------------------------------------------------------


class ImprovementView(Model):
    """An improvement task as staff see it: the task, its survey and the customer."""

    id: int
    status: str  # open | done
    score: int
    comment: str | None
    case_number: str | None
    process: str | None
    round: str | None
    kind: SurveyKind
    customer_id: int
    customer_name: str
    owner_role: str
    due_at: datetime
    overdue: bool
    created_at: datetime
    resolution: str | None
    done_at: datetime | None
    done_by: str | None


# Text a person must fill in; blanks alone do not count.
Filled = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class ImprovementDone(Model):
    resolution: Filled = Field(max_length=4000, description="原因分析与改进措施")
    actor: Filled = Field(max_length=100)


def satisfaction_action(*steps: Step) -> ActionSpec:
    """The staff side of a process's satisfaction step(s): record what the customer said on the phone."""
    return ActionSpec("record_satisfaction", SatisfactionCallback, frozenset(steps))
