"""Staff web pages (zh-CN and English) for customer tiering: the review queue with adjust / approve / reject (T-3),
re-evaluation on demand (T-4), the scoring models per industry (T-1), and the tier panel of the customer
page (loaded through ``api/web/customer_panels.py``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from activities.tiering import set_tier_model, tier_models
from api import tiering
from api.auth import CurrentUser, require
from api.deps import ClientDep, SessionDep, SettingsDep
from api.i18n import gettext
from api.web.customer_panels import PANELS
from api.web.forms import errors_by_field
from api.web.pages import _render, use_locale
from domain.models import Tier
from domain.permissions import Permission
from domain.tiering import (
    DEFAULT_WEIGHTS,
    DIMENSIONS,
    ReviewStatus,
    ScoringModel,
    TierAdjustment,
    TierDecision,
    TierModelSpec,
)

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
TIERS = [t.value for t in Tier]
STATUSES = [s.value for s in ReviewStatus]
MODELS = [m.value for m in ScoringModel]
Adjuster = Annotated[CurrentUser, Depends(require(Permission.TIERS_ADJUST))]
Approver = Annotated[CurrentUser, Depends(require(Permission.TIERS_APPROVE))]
ModelEditor = Annotated[CurrentUser, Depends(require(Permission.TIER_MODELS_EDIT))]


def _form(request: Request, raw: Any) -> dict[str, str]:
    """The posted fields; sets the request's language first, for the error messages."""
    use_locale(request)
    return {k: str(v).strip() for k, v in raw.items()}


async def _queue(
    request: Request, db: AsyncSession, *, status: str, page: int, code: int = 200, **context: Any
) -> HTMLResponse:
    page = max(page, 1)
    showing = ReviewStatus(status) if status in STATUSES else ReviewStatus.PENDING
    items, total = await tiering.list_reviews(db, status=showing, page=page, page_size=PAGE_SIZE)
    context.setdefault("errors", {})
    context.setdefault("form", {})
    context.setdefault("failed", None)
    return _render(
        request,
        "tier_reviews.html",
        code,
        items=items,
        total=total,
        showing=showing.value,
        statuses=STATUSES,
        tiers=TIERS,
        page=page,
        page_size=PAGE_SIZE,
        **context,
    )


@router.get("/tiers/reviews", response_class=HTMLResponse)
async def review_queue(
    request: Request,
    db: SessionDep,
    status: str = "pending",
    page: int = 1,
    done: int | None = None,
    scored: int | None = None,
    opened: int | None = None,
) -> HTMLResponse:
    return await _queue(request, db, status=status, page=page, done=done, scored=scored, opened=opened)


@router.post("/tiers/reviews/{review_id}/adjust", response_class=HTMLResponse)
async def adjust(request: Request, review_id: int, db: SessionDep, user: Adjuster) -> Response:
    form = _form(request, await request.form())
    try:
        change = TierAdjustment.model_validate({k: form.get(k, "") for k in ("proposed_tier", "reason")})
    except ValidationError as err:
        return await _queue(
            request,
            db,
            status="pending",
            page=1,
            code=422,
            failed=review_id,
            errors=errors_by_field(err),
            form=form,
        )
    await tiering.adjust(db, review_id, change, actor=user.display_name)  # 404 / 409: the error page
    await db.commit()
    return RedirectResponse(f"/tiers/reviews?done={review_id}#review-{review_id}", status_code=303)


async def _decision(request: Request, review_id: int, db: AsyncSession) -> TierDecision | HTMLResponse:
    form = _form(request, await request.form())
    try:
        return TierDecision.model_validate({"note": form.get("note", "")})
    except ValidationError as err:
        return await _queue(
            request,
            db,
            status="pending",
            page=1,
            code=422,
            failed=review_id,
            errors=errors_by_field(err),
            form=form,
        )


@router.post("/tiers/reviews/{review_id}/approve", response_class=HTMLResponse)
async def approve(
    request: Request,
    review_id: int,
    db: SessionDep,
    client: ClientDep,
    settings: SettingsDep,
    user: Approver,
) -> Response:
    decision = await _decision(request, review_id, db)
    if isinstance(decision, HTMLResponse):
        return decision
    await tiering.approve(db, client, settings, review_id, decision, actor=user.display_name)
    await db.commit()
    return RedirectResponse(f"/tiers/reviews?done={review_id}", status_code=303)


