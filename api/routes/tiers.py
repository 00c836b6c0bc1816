"""REST: /api/v1/tiers — tier reviews and approval (T-3), scoring models per industry (T-1), re-evaluation
on demand (T-4); and /api/v1/customers/{id}/tier, a customer's score, tier, pending review and history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from activities.tiering import set_tier_model, tier_models
from api import tiering
from api.auth import CurrentUser, require
from api.deps import ClientDep, SessionDep, SettingsDep
from domain.models import Tier
from domain.permissions import Permission
from domain.tiering import (
    ReviewStatus,
    TierAdjustment,
    TierDecision,
    TierModelSpec,
    TierProposal,
)

router = APIRouter(prefix="/api/v1", tags=["tiers"])

# T-3: the account manager proposes and adjusts, the sales supervisor decides; T-1: who edits the models.
Adjuster = Annotated[CurrentUser, Depends(require(Permission.TIERS_ADJUST))]
Approver = Annotated[CurrentUser, Depends(require(Permission.TIERS_APPROVE))]
ModelEditor = Annotated[CurrentUser, Depends(require(Permission.TIER_MODELS_EDIT))]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "unknown review or customer"}}
INVALID: dict[int | str, dict[str, Any]] = {422: {"description": "invalid field; `detail[].loc` names it"}}
DECIDED: dict[int | str, dict[str, Any]] = {409: {"description": "the review is not pending"}}
FORBIDDEN: dict[int | str, dict[str, Any]] = {403: {"description": "the role lacks the permission"}}


class ReviewOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    customer_id: int
    customer_name: str | None = None
    computed_score: float | None = Field(description="the latest computed score (null: never scored)")
    computed_tier: str | None
    current_tier: str = Field(description="customers.tier when the review opened")
    proposed_tier: str
    reason: str | None = Field(description="the account manager's reason (null for a computed proposal)")
    cause: str = Field(description="scheduled | spend_drop | manual")
    proposed_by: str
    status: str = Field(description="pending | approved | rejected")
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None
    created_at: datetime


class ReviewPage(BaseModel):
    items: list[ReviewOut]
    total: int
    page: int
    page_size: int


class ChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    customer_id: int
    before: str
    after: str
    review_id: int
    changed_by: str
    changed_at: datetime


class ApprovalOut(BaseModel):
    review: ReviewOut
    change: ChangeOut | None = Field(description="null when the approved tier is the customer's tier already")


class DimensionOut(BaseModel):
    name: str
    score: float = Field(description="the dimension's score, 0–100")
    weight: float = Field(description="its weight in percent (the industry's model)")
    points: float = Field(description="weight × score / 100: its share of the total")


class ScoreOut(BaseModel):
    model: str
    score: float
    tier: str = Field(description="the suggested tier; `tier` of the customer is the approved one")
    as_of: datetime
    computed_at: datetime
    dimensions: list[DimensionOut]
    metrics: dict[str, Any]


class CustomerTierOut(BaseModel):
    customer_id: int
    name: str
    tier: str = Field(description="the approved tier every team and the SLA rules use")
    score: ScoreOut | None
    pending: ReviewOut | None
    history: list[ChangeOut] = Field(description="approved changes, newest first")


class EvaluateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tiers: list[Tier] | None = Field(default=None, description="approved tiers to evaluate; null: all")


class EvaluateOut(BaseModel):
    scored: int
    reviews: int = Field(description="pending reviews opened")


def _review(review: Any, name: str | None = None) -> ReviewOut:
    return ReviewOut.model_validate(review).model_copy(update={"customer_name": name})


@router.get("/tiers/reviews")
async def list_reviews(
    db: SessionDep,
    status: ReviewStatus | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ReviewPage:
    """Tier reviews; `status=pending` is the sales supervisor's queue, oldest first."""
    found, total = await tiering.list_reviews(db, status=status, page=page, page_size=page_size)
    return ReviewPage(
        items=[_review(r.review, r.customer_name) for r in found], total=total, page=page, page_size=page_size
    )


