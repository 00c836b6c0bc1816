"""Staff web pages (Jinja2, zh-CN and English): the new-case forms and the case page (lists: api/web/workspace.py)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from pydantic import ValidationError

from api import i18n, services
from api.auth import CurrentUser, require
from api.deps import ClientDep, SessionDep, SettingsDep
from api.errors import CareflowError, Invalid
from api.i18n import N_
from api.privacy import mask_text
from api.schemas import start_request_model
from api.web.forms import errors_by_field, parse, widgets
from domain import records
from domain.models import NewCustomer, Process
from domain.permissions import Permission
from workflows.registry import PROCESSES

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent.parent / "templates")
i18n.install(templates.env)  # _(), {% trans %}, t(code) in the request's language
templates.env.globals["P"] = Permission  # {% if user.can(P.CASES_ACT) %}


@pass_context
def _local(context: Any, value: datetime | None, tz: str | None = None) -> str:
    """An instant in the signed-in user's time zone (their profile's, else Asia/Shanghai)."""
    user = context.get("user")
    zone = tz or (user.timezone if user else None) or "Asia/Shanghai"
    return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S") if value else "—"


templates.env.filters["local"] = _local
# SEC-1: phones and emails are masked wherever a page shows them; CONTACTS_REVEAL shows them on request.
templates.env.filters["contact"] = mask_text


def use_locale(request: Request) -> str:
    """Sets (and answers) the request's language: the switch's cookie, else the signed-in user's preference.
    ``_render`` calls it; a handler that words something in Python before rendering calls it first."""
    user: CurrentUser | None = getattr(request.state, "user", None)
    locale = i18n.pick_locale(request.cookies.get(i18n.LANG_COOKIE), user.locale if user else None)
    i18n.locale_var.set(locale)
    return locale


def _render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Every page gets ``user`` (the signed-in staff member, or None) and ``csrf_token`` (for its forms)."""
    user: CurrentUser | None = getattr(request.state, "user", None)
    context.setdefault("user", user)
    context.setdefault("csrf_token", (user.csrf_token if user else None) or "")
    use_locale(request)
    return templates.TemplateResponse(request, name, context, status_code=status)


async def error_page(request: Request, exc: CareflowError) -> HTMLResponse:
    use_locale(request)
    return _render(request, "error.html", status=exc.status, message=i18n.gettext(exc.message))


def _intake_widgets(process: Process) -> dict[str, Any]:
    return {
        "customer_widgets": widgets(NewCustomer, skip=("contacts",)),
        "intake_widgets": widgets(PROCESSES[process].intake_model),
    }


# What each process is for, on the "new case" page (seed 003 §1.1–1.5).
PURPOSES: dict[Process, str] = {
    Process.PRESALES: N_("潜在客户咨询产品或服务：5 分钟内响应，24 小时内完成需求分析"),
    Process.ORDER_FOLLOWUP: N_("已下单客户：2 小时内确认订单，节点提前 24 小时通知，异常 1 小时响应"),
    Process.AFTERSALES: N_("使用中遇到问题：紧急 30 分钟、普通 2 小时响应，解决后 48 小时内回访"),
    Process.COMPLAINT: N_("对服务或产品不满：5 分钟内联系，按一般/严重/重大分级调查与处理"),
    Process.VALUE_PUSH: N_("按客户标签与等级推送增值服务，3 天内跟踪打开、点击、咨询与转化"),
    Process.CARE: N_(
        "客户经理的关怀任务：首次交易回访、续约跟进、节点关怀、流失挽留，按时限策略到期提醒与升级"
    ),
}


def new_case_link(process: Process) -> str:
    # A campaign names no customer: it has its own form (audience by tag and tier).
    return "/pushes/new" if process is Process.VALUE_PUSH else f"/cases/new/{process.value}"


@router.get("/cases/new", response_class=HTMLResponse)
async def new_case_index(request: Request, customer_id: int | None = None) -> HTMLResponse:
    # From a customer's page (C-6): the chosen form starts with that customer filled in.
    on_file = f"?customer_id={customer_id}" if customer_id else ""
    use_locale(request)
    choices = [
        (p, new_case_link(p) + ("" if p is Process.VALUE_PUSH else on_file), i18n.gettext(PURPOSES[p]))
        for p in PROCESSES
    ]
    return _render(request, "new_case_index.html", choices=choices)


