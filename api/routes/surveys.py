"""REST: /api/v1 — answer a survey link for another system (SAT-1/2), the improvement tasks a low score
opens (SAT-1), and the survey figures (SAT-2). ``submit`` is shared with the public page (api/web/surveys.py)."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities import surveys
from api.auth import CurrentUser, require
from api.deps import ClientDep, SessionDep, SettingsDep
from api.errors import CareflowError, Conflict, Invalid, NotFound
from config import Settings
from db.surveys import Survey
from domain.permissions import Permission
from domain.surveys import (
    SCALE,
    AnswerResult,
    BadToken,
    ExpiredToken,
    Filled,
    ImprovementDone,
    ImprovementView,
    SurveyAnswered,
    SurveyKind,
    SurveySummary,
    in_scale,
)

router = APIRouter(prefix="/api/v1", tags=["surveys"])
log = logging.getLogger("careflow.surveys")

ANSWER_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "the link was altered or is not ours"},
    409: {"description": "the survey has been answered already; nothing changed"},
    410: {"description": "the link has expired"},
    422: {"description": "the score is outside the survey's scale (csat 1–5, nps 0–10)"},
}
TASK_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "unknown improvement task"},
    409: {"description": "the task is done already"},
    422: {"description": "invalid input; `detail[].loc` names the field"},
}


class Gone(CareflowError):
    """The survey link has expired."""

    status = 410


class SurveyAnswer(BaseModel):
    score: int = Field(description="csat 1–5, nps 0–10")
    comment: str = Field(default="", max_length=2000, description="改进建议（选填）")


class ImprovementPage(BaseModel):
    items: list[ImprovementView]
    total: int
    page: int
    page_size: int


async def open_survey(db: AsyncSession, settings: Settings, token: str) -> Survey:
    try:
        return await surveys.by_token(db, settings, token, now=datetime.now(UTC))
    except BadToken:
        raise NotFound("链接无效：请使用短信或邮件中的完整链接") from None
    except ExpiredToken:
        raise Gone("链接已过期") from None


async def submit(
    *, db: AsyncSession, client: Client, settings: Settings, token: str, answer: SurveyAnswer
) -> AnswerResult:
    """Stores the customer's answer once and tells the case's workflow, if the case still runs."""
    survey = await open_survey(db, settings, token)
    if survey.answered_at is not None:
        raise Conflict("该问卷已提交过，感谢您的反馈")
    kind = SurveyKind(survey.kind)
    if not in_scale(kind, answer.score):
        low, high = SCALE[kind]
        raise Invalid("score", f"请选择 {low}–{high} 分")
    result = await surveys.answer(
        db, survey.id, score=answer.score, comment=answer.comment, via="link", by=None, at=datetime.now(UTC)
    )
    await db.commit()
    if not result.first:  # answered meanwhile (a double submit, or staff recorded a callback)
        raise Conflict("该问卷已提交过，感谢您的反馈")
    if survey.case_number:
        await _tell_case(
            client,
            survey.case_number,
            SurveyAnswered(survey_id=survey.id, score=answer.score, comment=answer.comment or None),
        )
    return result


async def _tell_case(client: Client, number: str, answered: SurveyAnswered) -> None:
    """The answer is stored already: a closed case needs nothing, and a case that cannot be reached now
    still finds it when staff record the callback (record_satisfaction reads the stored answer)."""
    try:
        await client.get_workflow_handle(number).signal("survey_answered", answered)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            log.warning("case %s did not get survey %s's answer: %s", number, answered.survey_id, err)


@router.post("/surveys/{token}/answer", responses=ANSWER_ERRORS, summary="Answer a survey link")
async def answer_survey(
    token: str, body: SurveyAnswer, db: SessionDep, client: ClientDep, settings: SettingsDep
) -> AnswerResult:
    """For systems that collect the answer themselves (an app, a kiosk): the same rules as the public page
    `/s/{token}`. A CSAT score below 4 opens an improvement task (SAT-1)."""
    return await submit(db=db, client=client, settings=settings, token=token, answer=body)


@router.get(
    "/surveys/summary",
    responses={404: {"description": "no survey in that round"}},
    dependencies=[Depends(require(Permission.REPORTS))],
)
async def survey_summary(
    db: SessionDep,
    round_: Annotated[
        str | None, Query(alias="round", max_length=40, description="e.g. nps-2026Q4, csat-2026")
    ] = None,
    since: Annotated[date | None, Query(description="after-case surveys issued from this day (UTC)")] = None,
    until: Annotated[date | None, Query(description="… up to, not including, this day")] = None,
) -> SurveySummary:
    """The periodic rounds (SAT-2: answered, response rate, CSAT = % of 4–5, NPS = % 9–10 minus % 0–6)
    and the after-case satisfaction per process (SAT-1)."""
    result = await surveys.summary(db, round_=round_, since=day_start(since), until=day_start(until))
    if round_ and not result.rounds:
        raise NotFound(f"no survey in round {round_}")
    return result


def day_start(value: date | None) -> datetime | None:
    return datetime.combine(value, time(), UTC) if value else None


@router.get("/improvement-tasks")
async def list_improvement_tasks(
    db: SessionDep,
    status: Literal["open", "done"] | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ImprovementPage:
    """The tasks low scores opened (SAT-1); open ones by due date, `overdue` past it."""
    items, total = await surveys.list_improvements(
        db, status=status, now=datetime.now(UTC), page=page, page_size=page_size
    )
    return ImprovementPage(items=items, total=total, page=page, page_size=page_size)


class ImprovementDoneIn(BaseModel):
    resolution: Filled = Field(max_length=4000, description="原因分析与改进措施")
    actor: str | None = Field(
        default=None, max_length=100, description="API tokens: the person in the calling system"
    )


@router.post(
    "/improvement-tasks/{task_id}/done",
    responses=TASK_ERRORS,
    dependencies=[Depends(require(Permission.CASES_ACT))],
)
async def finish_improvement_task(
    task_id: int,
    body: ImprovementDoneIn,
    db: SessionDep,
    user: Annotated[CurrentUser, Depends(require(Permission.CASES_ACT))],
) -> ImprovementView:
    """Closes the task with the analysis and the measures taken (003 §4.4 问题分析-方案优化), as the signed-in
    staff member (a system with a token may name its user in `actor`)."""
    actor = (body.actor or "").strip() if user.is_token else ""
    return await finish(
        db, task_id, ImprovementDone(resolution=body.resolution, actor=actor or user.display_name)
    )


async def finish(db: AsyncSession, task_id: int, body: ImprovementDone) -> ImprovementView:
    try:
        view = await surveys.finish_improvement(db, task_id, body, at=datetime.now(UTC))
    except surveys.TaskNotFound:
        raise NotFound(f"没有改进任务 #{task_id}") from None
    except surveys.TaskAlreadyDone:
        raise Conflict(f"改进任务 #{task_id} 已完成") from None
    await db.commit()
    return view
