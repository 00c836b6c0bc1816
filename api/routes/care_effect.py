"""REST: relationship-care effect (R-5), the touch ledger and its frequency cap (R-6)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from activities import touches
from activities.care_effect import effect
from api.audit import audit
from api.auth import CurrentUser, require
from api.deps import SessionDep
from api.errors import Invalid, NotFound
from db.touches import CustomerTouch
from domain.interaction_plans import (
    EffectReport,
    TouchPolicyIn,
    TouchPolicyOut,
    TouchResponseIn,
    month_bounds,
    month_of,
    parse_month,
)
from domain.permissions import Permission

router = APIRouter(tags=["care"])
Reader = Annotated[CurrentUser, Depends(require(Permission.REPORTS))]
CareStaff = Annotated[CurrentUser, Depends(require(Permission.CARE_TASKS))]
PolicyEditor = Annotated[CurrentUser, Depends(require(Permission.POLICIES_EDIT))]

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "unknown touch"},
    422: {"description": "invalid input; `detail[].loc` names the field"},
}


class TouchOut(BaseModel):
    id: int
    customer_id: int
    kind: str
    source: str
    plan: str | None
    topic: str | None
    tier: str
    at: datetime
    done_at: datetime | None
    responded_at: datetime | None
    response: str | None


class TouchPage(BaseModel):
    items: list[TouchOut]
    total: int
    page: int
    page_size: int


def touch_out(t: CustomerTouch) -> TouchOut:
    return TouchOut(**{name: getattr(t, name) for name in TouchOut.model_fields})


def month_param(month: str | None) -> date:
    """``YYYY-MM`` (default: this month, Beijing time) → its first day; 422 on ``month`` otherwise."""
    if not month:
        return month_of(datetime.now(UTC))
    try:
        return parse_month(month)
    except ValueError as err:
        raise Invalid("month", str(err)) from None


@router.get("/api/v1/care/effect", responses=ERRORS)
async def get_effect(db: SessionDep, _: Reader, month: str | None = None) -> EffectReport:
    """R-5: the month's touches per tier and kind with their response rate (a tracked open or click, a
    reply, an answered survey) and conversion rate (a purchase or a referral within 30 days), and the
    customers who qualify for a reactivation survey."""
    return await effect(db, month_param(month), datetime.now(UTC))


@router.get("/api/v1/care/touches", responses=ERRORS)
async def list_touches(
    db: SessionDep,
    _: Reader,
    customer_id: int | None = None,
    month: str | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> TouchPage:
    """The touch ledger (R-6), newest first: a customer's touches, a month's, or both."""
    query = select(CustomerTouch)
    if customer_id is not None:
        query = query.where(CustomerTouch.customer_id == customer_id)
    if month:
        start, end = month_bounds(month_param(month))
        query = query.where(CustomerTouch.at >= start, CustomerTouch.at < end)
    total = await db.scalar(select(func.count()).select_from(query.subquery())) or 0
    found = await db.scalars(
        query.order_by(CustomerTouch.at.desc(), CustomerTouch.id.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    return TouchPage(items=[touch_out(t) for t in found], total=total, page=page, page_size=page_size)


@router.post("/api/v1/care/touches/{touch_id}/response", responses=ERRORS)
async def record_response(
    touch_id: int, body: TouchResponseIn, request: Request, db: SessionDep, _: CareStaff
) -> TouchOut:
    """Staff record how the customer responded to a touch (a callback that led to a reply, a message the
    customer answered); the first response's time stays, a stronger response replaces a weaker one."""
    touch = await touches.record_response(db, touch_id, body.response)
    if touch is None:
        raise NotFound(f"no touch {touch_id}")
    await audit(db, request, body.actor, "touch.response", f"touch:{touch_id}", {"response": body.response})
    await db.commit()
    return touch_out(touch)


@router.get("/api/v1/care/touch-policy")
async def get_touch_policy(db: SessionDep, _: Reader) -> TouchPolicyOut:
    """R-6: how many touches (pushes and planned touches together) a customer gets per calendar month."""
    return await touches.get_policy(db)


@router.put("/api/v1/care/touch-policy", responses=ERRORS)
async def put_touch_policy(
    body: TouchPolicyIn, request: Request, db: SessionDep, _: PolicyEditor
) -> TouchPolicyOut:
    """Admins change the cap; it applies to every reservation from now on (touches made stay)."""
    return await save_policy(db, request, body)


async def save_policy(db: AsyncSession, request: Request, body: TouchPolicyIn) -> TouchPolicyOut:
    before = await touches.get_policy(db)
    await touches.set_policy(db, body)
    await audit(
        db,
        request,
        body.actor,
        "touch_policy.update",
        "touch_policy",
        {"max_per_month": [before.max_per_month, body.max_per_month]},
    )
    await db.commit()
    return await touches.get_policy(db)