@router.post(
    "/tiers/reviews", status_code=201, responses={**NOT_FOUND, **INVALID, 409: DECIDED[409], **FORBIDDEN}
)
async def propose(body: TierProposal, db: SessionDep, user: Adjuster) -> ReviewOut:
    """An account manager proposes a tier with a reason (T-3). 409 if the customer has a pending review."""
    review = await tiering.propose(db, body, actor=user.display_name)
    await db.commit()
    return _review(review)


@router.post("/tiers/reviews/{review_id}/adjust", responses={**NOT_FOUND, **INVALID, **DECIDED, **FORBIDDEN})
async def adjust(review_id: int, body: TierAdjustment, db: SessionDep, user: Adjuster) -> ReviewOut:
    """The account manager changes the proposed tier; `reason` is required (T-3)."""
    review = await tiering.adjust(db, review_id, body, actor=user.display_name)
    await db.commit()
    return _review(review)


@router.post("/tiers/reviews/{review_id}/approve", responses={**NOT_FOUND, **INVALID, **DECIDED, **FORBIDDEN})
async def approve(
    review_id: int,
    body: TierDecision,
    db: SessionDep,
    client: ClientDep,
    settings: SettingsDep,
    user: Approver,
) -> ApprovalOut:
    """The sales supervisor approves: the customer's tier changes now (their next case gets its targets),
    the change is recorded before/after, the customer is told their tier and benefits."""
    review, change = await tiering.approve(db, client, settings, review_id, body, actor=user.display_name)
    await db.commit()
    return ApprovalOut(
        review=_review(review), change=ChangeOut.model_validate(change) if change is not None else None
    )


@router.post("/tiers/reviews/{review_id}/reject", responses={**NOT_FOUND, **INVALID, **DECIDED, **FORBIDDEN})
async def reject(review_id: int, body: TierDecision, db: SessionDep, user: Approver) -> ReviewOut:
    """The sales supervisor rejects: the customer keeps their tier."""
    review = await tiering.reject(db, review_id, body, actor=user.display_name)
    await db.commit()
    return _review(review)


@router.post("/tiers/evaluate", responses={**INVALID, **FORBIDDEN})
async def evaluate(body: EvaluateIn, db: SessionDep, user: Approver) -> EvaluateOut:
    """Re-evaluates now (T-4): scores every customer, opens a review for each customer of `tiers` whose
    computed tier differs from the approved one (one pending review per customer at most)."""
    scored, opened = await tiering.evaluate_now(db, tiers=body.tiers, actor=user.display_name)
    await db.commit()
    return EvaluateOut(scored=scored, reviews=opened)


@router.get("/tiers/models")
async def list_models(db: SessionDep) -> list[TierModelSpec]:
    """The scoring model and weights per industry; `*` is every industry without its own (T-1)."""
    return await tier_models(db)


@router.put("/tiers/models", responses={**INVALID, **FORBIDDEN})
async def put_model(body: TierModelSpec, db: SessionDep, user: ModelEditor) -> TierModelSpec:
    """Sets an industry's model and weights (percent, exactly the model's dimensions, summing to 100);
    the next scoring pass uses them."""
    await set_tier_model(db, body, actor=user.display_name)
    await db.commit()
    return body


@router.get("/customers/{customer_id}/tier", responses=NOT_FOUND)
async def customer_tier(customer_id: int, db: SessionDep) -> CustomerTierOut:
    """The approved tier, the latest score per dimension, the pending review and the before/after history."""
    found = await tiering.customer_tier(db, customer_id)
    pending = found["pending"]
    return CustomerTierOut(
        customer_id=found["customer_id"],
        name=found["name"],
        tier=found["tier"],
        score=ScoreOut.model_validate(found["score"]) if found["score"] else None,
        pending=_review(pending) if pending is not None else None,
        history=[ChangeOut.model_validate(c) for c in found["history"]],
    )
