"""Tier reviews (T-3), re-evaluation on demand (T-4) and the tier view of a customer: the service behind
``api/routes/tiers.py`` and ``api/web/tiers.py``.

A review goes pending → approved | rejected. The account manager may change the proposed tier of a
pending review, always with a reason; the sales supervisor decides. Only approval changes
``customers.tier`` — and with it the SLA targets of the customer's next case (T-5: a case keeps the tier
it opened with) — writes the before/after row of ``tier_changes`` and starts ``TierChangeWorkflow``, which
tells the customer their tier and benefits and signals their journey.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from activities.tier_reviews import TierChangeNotice, evaluate
from api.errors import Conflict, Invalid, NotFound
from config import Settings
from db.models import Customer
from db.tiering import CustomerScore, TierChange, TierModel, TierReview
from domain.models import Tier
from domain.tiering import (
    DEFAULT_INDUSTRY,
    DEFAULT_WEIGHTS,
    DIMENSIONS,
    Metrics,
    Potential,
    ReviewCause,
    ReviewStatus,
    ScoringModel,
    TierAdjustment,
    TierDecision,
    TierProposal,
    dimension_scores,
)
from workflows.tiering import TierChangeWorkflow


@dataclass
class ReviewRow:
    review: TierReview
    customer_name: str


async def list_reviews(
    db: AsyncSession, *, status: ReviewStatus | None, page: int, page_size: int
) -> tuple[list[ReviewRow], int]:
    """Reviews, oldest first when pending (the queue), newest first otherwise."""
    query = select(TierReview, Customer.name).join(Customer, Customer.id == TierReview.customer_id)
    if status is not None:
        query = query.where(TierReview.status == status.value)
    total = await db.scalar(select(func.count()).select_from(query.subquery())) or 0
    if status is ReviewStatus.PENDING:
        order = [TierReview.created_at, TierReview.id]
    else:
        order = [TierReview.created_at.desc(), TierReview.id.desc()]
    found = await db.execute(query.order_by(*order).limit(page_size).offset((page - 1) * page_size))
    return [ReviewRow(review, name) for review, name in found.all()], total


async def _customer(db: AsyncSession, customer_id: int, *, lock: bool = False) -> Customer:
    query = select(Customer).where(Customer.id == customer_id)
    customer = await db.scalar(query.with_for_update() if lock else query)
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist")
    return customer


async def _pending(db: AsyncSession, review_id: int) -> TierReview:
    """The review, locked; 404 if unknown, 409 if decided already."""
    review = await db.scalar(select(TierReview).where(TierReview.id == review_id).with_for_update())
    if review is None:
        raise NotFound(f"tier review {review_id} does not exist")
    if review.status != ReviewStatus.PENDING:
        raise Conflict(f"tier review {review_id} is {review.status}, not pending")
    return review


async def propose(db: AsyncSession, proposal: TierProposal, *, actor: str) -> TierReview:
    """An account manager's proposal; 409 while the customer has a pending review (adjust that one)."""
    customer = await _customer(db, proposal.customer_id)
    if proposal.proposed_tier.value == customer.tier:
        raise Invalid("proposed_tier", f"customer {customer.id} is {customer.tier} already")
    score = await db.get(CustomerScore, customer.id)
    review_id = await db.scalar(
        pg_insert(TierReview)
        .values(
            customer_id=customer.id,
            computed_score=score.score if score else None,
            computed_tier=score.tier if score else None,
            current_tier=customer.tier,
            proposed_tier=proposal.proposed_tier.value,
            reason=proposal.reason,
            cause=ReviewCause.MANUAL.value,
            proposed_by=actor,
            status=ReviewStatus.PENDING.value,
        )
        .on_conflict_do_nothing(index_elements=["customer_id"], index_where=TierReview.status == "pending")
        .returning(TierReview.id)
    )
    if review_id is None:
        raise Conflict(f"customer {customer.id} has a pending tier review; adjust that one")
    review = await db.get(TierReview, review_id)
    assert review is not None
    return review


async def adjust(db: AsyncSession, review_id: int, change: TierAdjustment, *, actor: str) -> TierReview:
    """The account manager sets the proposed tier (T-3: manual adjustment, with a reason). Proposing the
    current tier means "keep it": approval then changes nothing."""
    review = await _pending(db, review_id)
    review.proposed_tier = change.proposed_tier.value
    review.reason = change.reason
    review.proposed_by = actor
    await db.flush()
    return review