@router.post("/tiers/reviews/{review_id}/reject", response_class=HTMLResponse)
async def reject(request: Request, review_id: int, db: SessionDep, user: Approver) -> Response:
    decision = await _decision(request, review_id, db)
    if isinstance(decision, HTMLResponse):
        return decision
    await tiering.reject(db, review_id, decision, actor=user.display_name)
    await db.commit()
    return RedirectResponse(f"/tiers/reviews?done={review_id}", status_code=303)


@router.post("/tiers/evaluate", response_class=HTMLResponse)
async def evaluate(db: SessionDep, user: Approver) -> Response:
    scored, opened = await tiering.evaluate_now(db, tiers=None, actor=user.display_name)
    await db.commit()
    return RedirectResponse(f"/tiers/reviews?scored={scored}&opened={opened}", status_code=303)


# -- scoring models (T-1) ----------------------------------------------------------------------------------


def _model_rows(specs: list[TierModelSpec]) -> list[dict[str, Any]]:
    return [
        {
            "industry": s.industry,
            "model": s.model.value,
            "weights": {k: f"{v:g}" for k, v in s.weights.items()},
        }
        for s in specs
    ]


async def _models_page(request: Request, db: AsyncSession, code: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("errors", {})
    context.setdefault("form", {})
    context.setdefault("failed", None)
    form_weights = {
        k.removeprefix("weight_"): v for k, v in context["form"].items() if k.startswith("weight_")
    }
    return _render(
        request,
        "tier_models.html",
        code,
        form_weights=form_weights,
        rows=_model_rows(await tier_models(db)),
        dimensions={m.value: list(DIMENSIONS[m]) for m in ScoringModel},
        defaults={m.value: {k: f"{v:g}" for k, v in DEFAULT_WEIGHTS[m].items()} for m in ScoringModel},
        **context,
    )


@router.get("/tiers/models", response_class=HTMLResponse)
async def models_page(request: Request, db: SessionDep, saved: str = "") -> HTMLResponse:
    return await _models_page(request, db, saved=saved)


@router.post("/tiers/models", response_class=HTMLResponse)
async def save_model(request: Request, db: SessionDep, user: ModelEditor) -> Response:
    """One industry's model: fields industry, model and weight_<dimension> for the model's dimensions."""
    form = _form(request, await request.form())
    errors: dict[str, str] = {}
    industry = form.get("industry", "")
    if not industry:
        errors["industry"] = gettext("必填（* 为所有未单独设置的行业）")
    model = ScoringModel(form["model"]) if form.get("model") in MODELS else None
    if model is None:
        errors["model"] = gettext("请从列表中选择")
    weights: dict[str, float] = {}
    for d in DIMENSIONS[model] if model else ():
        try:
            weights[d] = float(form.get(f"weight_{d}", ""))
        except ValueError:
            errors[f"weight_{d}"] = gettext("请填写 0–100 的数字")
    if not errors:
        try:
            spec = TierModelSpec(industry=industry, model=model, weights=weights)  # type: ignore[arg-type]
        except ValidationError:
            total = f"{sum(weights.values()):g}"
            errors["weights"] = gettext("各维度权重须在 0–100 之间且合计为 100（当前合计 {total}）").format(
                total=total
            )
    if errors:
        return await _models_page(request, db, 422, errors=errors, form=form, failed=industry)
    await set_tier_model(db, spec, actor=user.display_name)
    await db.commit()
    return RedirectResponse(f"/tiers/models?saved={spec.industry}", status_code=303)


# -- the customer page's tier panel (H1's /customers/{id} includes _customer_tier_panel.html) ---------------


async def load_tier_panel(db: AsyncSession, customer_id: int) -> dict[str, Any]:
    """``tier_panel``: the customer's tier, latest score per dimension, pending review and history."""
    return {"tier_panel": await tiering.customer_tier(db, customer_id)}


PANELS.append(load_tier_panel)
