"""Compliance sampling (T-7): draw a month's 10% of service records once, list them, record verdicts.

The draw is two statements in one transaction: the month's row in ``compliance_draws`` (its primary key
makes a second draw of the month a no-op, also when two run at once: the second waits for the first and
then inserts nothing), then one INSERT … SELECT of the month's closed customer cases ordered by
md5(number || ':' || month), so the same records always give the same sample.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from config import Settings
from db.compliance import ComplianceDraw, ComplianceSample
from db.engine import transaction
from db.models import Case, CaseEvent
from domain.compliance import (
    DrawRequest,
    DrawResult,
    SampleView,
    VerdictInput,
    sample_size,
)
from domain.models import CaseState
from domain.records import period
from domain.tier_report import month_days


class SampleNotFound(Exception):
    pass


class AlreadyReviewed(Exception):
    pass


def _month_bounds(month: str, tz: str) -> tuple[datetime, datetime]:
    lower, upper = period(*month_days(month), tz)
    assert lower is not None and upper is not None
    return lower, upper


async def _drawn(db: AsyncSession, month: str, *, created: bool) -> DrawResult | None:
    row = await db.get(ComplianceDraw, month)
    if row is None:
        return None
    cases = await db.scalars(
        select(ComplianceSample.case_number)
        .where(ComplianceSample.month == month)
        .order_by(ComplianceSample.id)
    )
    return DrawResult(
        month=month,
        drawn_at=row.drawn_at,
        drawn_by=row.drawn_by,
        population=row.population,
        size=row.size,
        cases=list(cases),
        created=created,
    )


async def draw(db: AsyncSession, req: DrawRequest, *, tz: str) -> DrawResult:
    """Draws ``req.month`` (local month boundaries in ``tz``) unless it was drawn before."""
    lower, upper = _month_bounds(req.month, tz)
    closed = (
        Case.state == CaseState.CLOSED.value,
        Case.customer_id.is_not(None),
        Case.closed_at >= lower,
        Case.closed_at < upper,
    )
    population = await db.scalar(select(func.count()).select_from(Case).where(*closed)) or 0
    size = sample_size(population)
    inserted = await db.scalar(
        pg_insert(ComplianceDraw)
        .values(month=req.month, drawn_at=req.at, drawn_by=req.actor, population=population, size=size)
        .on_conflict_do_nothing()
        .returning(ComplianceDraw.month)
    )
    if inserted is not None:
        await db.execute(
            text(
                "INSERT INTO compliance_samples (month, case_number, drawn_at) "
                "SELECT CAST(:month AS text), number, :at FROM cases "
                "WHERE state = :closed AND customer_id IS NOT NULL AND closed_at >= :lower AND closed_at < :upper "
                "ORDER BY md5(number || ':' || CAST(:month AS text)), number LIMIT :size"
            ),
            {
                "month": req.month,
                "at": req.at,
                "closed": CaseState.CLOSED.value,
                "lower": lower,
                "upper": upper,
                "size": size,
            },
        )
    result = await _drawn(db, req.month, created=inserted is not None)
    assert result is not None
    return result


async def drawn(db: AsyncSession, month: str) -> DrawResult | None:
    """The month's draw, or None when it has not been drawn."""
    return await _drawn(db, month, created=False)


_SAMPLES = """
SELECT s.id, s.month, s.case_number, c.process, c.customer_id, cu.name AS customer_name,
       c.tier_at_open AS tier, c.outcome, c.opened_at, c.closed_at,
       f.step AS first_step, f.target_seconds AS promised_seconds,
       CASE WHEN f.done_at IS NOT NULL
            THEN greatest(0, extract(epoch FROM f.done_at - f.opened_at)::int - f.paused_seconds) END
           AS actual_seconds,
       coalesce(f.breached_at IS NOT NULL, false) AS first_breached,
       (SELECT count(*) FROM case_steps b WHERE b.case_number = c.number AND b.breached_at IS NOT NULL)::int
           AS breached_steps,
       s.drawn_at, s.reviewer, s.reviewed_at, s.verdict, s.finding
FROM compliance_samples s
JOIN cases c ON c.number = s.case_number
LEFT JOIN customers cu ON cu.id = c.customer_id
LEFT JOIN LATERAL (
    SELECT step, target_seconds, opened_at, done_at, breached_at, paused_seconds FROM case_steps
    WHERE case_number = c.number ORDER BY opened_at, id LIMIT 1
) f ON true
"""


async def samples(db: AsyncSession, month: str) -> list[SampleView]:
    rows = await db.execute(text(_SAMPLES + "WHERE s.month = :month ORDER BY s.id"), {"month": month})
    return [SampleView.model_validate(dict(r._mapping)) for r in rows]


async def record_verdict(
    db: AsyncSession, sample_id: int, v: VerdictInput, *, reviewer: str, at: datetime
) -> SampleView:
    """Records the verdict once; SampleNotFound, AlreadyReviewed. The case's timeline shows it (C-6)."""
    number = await db.scalar(
        update(ComplianceSample)
        .where(ComplianceSample.id == sample_id, ComplianceSample.verdict.is_(None))
        .values(verdict=v.verdict.value, finding=v.finding or None, reviewer=reviewer, reviewed_at=at)
        .returning(ComplianceSample.case_number)
    )
    if number is None:
        if await db.get(ComplianceSample, sample_id) is None:
            raise SampleNotFound(f"no compliance sample {sample_id}")
        raise AlreadyReviewed(f"compliance sample {sample_id} has been reviewed already")
    db.add(
        CaseEvent(
            key=f"compliance:{sample_id}:verdict",
            case_number=number,
            at=at,
            actor=reviewer,
            kind="compliance_reviewed",
            payload={"verdict": v.verdict.value, "note": v.finding},
        )
    )
    await db.flush()
    row = (await db.execute(text(_SAMPLES + "WHERE s.id = :id"), {"id": sample_id})).one()
    return SampleView.model_validate(dict(row._mapping))


class ComplianceActivities:
    def __init__(self, database_url: str, settings: Settings) -> None:
        self.url = database_url
        self.tz = settings.timezone

    @activity.defn
    async def draw_sample(self, req: DrawRequest) -> DrawResult:
        """The month's sample; a retried attempt or a second run finds the draw and changes nothing."""
        async with transaction(self.url) as db:
            return await draw(db, req, tz=self.tz)