async def reject(db: AsyncSession, review_id: int, decision: TierDecision, *, actor: str) -> TierReview:
    review = await _pending(db, review_id)
    _decide(review, ReviewStatus.REJECTED, decision, actor)
    await db.flush()
    return review


async def approve(
    db: AsyncSession,
    client: Client,
    settings: Settings,
    review_id: int,
    decision: TierDecision,
    *,
    actor: str,
) -> tuple[TierReview, TierChange | None]:
    """The sales supervisor approves: the proposed tier becomes ``customers.tier``, recorded before/after.

    ``TierChangeWorkflow`` is started while this transaction still holds the review's lock; its first
    activity reads the review FOR SHARE, so it acts on the committed approval, or on nothing if the
    commit never happens. The caller commits."""
    review = await _pending(db, review_id)
    customer = await _customer(db, review.customer_id, lock=True)
    _decide(review, ReviewStatus.APPROVED, decision, actor)
    change = None
    if review.proposed_tier != customer.tier:
        change = TierChange(
            customer_id=customer.id,
            before=customer.tier,
            after=review.proposed_tier,
            review_id=review.id,
            changed_by=actor,
        )
        customer.tier = review.proposed_tier
        db.add(change)
    await db.flush()
    if change is not None:
        # A run left by an earlier attempt of this approval that rolled back acts on nothing (it found the
        # review pending, or will): replace it. A committed approval never gets here again (409 above).
        await client.start_workflow(
            TierChangeWorkflow.run,
            TierChangeNotice(review_id=review.id),
            id=f"tier-change-{review.id}",
            task_queue=settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.TERMINATE_EXISTING,
        )
    return review, change


def _decide(review: TierReview, status: ReviewStatus, decision: TierDecision, actor: str) -> None:
    review.status = status.value
    review.decided_by = actor
    review.decided_at = datetime.now(UTC)
    review.decision_note = decision.note or None


async def evaluate_now(
    db: AsyncSession, *, tiers: list[Tier] | None, actor: str, as_of: datetime | None = None
) -> tuple[int, int]:
    """A re-evaluation a person runs (T-4 on demand): (customers scored, reviews opened)."""
    return await evaluate(
        db, as_of=as_of or datetime.now(UTC), cause=ReviewCause.MANUAL, actor=actor, tiers=tiers
    )


# -- a customer's tier ----------------------------------------------------------------------------------------


async def customer_tier(db: AsyncSession, customer_id: int) -> dict[str, Any]:
    """The approved tier, the latest computed score with each dimension's score and weight, the pending
    review and the before/after history, newest first."""
    customer = await _customer(db, customer_id)
    score = await db.get(CustomerScore, customer_id)
    pending = await db.scalar(
        select(TierReview).where(
            TierReview.customer_id == customer_id, TierReview.status == ReviewStatus.PENDING.value
        )
    )
    history = (
        await db.scalars(
            select(TierChange)
            .where(TierChange.customer_id == customer_id)
            .order_by(TierChange.changed_at.desc(), TierChange.id.desc())
        )
    ).all()
    return {
        "customer_id": customer.id,
        "name": customer.name,
        "tier": customer.tier,
        "score": await _breakdown(db, customer, score) if score else None,
        "pending": pending,
        "history": list(history),
    }


async def _breakdown(db: AsyncSession, customer: Customer, score: CustomerScore) -> dict[str, Any]:
    model = ScoringModel(score.model)
    metrics = Metrics(
        recency_days=score.recency_days,
        frequency=score.frequency,
        monetary=score.monetary,
        repurchase_rate=score.repurchase_rate,
        previous_orders=score.previous_orders,
        new_needs=score.new_needs,
        referrals=score.referrals,
        complaints=score.complaints,
        potential=Potential(score.potential) if score.potential else None,
    )
    dims = dimension_scores(model, metrics)
    row = (await db.get(TierModel, customer.industry)) if customer.industry else None
    row = row or await db.get(TierModel, DEFAULT_INDUSTRY)
    weights = row.weights if row and row.model == model.value else DEFAULT_WEIGHTS[model]
    return {
        "model": model.value,
        "score": score.score,
        "tier": score.tier,
        "as_of": score.as_of,
        "computed_at": score.computed_at,
        "dimensions": [
            {
                "name": d,
                "score": dims[d],
                "weight": float(weights[d]),
                "points": float(weights[d]) * dims[d] / 100,
            }
            for d in DIMENSIONS[model]
        ],
        "metrics": {
            "recency_days": score.recency_days,
            "frequency": score.frequency,
            "monetary": score.monetary,
            "repurchase_rate": score.repurchase_rate,
            "potential": score.potential,
        },
    }
