"""Satisfaction surveys (SAT-1, SAT-2): what a survey asks, and the signed link a customer answers it on.

The link carries the survey id and its expiry, signed with the deployment's secret (HMAC-SHA256), so the
public page needs no login and a changed id or date is refused. Single use is kept by the database: the
answer is written only while ``answered_at`` is empty.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pydantic import Field

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


def satisfaction_action(*steps: Step) -> ActionSpec:
    """The staff side of a process's satisfaction step(s): record what the customer said on the phone."""
    return ActionSpec("record_satisfaction", SatisfactionCallback, frozenset(steps))
