"""Surveys: issue a signed link (SAT-1/2), store an answer once, and open an improvement task below 4."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from config import Settings
from db.engine import transaction
from db.models import Notification
from db.surveys import ImprovementTask, Survey
from domain.surveys import (
    IMPROVEMENT_WITHIN,
    LINK_VALID_FOR,
    AnswerResult,
    CallbackAnswer,
    IssuedSurvey,
    IssueSurvey,
    SurveyKind,
    needs_improvement,
    sign,
)


def survey_url(settings: Settings, survey: Survey) -> str:
    token = sign(survey.id, survey.expires_at, settings.signing_key())
    return f"{settings.public_url.rstrip('/')}/s/{token}"


async def issue(db: AsyncSession, settings: Settings, req: IssueSurvey) -> IssuedSurvey:
    await db.execute(
        pg_insert(Survey)
        .values(
            key=req.key,
            kind=req.kind,
            case_number=req.number,
            process=req.process,
            step=req.step,
            round=req.round,
            customer_id=req.customer_id,
            issued_at=req.issued_at,
            expires_at=req.issued_at + LINK_VALID_FOR,
        )
        .on_conflict_do_nothing(index_elements=["key"])
    )
    survey = (await db.execute(select(Survey).where(Survey.key == req.key))).scalar_one()
    return IssuedSurvey(id=survey.id, url=survey_url(settings, survey), expires_at=survey.expires_at)


async def answer(
    db: AsyncSession,
    survey_id: int,
    *,
    score: int,
    comment: str | None,
    via: str,
    by: str | None,
    at: datetime,
) -> AnswerResult:
    """Stores the answer if the survey has none yet; below 4 of 5 also opens an improvement task."""
    stored = (
        await db.execute(
            update(Survey)
            .where(Survey.id == survey_id, Survey.answered_at.is_(None))
            .values(answered_at=at, score=score, comment=comment or None, answered_via=via, answered_by=by)
            .returning(Survey)
        )
    ).scalar_one_or_none()
    if stored is None:
        before = await db.get(Survey, survey_id)
        assert before is not None and before.score is not None
        task = await db.scalar(select(ImprovementTask.id).where(ImprovementTask.survey_id == survey_id))
        return AnswerResult(survey_id=survey_id, score=before.score, improvement_task=task, first=False)
    task_id = None
    if needs_improvement(SurveyKind(stored.kind), score):
        task_id = await db.scalar(
            pg_insert(ImprovementTask)
            .values(
                survey_id=stored.id,
                case_number=stored.case_number,
                customer_id=stored.customer_id,
                score=score,
                comment=comment or None,
                due_at=at + IMPROVEMENT_WITHIN,
            )
            .returning(ImprovementTask.id)
        )
        subject = f"满意度 {score} 分：改进任务 #{task_id}" + (
            f"（{stored.case_number}）" if stored.case_number else ""
        )
        db.add(
            Notification(
                key=f"improvement:{task_id}",
                case_number=stored.case_number,
                channel="inbox",
                recipient_role="supervisor",
                purpose="improvement_task",
                subject=subject,
                body=f"客户评分 {score}/5。{comment or ''}\n请在 {IMPROVEMENT_WITHIN.days} 天内分析原因并记录改进措施（SAT-1 · 003 §4.4）。",
            )
        )
    return AnswerResult(survey_id=survey_id, score=score, improvement_task=task_id, first=True)


class SurveyActivities:
    def __init__(self, database_url: str, settings: Settings) -> None:
        self.url = database_url
        self.settings = settings

    @activity.defn
    async def issue_survey(self, req: IssueSurvey) -> IssuedSurvey:
        async with transaction(self.url) as db:
            return await issue(db, self.settings, req)

    @activity.defn
    async def record_callback(self, a: CallbackAnswer) -> AnswerResult:
        async with transaction(self.url) as db:
            return await answer(
                db, a.survey_id, score=a.score, comment=a.comment, via="callback", by=a.actor, at=a.at
            )
