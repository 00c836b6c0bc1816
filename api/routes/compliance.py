"""REST: /api/v1/compliance — T-7 compliance sampling: draw a month's 10% of service records, list the
sample with its summary, record a reviewer's verdict."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from activities import compliance
from api.auth import actor_name, require
from api.deps import SessionDep, SettingsDep
from api.errors import Conflict, NotFound
from api.reporting import InvalidQuery
from domain.compliance import (
    MONTH_PATTERN,
    ComplianceMonth,
    DrawRequest,
    DrawResult,
    SampleView,
    VerdictInput,
    summarise,
)
from domain.permissions import Permission
from domain.tier_report import month_of, previous_month

router = APIRouter(prefix="/api/v1", tags=["compliance"])
# T-7: anyone who reads reports (a token: reports:read) sees the sample; drawing and verdicts are a
# reviewer's (supervisor, director), recorded under the signed-in name.
READ = [Depends(require(Permission.REPORTS))]
REVIEW = [Depends(require(Permission.COMPLIANCE_REVIEW))]
ActorDep = Annotated[str, Depends(actor_name)]

MonthQuery = Annotated[str, Query(pattern=MONTH_PATTERN, description="YYYY-MM, local (Asia/Shanghai)")]


def last_month(tz: str) -> str:
    return previous_month(datetime.now(ZoneInfo(tz)).date())


async def draw_month(db: AsyncSession, month: str, *, tz: str, actor: str) -> DrawResult:
    """Draws a month that is over (its records are all in); a month still running is refused."""
    if month >= month_of(datetime.now(ZoneInfo(tz)).date()):
        raise InvalidQuery("month", f"{month} is not over yet: draw it once its service records are all in")
    result = await compliance.draw(db, DrawRequest(month=month, at=datetime.now(UTC), actor=actor), tz=tz)
    await db.commit()
    return result


@router.post(
    "/compliance/samples",
    status_code=201,
    dependencies=REVIEW,
    responses={
        200: {"description": "the month was drawn before: that sample, unchanged"},
        422: {"description": "a malformed month, or one that is not over yet"},
    },
)
async def draw_sample(
    db: SessionDep,
    settings: SettingsDep,
    response: Response,
    month: MonthQuery,
    actor: ActorDep,
) -> DrawResult:
    """Draws 10% (rounded up) of the month's closed customer cases, reproducibly (ordered by
    md5(number || ':' || month)); 201 when drawn now, 200 with the existing sample when drawn before."""
    result = await draw_month(db, month, tz=settings.timezone, actor=actor)
    if not result.created:
        response.status_code = 200
    return result


@router.get("/compliance/samples", dependencies=READ)
async def list_samples(
    db: SessionDep, settings: SettingsDep, month: MonthQuery | None = None
) -> ComplianceMonth:
    """The month's sample (default: last month) with each case's tier, its first step's promised target
    and actual time, breached steps and verdict; the summary's `issue_rate` is issues / reviewed."""
    month = month or last_month(settings.timezone)
    drawn = await compliance.drawn(db, month)
    found = await compliance.samples(db, month)
    return ComplianceMonth(summary=summarise(month, drawn, found), samples=found)


@router.post(
    "/compliance/samples/{sample_id}/verdict",
    dependencies=REVIEW,
    responses={
        404: {"description": "no such sample"},
        409: {"description": "the sample has been reviewed already"},
        422: {"description": "a verdict other than ok | issue, or an issue without a finding"},
    },
)
async def record_verdict(
    sample_id: int, body: VerdictInput, db: SessionDep, reviewer: ActorDep
) -> SampleView:
    """The signed-in reviewer's verdict on a drawn record: ok, or issue with the finding."""
    try:
        view = await compliance.record_verdict(db, sample_id, body, reviewer=reviewer, at=datetime.now(UTC))
    except compliance.SampleNotFound as err:
        raise NotFound(str(err)) from None
    except compliance.AlreadyReviewed as err:
        raise Conflict(str(err)) from None
    await db.commit()
    return view