@router.get("/cases/new/{process}", response_class=HTMLResponse)
async def new_case_form(request: Request, process: Process, customer_id: int | None = None) -> Response:
    if process is Process.VALUE_PUSH:
        return RedirectResponse(new_case_link(process), status_code=303)
    use_locale(request)  # the widgets' labels
    form = {"customer_id": str(customer_id)} if customer_id else {}
    return _render(
        request, "new_case.html", process=process, form=form, errors={}, **_intake_widgets(process)
    )


@router.post("/cases/new/{process}", response_class=HTMLResponse)
async def new_case(
    request: Request,
    process: Process,
    db: SessionDep,
    client: ClientDep,
    settings: SettingsDep,
    user: Annotated[CurrentUser, Depends(require(Permission.CASES_CREATE))],
) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    use_locale(request)  # the widgets' labels and the error messages
    definition = PROCESSES[process]
    body: dict[str, Any] = parse(definition.intake_model, form)
    on_file = form.get("customer_id", "").strip()
    if on_file:
        body["customer_id"] = on_file  # a customer on file; the new-customer fields are ignored
    else:
        body["customer"] = parse(NewCustomer, form, prefix="customer.")
    errors: dict[str, str] = {}
    try:
        request_body = start_request_model(process, definition.intake_model).model_validate(body)
    except ValidationError as err:
        errors.update(errors_by_field(err))
    if errors:
        return _render(
            request,
            "new_case.html",
            422,
            process=process,
            form=form,
            errors=errors,
            **_intake_widgets(process),
        )
    started = await services.start_case(
        db=db,
        client=client,
        settings=settings,
        process=process,
        body=request_body,
        idempotency_key=form.get("idempotency_key") or None,
        actor=user.display_name,
    )
    return RedirectResponse(f"/cases/{started.number}", status_code=303)


async def _case_page(
    request: Request,
    *,
    db: SessionDep,
    client: ClientDep,
    settings: SettingsDep,
    number: str,
    status: int = 200,
    failed_action: str | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    detail = await services.get_case(db=db, client=client, settings=settings, number=number)
    definition = services.process_of(number)
    locale = use_locale(request)  # the widgets' labels and the record card's headers
    open_names = detail.live.actions if detail.live else []
    actions = [
        {"name": spec.name, "widgets": widgets(spec.model), "housekeeping": spec.housekeeping}
        for spec in definition.actions
        if spec.name in open_names
    ]
    record_card = (
        records.card(definition.process, detail.record, locale=locale, tz=settings.timezone)
        if detail.record
        else []
    )
    # AS-2 / KB-1: the library entries the agent was offered at intake (a kb_suggested event).
    offered = next((e.payload for e in reversed(detail.timeline) if e.kind == "kb_suggested"), {})
    return _render(
        request,
        "case.html",
        status,
        detail=detail,
        actions=actions,
        suggestions=offered.get("suggestions", []),
        record_title=records.TITLES[definition.process][0 if locale == i18n.DEFAULT_LOCALE else 1],
        record_card=record_card,
        failed_action=failed_action,
        errors=errors or {},
        form=form or {},
    )


@router.get("/cases/{number}", response_class=HTMLResponse)
async def case_page(
    request: Request, number: str, db: SessionDep, client: ClientDep, settings: SettingsDep
) -> HTMLResponse:
    return await _case_page(request, db=db, client=client, settings=settings, number=number)


@router.post("/cases/{number}/actions/{action}", response_class=HTMLResponse)
async def case_action(
    request: Request,
    number: str,
    action: str,
    db: SessionDep,
    client: ClientDep,
    settings: SettingsDep,
    user: Annotated[CurrentUser, Depends(require(Permission.CASES_ACT))],
) -> Response:
    definition = services.process_of(number)
    spec = definition.action(action)
    form = {k: str(v) for k, v in (await request.form()).items()}
    use_locale(request)  # the error messages
    payload = {**(parse(spec.model, form) if spec else {}), "actor": user.display_name}
    try:
        await services.perform_action(client=client, number=number, action=action, payload=payload, user=user)
    except Invalid as err:
        return await _case_page(
            request,
            db=db,
            client=client,
            settings=settings,
            number=number,
            status=422,
            failed_action=action,
            errors={err.field: i18n.gettext(err.message)},
            form=form,
        )
    except CareflowError as err:
        return await _case_page(
            request,
            db=db,
            client=client,
            settings=settings,
            number=number,
            status=err.status,
            failed_action=action,
            errors={"__all__": i18n.gettext(err.message)},
            form=form,
        )
    return RedirectResponse(f"/cases/{number}", status_code=303)
