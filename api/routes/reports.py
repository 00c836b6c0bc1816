"""REST: /api/v1 — export a process's record table (SPEC §7) and the complaint report (CP-4)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import IO, Annotated, Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from api.audit import audit
from api.auth import UserDep, require
from api.deps import SessionDep, SettingsDep
from api.privacy import contacts_in_clear
from api.reporting import (
    ComplaintReport,
    RecordFilters,
    complaint_report,
    csv_stream,
    export_columns,
    xlsx_file,
)
from domain.models import CaseState
from domain.permissions import Permission
from domain.records import TITLES

# REP-1: records and reports are for the roles that read figures (REPORTS; a token: reports:read).
router = APIRouter(
    prefix="/api/v1", tags=["records and reports"], dependencies=[Depends(require(Permission.REPORTS))]
)

MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
RECORD_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {m: {} for m in MEDIA.values()}, "description": "the file, as an attachment"},
    404: {"description": "unknown process"},
    422: {"description": "a bad filter, or too many rows for XLSX; `detail[].loc` names the parameter"},
}


def _attachment(process: str, title: str, extension: str) -> dict[str, str]:
    # RFC 6266: an ASCII name for old clients and the UTF-8 one, so the Chinese title survives.
    return {
        "Content-Disposition": f'attachment; filename="{process}.{extension}"; '
        f"filename*=UTF-8''{quote(f'{title}.{extension}')}"
    }


def _read(file: IO[bytes]) -> Iterator[bytes]:
    with file:
        while chunk := file.read(64 * 1024):
            yield chunk


@router.get(
    "/records/{process}",
    response_class=StreamingResponse,
    responses=RECORD_RESPONSES,
    summary="Export a process's record table as CSV or XLSX",
)
async def export_records(
    process: str,
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    user: UserDep,
    format: Literal["csv", "xlsx"] = "csv",
    lang: Annotated[Literal["zh-CN", "en"], Query(description="headers and coded values")] = "zh-CN",
    opened_from: Annotated[
        date | None, Query(alias="from", description="local day the case opened, from")
    ] = None,
    opened_to: Annotated[
        date | None, Query(alias="to", description="local day the case opened, to (included)")
    ] = None,
    state: CaseState | None = None,
    owner: Annotated[
        str | None, Query(max_length=100, description="the case's or the record's owner")
    ] = None,
) -> StreamingResponse:
    """Seed 003 chapter 3's columns in its order, then the case state and its opened/closed times in local
    time, then the record's other columns. CSV is UTF-8 with a BOM and streams however many rows match;
    XLSX holds at most 100,000 rows (`XLSX_MAX_ROWS`): past that, narrow the filters or take CSV.
    Phones and emails are masked (SEC-1) unless the API token has customers:read (the export is audited)."""
    export_columns(process)  # 404 before anything is sent
    filters = RecordFilters(opened_from, opened_to, state, owner)
    filters.check()
    title = TITLES[process][0 if lang == "zh-CN" else 1]
    tz, url = settings.timezone, settings.sqlalchemy_url()
    headers = _attachment(process, title, format)
    mask = not contacts_in_clear(user)
    if not mask:
        await audit(db, request, None, "contacts.export", f"records:{process}", {"format": format})
        await db.commit()
    if format == "xlsx":
        file = await xlsx_file(url, process, filters, locale=lang, tz=tz, title=title, mask=mask)
        return StreamingResponse(_read(file), media_type=MEDIA["xlsx"], headers=headers)
    stream = csv_stream(url, process, filters, locale=lang, tz=tz, mask=mask)
    return StreamingResponse(stream, media_type=MEDIA["csv"], headers=headers)


@router.get("/reports/complaints", responses={422: {"description": "`to` before `from`, or not a date"}})
async def complaints_report(
    db: SessionDep,
    settings: SettingsDep,
    start: Annotated[
        date | None, Query(alias="from", description="local day; default: the 1st of `to`'s month")
    ] = None,
    end: Annotated[date | None, Query(alias="to", description="local day, included; default: today")] = None,
) -> ComplaintReport:
    """CP-4: complaints closed in the period by grade; complaint satisfaction (surveys answered in the period
    scoring 4 or 5) against ≥ 90%; closed major complaints whose second callback was done against 100%, and
    how many of those were on time; and the average satisfaction of every process."""
    end = end or datetime.now(ZoneInfo(settings.timezone)).date()
    return await complaint_report(db, start=start or end.replace(day=1), end=end, tz=settings.timezone)
