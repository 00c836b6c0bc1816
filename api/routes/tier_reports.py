"""REST: /api/v1/reports/tiers — the monthly tiered-service report and the quarterly review (T-6, REP-1),
as JSON or as a CSV / XLSX file."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from api.auth import require
from api.deps import SessionDep, SettingsDep
from api.routes.reports import MEDIA, _attachment
from api.tier_reporting import csv_bytes, monthly_report, quarterly_report, xlsx_bytes
from domain.permissions import Permission
from domain.tier_report import (
    MonthlyTierReport,
    QuarterlyTierReport,
    Sheet,
    month_of,
    monthly_sheet,
    quarter_of,
    quarterly_sheet,
)

# REP-1: reports are for the roles that read figures (a token: reports:read).
router = APIRouter(
    prefix="/api/v1", tags=["records and reports"], dependencies=[Depends(require(Permission.REPORTS))]
)

Format = Literal["json", "csv", "xlsx"]
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {m: {} for m in MEDIA.values()}, "description": "JSON, or the file as an attachment"},
    422: {"description": "a malformed period; `detail[].loc` names the parameter"},
}


def _file(sheet: Sheet, name: str, format: Format) -> Response:
    body = csv_bytes(sheet) if format == "csv" else xlsx_bytes(sheet)
    return Response(body, media_type=MEDIA[format], headers=_attachment(name, sheet.title, format))


@router.get("/reports/tiers", responses=RESPONSES, response_model=MonthlyTierReport)
async def tier_report(
    db: SessionDep,
    settings: SettingsDep,
    month: Annotated[str | None, Query(description="YYYY-MM, local; default: this month")] = None,
    format: Format = "json",
) -> Any:
    """T-6 《客户服务分级执行报告》 per tier the cases opened with: on-time first response, satisfaction
    (CSAT answers of the month), resolution (cases of the month closed by their process)."""
    month = month or month_of(datetime.now(ZoneInfo(settings.timezone)).date())
    report = await monthly_report(db, month, tz=settings.timezone)
    return report if format == "json" else _file(monthly_sheet(report), f"tiers-{month}", format)


@router.get("/reports/tiers/quarterly", responses=RESPONSES, response_model=QuarterlyTierReport)
async def tier_review(
    db: SessionDep,
    settings: SettingsDep,
    quarter: Annotated[str | None, Query(description="YYYYQn, e.g. 2026Q4; default: this quarter")] = None,
    format: Format = "json",
) -> Any:
    """T-6 quarterly review per tier: retention, repurchase, order-value growth, referral, first-contact
    resolution, CSAT and NPS. Cost per customer and ROI are listed in `not_measured`: no cost data."""
    quarter = quarter or quarter_of(datetime.now(ZoneInfo(settings.timezone)).date())
    report = await quarterly_report(db, quarter, tz=settings.timezone)
    return report if format == "json" else _file(quarterly_sheet(report), f"tiers-{quarter}", format)
