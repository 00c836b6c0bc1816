"""Staff web pages (zh-CN, and English): the tiered-service report (T-6) and compliance sampling (T-7)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from activities import compliance
from api.auth import UserDep, require
from api.deps import SessionDep, SettingsDep
from api.errors import Invalid
from api.i18n import N_, gettext
from api.routes.compliance import draw_month, last_month
from api.tier_reporting import monthly_report, quarterly_report
from api.web.forms import errors_by_field
from api.web.pages import _render, use_locale
from domain.compliance import VerdictInput, summarise
from domain.customers import TIER_BENEFITS
from domain.permissions import Permission
from domain.tier_report import month_days, month_of, quarter_days, quarter_of

# REP-1 / T-7: the pages are for the roles that read figures; drawing and verdicts are a reviewer's.
router = APIRouter(include_in_schema=False, dependencies=[Depends(require(Permission.REPORTS))])
REVIEW = [Depends(require(Permission.COMPLIANCE_REVIEW))]
@router.get("/reports/tiers", response_class=HTMLResponse)
async def tier_report_page(
    request: Request, db: SessionDep, settings: SettingsDep, month: str = "", quarter: str = ""
) -> HTMLResponse:
    use_locale(request)  # the error messages
    tz = settings.timezone
    today = datetime.now(ZoneInfo(tz)).date()
    month, quarter = month.strip() or month_of(today), quarter.strip() or quarter_of(today)
    errors: dict[str, str] = {}
    for field, value, parse, example in (
        ("month", month, month_days, "2026-10"),
        ("quarter", quarter, quarter_days, "2026Q4"),
    ):
        try:
            parse(value)
        except ValueError:
            errors[field] = gettext("格式应为 %(example)s") % {"example": example}
    monthly = None if "month" in errors else await monthly_report(db, month, tz=tz)
    quarterly = None if "quarter" in errors else await quarterly_report(db, quarter, tz=tz)
    return _render(
        request,
        "report_tiers.html",
        422 if errors else 200,
        form={"month": month, "quarter": quarter},
        errors=errors,
        monthly=monthly,
        quarterly=quarterly,
        timezone=tz,
    )


async def _compliance(
    request: Request, db: SessionDep, settings: SettingsDep, month: str, code: int = 200, **context: Any
) -> HTMLResponse:
    use_locale(request)  # the error messages and the tiers' standards
    try:
        month_days(month)
    except ValueError:
        errors = {"month": gettext("格式应为 %(example)s") % {"example": "2026-10"}}
        return _render(request, "compliance.html", 422, month=month, errors=errors, summary=None)
    drawn = await compliance.drawn(db, month)
    samples = await compliance.samples(db, month)
    context["errors"] = {field: gettext(message) for field, message in context.get("errors", {}).items()}
    context.setdefault("form", {})
    return _render(
        request,
        "compliance.html",
        code,
        month=month,
        summary=summarise(month, drawn, samples),
        samples=samples,
        standards={t.value: gettext(text) for t, text in TIER_BENEFITS.items()},
        over=month < month_of(datetime.now(ZoneInfo(settings.timezone)).date()),
        timezone=settings.timezone,
        **context,
    )


@router.get("/compliance", response_class=HTMLResponse)
async def compliance_page(
    request: Request, db: SessionDep, settings: SettingsDep, month: str = "", reviewed: int | None = None
) -> HTMLResponse:
    return await _compliance(
        request, db, settings, month.strip() or last_month(settings.timezone), reviewed=reviewed
    )


@router.post("/compliance/draw", response_class=HTMLResponse, dependencies=REVIEW)
async def compliance_draw(request: Request, db: SessionDep, settings: SettingsDep, user: UserDep) -> Response:
    form = {k: str(v).strip() for k, v in (await request.form()).items()}
    month = form.get("month", "")
    try:
        month_days(month)
        await draw_month(db, month, tz=settings.timezone, actor=user.display_name)
    except ValueError:
        return await _compliance(request, db, settings, month, 422)
    except Invalid:
        return await _compliance(
            request, db, settings, month, 422, errors={"draw": N_("该月尚未结束，月末后再抽取")}
        )
    return RedirectResponse(f"/compliance?month={month}", status_code=303)


@router.post("/compliance/samples/{sample_id}/verdict", response_class=HTMLResponse, dependencies=REVIEW)
async def compliance_verdict(
    request: Request, sample_id: int, db: SessionDep, settings: SettingsDep, user: UserDep
) -> Response:
    form = {k: str(v).strip() for k, v in (await request.form()).items()}
    month = form.get("month", "")
    try:
        verdict = VerdictInput.model_validate(
            {"verdict": form.get("verdict"), "finding": form.get("finding", "")}
        )
    except ValidationError as err:
        errors = errors_by_field(err)
        return await _compliance(
            request, db, settings, month, 422, failed=sample_id, errors=errors, form=form
        )
    try:
        await compliance.record_verdict(
            db, sample_id, verdict, reviewer=user.display_name, at=datetime.now(UTC)
        )
    except compliance.SampleNotFound:
        return await _compliance(request, db, settings, month, 404, errors={"sample": N_("没有这条抽查记录")})
    except compliance.AlreadyReviewed:
        return await _compliance(
            request, db, settings, month, 409, errors={"sample": N_("这条记录已复核过，结论不能重复提交")}
        )
    await db.commit()
    return RedirectResponse(f"/compliance?month={month}&reviewed={sample_id}", status_code=303)
