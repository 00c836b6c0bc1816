"""Surveys: issue a signed link (SAT-1/2), store an answer once, open an improvement task below 4, send the
periodic NPS / CSAT rounds, and read the tasks and figures for the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import touches
from activities.changes import Notice
from activities.notify import NotifyActivities
from config import Settings
from db.engine import transaction
from db.models import Case, CaseEvent, Customer, Notification
from db.records import RECORDS
from db.surveys import ImprovementTask, Survey
from domain.interaction_plans import Response
from domain.surveys import (
    ACTIVE_WITHIN,
    DETRACTORS_UPTO,
    IMPROVEMENT_WITHIN,
    LINK_VALID_FOR,
    PROMOTERS_FROM,
    ROUND_PURPOSE,
    SATISFIED_FROM,
    AnswerResult,
    BadToken,
    CallbackAnswer,
    ImprovementDone,
    ImprovementView,
    IssuedSurvey,
    IssueSurvey,
    ProcessFigures,
    RoundBatch,
    RoundBatchResult,
    RoundFigures,
    SurveyKind,
    SurveySummary,
    figures,
    needs_improvement,
    sign,
    verify,
)


class TaskNotFound(Exception):
    pass


class TaskAlreadyDone(Exception):
    pass


def survey_url(settings: Settings, survey: Survey) -> str:
    token = sign(survey.id, survey.expires_at, settings.signing_key())
    return f"{settings.public_url.rstrip('/')}/s/{token}"


async def _issue(db: AsyncSession, req: IssueSurvey) -> tuple[Survey, bool]:
    """The survey of ``req.key`` and whether this call created it."""
    created = await db.scalar(
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
        .returning(Survey.id)
    )
    survey = (await db.execute(select(Survey).where(Survey.key == req.key))).scalar_one()
    return survey, created is not None


async def issue(db: AsyncSession, settings: Settings, req: IssueSurvey) -> IssuedSurvey:
    survey, _ = await _issue(db, req)
    return IssuedSurvey(id=survey.id, url=survey_url(settings, survey), expires_at=survey.expires_at)


async def by_token(db: AsyncSession, settings: Settings, token: str, *, now: datetime) -> Survey:
    """The survey a link points at; BadToken for a link that is not ours (or whose survey is gone),
    ExpiredToken for an old one."""
    survey = await db.get(Survey, verify(token, settings.signing_key(), now=now))
    if survey is None:
        raise BadToken("no such survey")
    return survey


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
    await _keep_on_record(db, stored, score)
    # A survey sent as a touch (the reactivation survey, R-5) counts as the customer's reply.
    await touches.stamp(db, touches.survey_key(stored.key), Response.REPLIED, at)
    task_id = None
    if needs_improvement(SurveyKind(stored.kind), score):
        task_id = await _open_improvement(
            db, stored, score=score, comment=comment, actor=by or "customer", at=at
        )
    return AnswerResult(survey_id=survey_id, score=score, improvement_task=task_id, first=True)


async def _keep_on_record(db: AsyncSession, survey: Survey, score: int) -> None:
    """A case survey's score goes into its process record's satisfaction column (SPEC §7), also when the
    case closed without waiting for it; a score the workflow recorded already stays."""
    record = RECORDS.get(survey.process or "")
    if survey.kind != SurveyKind.CSAT or survey.case_number is None or record is None:
        return
    column = record.__table__.columns.get("satisfaction")
    if column is None:
        return
    await db.execute(
        update(record)
        .where(record.case_number == survey.case_number, column.is_(None))  # type: ignore[attr-defined]
        .values(satisfaction=score)
    )


async def _open_improvement(
    db: AsyncSession, survey: Survey, *, score: int, comment: str | None, actor: str, at: datetime
) -> int:
    due = at + IMPROVEMENT_WITHIN
    task_id = await db.scalar(
        pg_insert(ImprovementTask)
        .values(
            survey_id=survey.id,
            case_number=survey.case_number,
            customer_id=survey.customer_id,
            score=score,
            comment=comment or None,
            due_at=due,
        )
        .returning(ImprovementTask.id)
    )
    assert task_id is not None
    about = (
        f"（{survey.case_number}）" if survey.case_number else f"（{survey.round}）" if survey.round else ""
    )
    db.add(
        Notification(
            key=f"improvement:{task_id}",
            case_number=survey.case_number,
            channel="inbox",
            recipient_role="supervisor",
            purpose="improvement_task",
            subject=f"满意度 {score} 分：改进任务 #{task_id}{about}",
            body=f"客户评分 {score}/5。{comment or ''}\n请在 {IMPROVEMENT_WITHIN.days} 天内分析原因并记录改进措施（SAT-1 · 003 §4.4）。",
        )
    )
    if survey.case_number:
        # The case timeline shows the low score and, later, what was done about it (C-6; "note" is shown).
        db.add(
            CaseEvent(
                key=f"improvement:{task_id}:opened",
                case_number=survey.case_number,
                at=at,
                actor=actor,
                kind="improvement_opened",
                payload={
                    "task": task_id,
                    "score": score,
                    "note": comment or "",
                    "due_at": due.isoformat(),
                },
            )
        )
    return task_id


# -- improvement tasks (SAT-1) ------------------------------------------------------------------------------


def _improvements() -> Select[Any]:
    return (
        select(ImprovementTask, Survey.kind, Survey.process, Survey.round, Customer.name)
        .join(Survey, Survey.id == ImprovementTask.survey_id)
        .join(Customer, Customer.id == ImprovementTask.customer_id)
    )


def _view(row: Any, now: datetime) -> ImprovementView:
    task, kind, process, round_, customer_name = row
    return ImprovementView(
        id=task.id,
        status=task.status,
        score=task.score,
        comment=task.comment,
        case_number=task.case_number,
        process=process,
        round=round_,
        kind=kind,
        customer_id=task.customer_id,
        customer_name=customer_name,
        owner_role=task.owner_role,
        due_at=task.due_at,
        overdue=task.status == "open" and task.due_at < now,
        created_at=task.created_at,
        resolution=task.resolution,
        done_at=task.done_at,
        done_by=task.done_by,
    )


async def list_improvements(
    db: AsyncSession, *, status: str | None, now: datetime, page: int, page_size: int
) -> tuple[list[ImprovementView], int]:
    """Open tasks by due date (the most urgent first), done tasks by when they were closed."""
    query = _improvements()
    if status:
        query = query.where(ImprovementTask.status == status)
    total = await db.scalar(select(func.count()).select_from(query.subquery()))
    order = (
        [ImprovementTask.due_at, ImprovementTask.id]
        if status == "open"
        else [ImprovementTask.done_at.desc().nulls_first(), ImprovementTask.due_at, ImprovementTask.id]
    )
    rows = await db.execute(query.order_by(*order).limit(page_size).offset((page - 1) * page_size))
    return [_view(r, now) for r in rows], total or 0


async def finish_improvement(
    db: AsyncSession, task_id: int, done: ImprovementDone, *, at: datetime
) -> ImprovementView:
    """Closes an open task with the supervisor's analysis and measures; TaskNotFound, TaskAlreadyDone."""
    task = await db.scalar(
        update(ImprovementTask)
        .where(ImprovementTask.id == task_id, ImprovementTask.status == "open")
        .values(status="done", resolution=done.resolution, done_at=at, done_by=done.actor)
        .returning(ImprovementTask)
    )
    if task is None:
        if await db.get(ImprovementTask, task_id) is None:
            raise TaskNotFound(f"no improvement task {task_id}")
        raise TaskAlreadyDone(f"improvement task {task_id} is done already")
    if task.case_number:
        db.add(
            CaseEvent(
                key=f"improvement:{task_id}:done",
                case_number=task.case_number,
                at=at,
                actor=done.actor,
                kind="improvement_done",
                payload={"task": task_id, "note": done.resolution},
            )
        )
    await db.flush()
    row = (await db.execute(_improvements().where(ImprovementTask.id == task_id))).one()
    return _view(row, at)


