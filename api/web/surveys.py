"""Survey pages: the public page a customer answers on without logging in (/s/{token}, SAT-1/2), and the
staff pages for improvement tasks (SAT-1) and survey figures (SAT-2).

The public page speaks the customer's language (``customers.locale``), not the staff language switch's; a
link that names no survey (unknown or expired) shows in the default language, zh-CN."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from activities import surveys
from api import i18n
from api.auth import CurrentUser, require
from api.deps import ClientDep, SessionDep, SettingsDep
from api.errors import CareflowError, Conflict, Invalid
from api.i18n import N_, gettext
from api.routes.surveys import Gone, SurveyAnswer, day_start, finish, open_survey, submit
from api.web.forms import errors_by_field
from api.web.pages import _render, templates, use_locale
from db.models import Customer
from db.surveys import Survey
from domain.permissions import Permission
from domain.surveys import IMPROVEMENT_WITHIN, SCALE, ImprovementDone, SurveyKind

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50

# What the customer reads for each refusal (the status tells a machine the same).
REFUSALS = {
    404: (N_("链接无效"), N_("无法识别这个问卷链接，请使用短信或邮件中的完整链接。")),
    409: (N_("已提交过"), N_("这份问卷已提交过，每个链接只能提交一次。感谢您的反馈！")),
    Gone.status: (
        N_("链接已过期"),
        N_("这份问卷的填写期限已过，感谢您的关注。如有意见，欢迎随时联系您的客服专员。"),
    ),
}

# -- the public page (standalone, no staff layout, no login) --------------------------------------------------


def _public(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Rendered in the language set last: the default, or the customer's (``_speak_customers``)."""
    return templates.TemplateResponse(request, name, context, status_code=status)


async def _speak_customers(db: SessionDep, survey: Survey) -> None:
    """The public page's language from here on: the customer's, whatever the browser's staff cookie says."""
    customer = await db.get(Customer, survey.customer_id)
    i18n.locale_var.set(i18n.pick_locale(None, customer.locale if customer else None))


def _refusal(request: Request, err: CareflowError) -> HTMLResponse:
    heading, message = REFUSALS.get(err.status, (N_("无法提交"), err.message))
    return _public(
        request, "survey_error.html", err.status, heading=gettext(heading), message=gettext(message)
    )


def _form(request: Request, token: str, survey: Survey, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("form", {})
    scale = SCALE[SurveyKind(survey.kind)]
    return _public(request, "survey_form.html", status, token=token, survey=survey, scale=scale, **context)


@router.get("/s/{token}", response_class=HTMLResponse)
async def survey_page(request: Request, token: str, db: SessionDep, settings: SettingsDep) -> HTMLResponse:
    i18n.locale_var.set(i18n.DEFAULT_LOCALE)  # until the survey names its customer
    try:
        survey = await open_survey(db, settings, token)
    except CareflowError as err:
        return _refusal(request, err)
    await _speak_customers(db, survey)
    if survey.answered_at is not None:
        return _refusal(request, Conflict("answered"))
    return _form(request, token, survey)


@router.post("/s/{token}", response_class=HTMLResponse)
async def survey_answer(
    request: Request, token: str, db: SessionDep, client: ClientDep, settings: SettingsDep
) -> HTMLResponse:
    """Stores the answer and thanks the customer; a bad score shows the form again with what was typed."""
    form = {k: str(v) for k, v in (await request.form()).items()}
    i18n.locale_var.set(i18n.DEFAULT_LOCALE)  # until the survey names its customer
    try:
        survey = await open_survey(db, settings, token)
    except CareflowError as err:
        return _refusal(request, err)
    await _speak_customers(db, survey)
    if survey.answered_at is not None:
        return _refusal(request, Conflict("answered"))
    try:
        answer = SurveyAnswer.model_validate(
            {"score": form.get("score") or None, "comment": form.get("comment", "").strip()}
        )
        result = await submit(db=db, client=client, settings=settings, token=token, answer=answer)
    except (ValidationError, Invalid) as err:
        wrong = errors_by_field(err) if isinstance(err, ValidationError) else {err.field: err.message}
        low, high = SCALE[SurveyKind(survey.kind)]
        message = (
            gettext("请选择 {low}–{high} 分").format(low=low, high=high)
            if "score" in wrong
            else next(iter(wrong.values()))
        )
        return _form(request, token, survey, 422, form=form, error=message)
    except CareflowError as err:
        return _refusal(request, err)
    return _public(
        request,
        "survey_thanks.html",
        score=result.score,
        improvement=result.improvement_task is not None,
        within_days=IMPROVEMENT_WITHIN.days,
    )


# -- staff pages ----------------------------------------------------------------------------------------------


async def _improvements(
    request: Request,
    db: SessionDep,
    *,
    status: str = "open",
    page: int = 1,
    code: int = 200,
    **context: Any,
) -> HTMLResponse:
    page = max(page, 1)
    items, total = await surveys.list_improvements(
        db, status=status, now=datetime.now(UTC), page=page, page_size=PAGE_SIZE
    )
    context.setdefault("errors", {})
    context.setdefault("form", {})
    return _render(
        request,
        "improvement_list.html",
        code,
        items=items,
        total=total,
        showing=status,
        page=page,
        page_size=PAGE_SIZE,
        within_days=IMPROVEMENT_WITHIN.days,
        **context,
    )


@router.get("/improvements", response_class=HTMLResponse)
async def improvement_list(
    request: Request, db: SessionDep, status: str = "open", page: int = 1, closed: int | None = None
) -> HTMLResponse:
    status = status if status in ("open", "done") else "open"
    return await _improvements(request, db, status=status, page=page, closed=closed)


@router.post("/improvements/{task_id}/done", response_class=HTMLResponse)
async def improvement_done(
    request: Request,
    task_id: int,
    db: SessionDep,
    user: Annotated[CurrentUser, Depends(require(Permission.CASES_ACT))],
) -> Response:
    form = {k: str(v).strip() for k, v in (await request.form()).items()}
    use_locale(request)  # the error messages
    try:
        done = ImprovementDone.model_validate(
            {"resolution": form.get("resolution"), "actor": user.display_name}
        )
    except ValidationError as err:
        errors = errors_by_field(err)
        return await _improvements(request, db, code=422, failed=task_id, errors=errors, form=form)
    await finish(db, task_id, done)  # 404 / 409: the staff error page
    return RedirectResponse(f"/improvements?closed={task_id}", status_code=303)


@router.get("/surveys", response_class=HTMLResponse, dependencies=[Depends(require(Permission.REPORTS))])
async def survey_summary(request: Request, db: SessionDep, since: str = "", until: str = "") -> HTMLResponse:
    """Every round and the per-process after-case figures; an empty or unreadable date filters nothing."""
    period = {name: _date(value) for name, value in (("since", since), ("until", until))}
    summary = await surveys.summary(
        db, round_=None, since=day_start(period["since"]), until=day_start(period["until"])
    )
    return _render(request, "survey_summary.html", summary=summary, **period)


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None
