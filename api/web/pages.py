"""Staff web pages (Jinja2, zh-CN): the case list, the new-inquiry form and the case page."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from api import services
from api.deps import ClientDep, SessionDep, SettingsDep
from api.errors import CareflowError, Invalid
from api.schemas import start_request_model
from api.web.forms import errors_by_field, parse, widgets
from domain import records
from domain.i18n import label
from domain.models import NewCustomer, Process
from workflows.registry import PROCESSES

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent.parent / "templates")
templates.env.globals["t"] = label
ACTOR_COOKIE = "careflow_actor"


def _local(value: datetime | None, tz: str = "Asia/Shanghai") -> str:
    return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S") if value else "—"


templates.env.filters["local"] = _local


def _remember_actor(response: Response, actor: str) -> None:
    # Cookie values are latin-1 on the wire; staff names are Chinese.
    response.set_cookie(ACTOR_COOKIE, quote(actor.strip()), httponly=True, samesite="lax")


def _render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("actor", unquote(request.cookies.get(ACTOR_COOKIE, "")))
    return templates.TemplateResponse(request, name, context, status_code=status)


async def error_page(request: Request, exc: CareflowError) -> HTMLResponse:
    return _render(request, "error.html", status=exc.status, message=exc.message)


@router.get("/", response_class=HTMLResponse)
async def case_list(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    process: str = "",
    state: str = "",
    sla_state: str = "",
    page: int = 1,
) -> HTMLResponse:
    filters = {"process": process or None, "state": state or None, "sla_state": sla_state or None}
    result = await services.list_cases(db=db, filters=filters, page=max(page, 1), page_size=50)
    return _render(
        request,
        "cases.html",
        result=result,
        filters=filters,
        breached_link=services.temporal_ui_link(
            settings, query="SlaState='breached' AND ExecutionStatus='Running'"
        ),
    )


def _intake_widgets(process: Process) -> dict[str, Any]:
    return {
        "customer_widgets": widgets(NewCustomer, skip=("contacts",)),
        "intake_widgets": widgets(PROCESSES[process].intake_model),
    }


# What each process is for, on the "new case" page (seed 003 §1.1–1.5).
PURPOSES: dict[Process, str] = {
    Process.PRESALES: "潜在客户咨询产品或服务：5 分钟内响应，24 小时内完成需求分析",
    Process.ORDER_FOLLOWUP: "已下单客户：2 小时内确认订单，节点提前 24 小时通知，异常 1 小时响应",
    Process.AFTERSALES: "使用中遇到问题：紧急 30 分钟、普通 2 小时响应，解决后 48 小时内回访",
    Process.COMPLAINT: "对服务或产品不满：5 分钟内联系，按一般/严重/重大分级调查与处理",
    Process.VALUE_PUSH: "按客户标签与等级推送增值服务，3 天内跟踪打开、点击、咨询与转化",
}


def new_case_link(process: Process) -> str:
    # A campaign names no customer: it has its own form (audience by tag and tier).
    return "/pushes/new" if process is Process.VALUE_PUSH else f"/cases/new/{process.value}"


@router.get("/cases/new", response_class=HTMLResponse)
async def new_case_index(request: Request) -> HTMLResponse:
    choices = [(p, new_case_link(p), PURPOSES[p]) for p in PROCESSES]
    return _render(request, "new_case_index.html", choices=choices)


@router.get("/cases/new/{process}", response_class=HTMLResponse)
async def new_case_form(request: Request, process: Process) -> Response:
    if process is Process.VALUE_PUSH:
        return RedirectResponse(new_case_link(process), status_code=303)
    return _render(request, "new_case.html", process=process, form={}, errors={}, **_intake_widgets(process))


@router.post("/cases/new/{process}", response_class=HTMLResponse)
async def new_case(
    request: Request, process: Process, db: SessionDep, client: ClientDep, settings: SettingsDep
) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    actor = form.get("actor", "").strip()
    definition = PROCESSES[process]
    body: dict[str, Any] = parse(definition.intake_model, form)
    on_file = form.get("customer_id", "").strip()
    if on_file:
        body["customer_id"] = on_file  # a customer on file; the new-customer fields are ignored
    else:
        body["customer"] = parse(NewCustomer, form, prefix="customer.")
    errors: dict[str, str] = {} if actor else {"actor": "请填写操作人"}
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
        actor=actor,
    )
    response = RedirectResponse(f"/cases/{started.number}", status_code=303)
    _remember_actor(response, actor)
    return response


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
    open_names = detail.live.actions if detail.live else []
    actions = [
        {"name": spec.name, "widgets": widgets(spec.model), "housekeeping": spec.housekeeping}
        for spec in definition.actions
        if spec.name in open_names
    ]
    record_card = (
        records.card(definition.process, detail.record, locale="zh-CN", tz=settings.timezone)
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
        record_title=records.TITLES[definition.process][0],
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
    request: Request, number: str, action: str, db: SessionDep, client: ClientDep, settings: SettingsDep
) -> Response:
    definition = services.process_of(number)
    spec = definition.action(action)
    form = {k: str(v) for k, v in (await request.form()).items()}
    payload = parse(spec.model, form) if spec else {}
    try:
        await services.perform_action(client=client, number=number, action=action, payload=payload)
    except Invalid as err:
        return await _case_page(
            request,
            db=db,
            client=client,
            settings=settings,
            number=number,
            status=422,
            failed_action=action,
            errors={err.field: err.message},
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
            errors={"__all__": err.message},
            form=form,
        )
    response = RedirectResponse(f"/cases/{number}", status_code=303)
    if form.get("actor"):
        _remember_actor(response, form["actor"])
    return response