# -- figures (SAT-2) ----------------------------------------------------------------------------------------


def _counts() -> list[Any]:
    answered = Survey.answered_at.is_not(None)
    return [
        func.count().label("issued"),
        func.count().filter(answered).label("answered"),
        func.coalesce(func.sum(Survey.score), 0).label("score_sum"),
        func.count().filter(Survey.score >= SATISFIED_FROM).label("satisfied"),
        func.count().filter(Survey.score >= PROMOTERS_FROM).label("promoters"),
        func.count().filter(Survey.score <= DETRACTORS_UPTO).label("detractors"),
    ]


def _figures(kind: str, row: Any) -> dict[str, Any]:
    return figures(
        SurveyKind(kind),
        issued=row.issued,
        answered=row.answered,
        score_sum=row.score_sum,
        satisfied=row.satisfied,
        promoters=row.promoters,
        detractors=row.detractors,
    )


async def summary(
    db: AsyncSession, *, round_: str | None, since: datetime | None, until: datetime | None
) -> SurveySummary:
    """Each periodic round (or the one asked for), and the after-case CSAT per process for the surveys
    issued in [since, until)."""
    rounds = select(Survey.round, Survey.kind, *_counts()).where(Survey.round.is_not(None))
    if round_:
        rounds = rounds.where(Survey.round == round_)
    rounds = rounds.group_by(Survey.round, Survey.kind).order_by(Survey.round.desc())
    cases = select(Survey.process, *_counts()).where(
        Survey.case_number.is_not(None), Survey.kind == SurveyKind.CSAT
    )
    if since:
        cases = cases.where(Survey.issued_at >= since)
    if until:
        cases = cases.where(Survey.issued_at < until)
    cases = cases.group_by(Survey.process).order_by(Survey.process)
    return SurveySummary(
        rounds=[
            RoundFigures(round=r.round, kind=r.kind, **_figures(r.kind, r)) for r in await db.execute(rounds)
        ],
        processes=[
            ProcessFigures(process=r.process, **_figures(SurveyKind.CSAT, r)) for r in await db.execute(cases)
        ],
    )


