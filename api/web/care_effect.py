"""Staff web page (zh-CN): relationship-care effect per month (R-5) and the monthly touch cap (R-6)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from activities import touches
from activities.care_effect import effect
from api.auth import CurrentUser, require
from api.deps import SessionDep
from api.routes.care_effect import save_policy
from api.web.forms import errors_by_field
from api.web.pages import _render
from domain.interaction_plans import MAX_CAP, PLAN, TouchPolicyIn, month_label, month_of, parse_month
from domain.permissions import Permission

router = APIRouter(include_in_schema=False)
Reader = Annotated[CurrentUser, Depends(require(Permission.REPORTS))]
PolicyEditor = Annotated[CurrentUser, Depends(require(Permission.POLICIES_EDIT))]


async def _page(
    request: Request,
    db: AsyncSession,
    first: date,
    *,
    errors: dict[str, str],
    form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    return _render(
        request,
        "care_effect.html",
        status,
        report=await effect(db, first, datetime.now(UTC)),
        policy=await touches.get_policy(db),
        plan=PLAN,
        max_cap=MAX_CAP,
        month=month_label(first),
        errors=errors,
        form=form or {},
    )


@router.get("/care/effect", response_class=HTMLResponse)
async def effect_page(request: Request, db: SessionDep, _: Reader, month: str = "") -> HTMLResponse:
    errors: dict[str, str] = {}
    first = month_of(datetime.now(UTC))
    if month:
        try:
            first = parse_month(month)
        except ValueError:
            errors["month"] = "请输入月份，格式 YYYY-MM"
    return await _page(request, db, first, errors=errors, status=422 if errors else 200)


@router.post("/care/touch-policy", response_class=HTMLResponse)
async def touch_policy_post(request: Request, db: SessionDep, user: PolicyEditor) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    month = form.get("month", "")
    try:
        first = parse_month(month)
    except ValueError:
        first = month_of(datetime.now(UTC))
    try:
        body = TouchPolicyIn(
            max_per_month=form.get("max_per_month", ""),  # type: ignore[arg-type]
            actor=user.display_name,
        )
    except ValidationError as err:
        return await _page(request, db, first, errors=errors_by_field(err), form=form, status=422)
    await save_policy(db, request, body)
    return RedirectResponse(f"/care/effect?month={month_label(first)}", status_code=303)
