"""Staff web pages (zh-CN and English): the record tables with their CSV/XLSX download (SPEC §7) and the complaint
report (CP-4)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from api.auth import require
from api.deps import SessionDep, SettingsDep
from api.i18n import DEFAULT_LOCALE, gettext
from api.reporting import RecordFilters, complaint_report, preview
from api.web.pages import _render, use_locale
from db.records import RECORDS
from domain.models import CaseState
from domain.permissions import Permission
from domain.records import TITLES

# REP-1: the record tables and reports are for the roles that read figures.
router = APIRouter(include_in_schema=False, dependencies=[Depends(require(Permission.REPORTS))])
PAGE_SIZE = 50


def _day(value: str, field: str, errors: dict[str, str]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors[field] = gettext("请输入日期，格式 YYYY-MM-DD")
        return None


@router.get("/records", response_class=HTMLResponse)
async def records_page(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    process: str = "presales",
    start: Annotated[str, Query(alias="from")] = "",
    end: Annotated[str, Query(alias="to")] = "",
    state: str = "",
    owner: str = "",
    page: int = 1,
) -> HTMLResponse:
    locale = use_locale(request)  # the error messages and the table's headers
    form = {"process": process, "from": start, "to": end, "state": state, "owner": owner.strip()}
    errors: dict[str, str] = {}
    if process not in RECORDS:
        errors["process"] = gettext("未知流程")
    if state and state not in {s.value for s in CaseState}:
        errors["state"] = gettext("未知状态")
    filters = RecordFilters(
        _day(start, "from", errors),
        _day(end, "to", errors),
        CaseState(state) if state and "state" not in errors else None,
        form["owner"] or None,
    )
    if filters.start and filters.end and filters.start > filters.end:
        errors["to"] = gettext("结束日期早于开始日期")
    result = None
    if not errors:
        result = await preview(
            db,
            process,
            filters,
            tz=settings.timezone,
            page=max(page, 1),
            page_size=PAGE_SIZE,
            locale=locale,
        )
    query = {"from": start, "to": end, "state": state, "owner": form["owner"]}
    # The download speaks the page's language (headers and coded values).
    lang = "" if locale == DEFAULT_LOCALE else locale
    download = urlencode({k: v for k, v in {**query, "lang": lang}.items() if v})
    paging = urlencode({k: v for k, v in {"process": process, **query}.items() if v})
    return _render(
        request,
        "records_list.html",
        422 if errors else 200,
        processes=[(p, TITLES[p][0 if locale == DEFAULT_LOCALE else 1]) for p in RECORDS],
        states=list(CaseState),
        form=form,
        errors=errors,
        result=result,
        page=max(page, 1),
        page_size=PAGE_SIZE,
        download=download,
        paging=paging,
        timezone=settings.timezone,
    )


@router.get("/reports/complaints", response_class=HTMLResponse)
async def complaint_report_page(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    start: Annotated[str, Query(alias="from")] = "",
    end: Annotated[str, Query(alias="to")] = "",
) -> HTMLResponse:
    use_locale(request)  # the error messages
    errors: dict[str, str] = {}
    last = _day(end, "to", errors) or datetime.now(ZoneInfo(settings.timezone)).date()
    first = _day(start, "from", errors) or last.replace(day=1)
    if first > last:
        errors["to"] = gettext("结束日期早于开始日期")
    report = None if errors else await complaint_report(db, start=first, end=last, tz=settings.timezone)
    return _render(
        request,
        "report_complaints.html",
        422 if errors else 200,
        form={"from": start or first.isoformat(), "to": end or last.isoformat()},
        errors=errors,
        report=report,
    )