# -- periodic rounds (SAT-2) ---------------------------------------------------------------------------------


async def round_customers(db: AsyncSession, *, at: datetime, after: int, limit: int) -> list[int]:
    """Customers with an email or phone and a case in the year before ``at``, by id after ``after``."""
    contact = or_(
        and_(Customer.email.is_not(None), Customer.email != ""),
        and_(Customer.phone.is_not(None), Customer.phone != ""),
    )
    active = exists().where(Case.customer_id == Customer.id, Case.opened_at >= at - ACTIVE_WITHIN)
    query = select(Customer.id).where(Customer.id > after, contact, active).order_by(Customer.id).limit(limit)
    return list((await db.execute(query)).scalars())


class SurveyActivities:
    def __init__(self, database_url: str, settings: Settings) -> None:
        self.url = database_url
        self.settings = settings
        self.notifier = NotifyActivities(database_url, settings)

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

    @activity.defn
    async def send_round_batch(self, b: RoundBatch) -> RoundBatchResult:
        """Issues one survey per customer of the batch (keyed by round and customer) and sends each its link.

        A retried attempt or a re-run of the round finds the surveys and the notifier's rows and sends
        nothing twice; a message that failed before is tried again. A customer whose message cannot be
        delivered is counted, not retried here: the outbox shows the failed row.
        """
        async with transaction(self.url) as db:
            customers = await round_customers(db, at=b.at, after=b.after, limit=b.size)
            issued = [
                await _issue(
                    db,
                    IssueSurvey(
                        key=f"{b.round}:{customer}",
                        kind=b.kind,
                        customer_id=customer,
                        round=b.round,
                        issued_at=b.at,
                    ),
                )
                for customer in customers
            ]
        failed = 0
        for customer, (survey, _) in zip(customers, issued, strict=True):
            activity.heartbeat(customer)
            notice = Notice(
                key=f"survey-round:{b.round}:{customer}",
                purpose=ROUND_PURPOSE[b.kind],
                audience="customer",
                context={
                    "customer_id": customer,
                    "round": b.round,
                    "survey_url": survey_url(self.settings, survey),
                    "expires_at": survey.expires_at.isoformat(),
                },
            )
            try:
                await self.notifier.notify(notice)
            except ApplicationError as err:
                if err.type != "DeliveryFailed":
                    raise
                failed += 1
        return RoundBatchResult(
            customers=len(customers),
            issued=sum(created for _, created in issued),
            failed=failed,
            last=customers[-1] if customers else None,
        )
