"""The staff workspace (issue 6): my queue, the full case list, the supervisor dashboard, and the customer
panel of a case page. The queue and the dashboard refresh themselves through htmx partials."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api import services
from api.auth import UserDep
from api.deps import SessionDep, SettingsDep
from api.errors import NotFound
from api.web.pages import _render
from config import Settings
from db.models import Case, Customer

router = APIRouter(include_in_schema=False)

REFRESH = "every 30s"  # how often the queue and the dashboard ask for fresh rows


@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/queue", status_code=303)


def _names(user: UserDep) -> list[str]:
    # A case's owner is whatever name the assigning step recorded: the account's username or display name.
    return [user.username, user.display_name]


@router.get("/queue", response_class=HTMLResponse)
async def my_queue(request: Request, user: UserDep, db: SessionDep) -> HTMLResponse:
    items = await services.queue(db=db, names=_names(user), role=user.role)
    rung = services.ESCALATION_RUNG.get(user.role)
    return _render(request, "queue.html", items=items, rung=rung, refresh=REFRESH)


@router.get("/queue/rows", response_class=HTMLResponse)
async def my_queue_rows(request: Request, user: UserDep, db: SessionDep) -> HTMLResponse:
    items = await services.queue(db=db, names=_names(user), role=user.role)
    return _render(request, "_queue_rows.html", items=items, oob=True)


def cases_link(**filters: str | int | None) -> str:
    """The case list filtered to one set (only the filters given)."""
    given = {k: v for k, v in filters.items() if v is not None and v != ""}
    return "/cases?" + urlencode(given) if given else "/cases"


@router.get("/cases", response_class=HTMLResponse)
async def case_list(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    process: str = "",
    state: str = "",
    sla_state: str = "",
    current_step: str = "",
    escalation_level: str = "",
    page: int = 1,
) -> HTMLResponse:
    level = int(escalation_level) if escalation_level.isdigit() else None
    filters: dict[str, Any] = {
        "process": process or None,
        "state": state or None,
        "sla_state": sla_state or None,
        "current_step": current_step or None,
        "escalation_level": level,
    }
    result = await services.list_cases(db=db, filters=filters, page=max(page, 1), page_size=50)
    return _render(
        request,
        "cases.html",
        result=result,
        filters=filters,
        next_page=cases_link(**filters, page=result.page + 1),
        temporal_link=_ui(
            settings,
            process=process or None,
            steps=[current_step] if current_step else [],
            sla_state=sla_state or None,
            escalation_level=level,
        )
        if state in ("", "open")
        else None,
    )


def _ui(settings: Settings, **attrs: Any) -> str:
    return services.temporal_ui_link(settings, query=services.visibility_query(**attrs))


def _dashboard_links(board: services.Dashboard, settings: Settings) -> dict[str, Any]:
    """For every count: the case list of that set and the Temporal UI filtered to the same set."""
    by_process = {
        p.process: [s.step for s in board.steps if s.process == p.process and s.step] for p in board.processes
    }
    return {
        "sla": {
            state: (cases_link(state="open", sla_state=state), _ui(settings, sla_state=state))
            for state in ("breached", "warning")
        },
        "process": {
            process: (cases_link(state="open", process=process), _ui(settings, process=process, steps=steps))
            for process, steps in by_process.items()
        },
        "step": {
            (s.process, s.step): (
                cases_link(state="open", process=s.process, current_step=s.step),
                _ui(settings, process=s.process, steps=[s.step]),
            )
            for s in board.steps
            if s.step
        },
        "level": {
            level: (
                cases_link(state="open", sla_state="breached", escalation_level=level),
                _ui(settings, sla_state="breached", escalation_level=level),
            )
            for level in board.levels
        },
    }


async def _dashboard_context(db: SessionDep, settings: Settings) -> dict[str, Any]:
    board = await services.dashboard(db=db)
    return {"board": board, "links": _dashboard_links(board, settings)}


@router.get("/dashboard", response_class=HTMLResponse)
async def supervisor_dashboard(
    request: Request, user: UserDep, db: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    return _render(request, "dashboard.html", refresh=REFRESH, **await _dashboard_context(db, settings))


@router.get("/dashboard/panel", response_class=HTMLResponse)
async def supervisor_dashboard_panel(
    request: Request, user: UserDep, db: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    return _render(request, "_dashboard.html", **await _dashboard_context(db, settings))


@router.get("/cases/{number}/customer", response_class=HTMLResponse)
async def case_customer(request: Request, number: str, user: UserDep, db: SessionDep) -> HTMLResponse:
    """The case page's customer panel (loaded by htmx): profile at a glance, contact masked (SEC-1)."""
    case = await db.get(Case, number)
    if case is None:
        raise NotFound(f"no case {number}")
    customer = await db.get(Customer, case.customer_id) if case.customer_id is not None else None
    return _render(request, "_case_customer.html", case=case, customer=customer)
