"""Records export (SPEC §7) and the complaint report (CP-4): the queries, and the CSV and XLSX writers."""

from __future__ import annotations

import asyncio
import csv
import io
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from pydantic import BaseModel, Field
from sqlalchemy import Boolean, DateTime, Integer, Numeric, Select, Table, and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import Invalid, NotFound
from api.privacy import mask_text
from db.complaints import ComplaintRecord
from db.engine import sessionmaker_for
from db.models import Case, CaseStep, Customer
from db.records import RECORDS
from db.surveys import Survey
from domain.models import CaseState, Step
from domain.records import (
    COMPLAINT_SATISFACTION_TARGET,
    MAJOR_CALLBACK_TARGET,
    SATISFIED_SCORE,
    Attainment,
    Column,
    Kind,
    Source,
    columns,
    display,
    native,
    period,
)

CHUNK = 500  # rows fetched per round trip of the server-side cursor
# An XLSX file is assembled whole before it is sent (a zip cannot be streamed): past this many rows the
# export asks for CSV, which streams without a limit.
XLSX_MAX_ROWS = 100_000


class InvalidQuery(Invalid):
    """A bad query parameter, in FastAPI's error shape."""

    def body(self) -> dict[str, Any]:
        return {"detail": [{"loc": ["query", self.field], "msg": self.message, "type": "value_error"}]}


@dataclass(frozen=True)
class RecordFilters:
    start: date | None = None  # opened on or after this local day
    end: date | None = None  # opened on or before this local day
    state: CaseState | None = None
    owner: str | None = None  # the case's current owner or the record's 责任人

    def check(self) -> None:
        if self.start and self.end and self.start > self.end:
            raise InvalidQuery("to", "the period ends before it starts")


# -- records export ---------------------------------------------------------------------------------------


def _kind(column: Any) -> Kind:
    if isinstance(column.type, DateTime):
        return Kind.TIME
    if isinstance(column.type, Boolean):
        return Kind.FLAG
    if isinstance(column.type, Integer | Numeric):
        return Kind.NUMBER
    return Kind.TEXT


def _table(process: str) -> Table:
    if process not in RECORDS:
        raise NotFound(f"unknown process {process!r}", processes=sorted(RECORDS))
    return RECORDS[process].__table__  # type: ignore[return-value]


def export_columns(process: str) -> tuple[Column, ...]:
    """The process's export columns (domain.records.columns) over its record table as it is now."""
    table = _table(process)
    return columns(process, [(c.name, _kind(c)) for c in table.columns])


def _select(process: str, cols: Sequence[Column], filters: RecordFilters, tz: str) -> Select[Any]:
    table = _table(process)
    source = {Source.CASE: Case.__table__.c, Source.CUSTOMER: Customer.__table__.c, Source.RECORD: table.c}
    query = (
        select(*(source[c.source][c.key] for c in cols))
        .select_from(table)
        .join(Case, Case.number == table.c.case_number)
        .outerjoin(Customer, Customer.id == Case.customer_id)
        .where(Case.process == process)
    )
    lower, upper = period(filters.start, filters.end, tz)
    if lower:
        query = query.where(Case.opened_at >= lower)
    if upper:
        query = query.where(Case.opened_at < upper)
    if filters.state:
        query = query.where(Case.state == filters.state.value)
    if filters.owner:
        query = query.where(or_(Case.owner == filters.owner, table.c.owner == filters.owner))
    return query.order_by(Case.opened_at, Case.number)


async def count_records(db: AsyncSession, process: str, filters: RecordFilters, tz: str) -> int:
    query = _select(process, export_columns(process)[:1], filters, tz).order_by(None)
    return await db.scalar(select(func.count()).select_from(query.subquery())) or 0


@dataclass(frozen=True)
class RecordPage:
    columns: tuple[Column, ...]
    rows: list[list[str]]  # display text, one list per record, in column order
    total: int


async def preview(
    db: AsyncSession,
    process: str,
    filters: RecordFilters,
    *,
    tz: str,
    page: int,
    page_size: int,
    locale: str = "zh-CN",
) -> RecordPage:
    cols = export_columns(process)
    total = await count_records(db, process, filters, tz)
    query = _select(process, cols, filters, tz).limit(page_size).offset((page - 1) * page_size)
    rows = [
        [display(c, v, locale=locale, tz=tz) for c, v in zip(cols, row, strict=True)]
        for row in await db.execute(query)
    ]
    return RecordPage(cols, rows, total)


async def _chunks(url: str, query: Select[Any], *, mask: bool = True) -> AsyncIterator[Sequence[Any]]:
    """The rows in chunks from a server-side cursor: memory stays flat however many rows match.
    With ``mask``, phones and emails in texts are masked (SEC-1)."""
    async with sessionmaker_for(url)() as db:
        result = await db.stream(query.execution_options(yield_per=CHUNK))
        async for rows in result.partitions():
            yield [tuple(mask_text(v) for v in row) for row in rows] if mask else rows


# Excel runs a cell that starts like a formula; customer text (a complaint's content) must stay text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_text(column: Column, value: Any, *, locale: str, tz: str) -> str:
    text = display(column, value, locale=locale, tz=tz)
    return "'" + text if column.kind is Kind.TEXT and text.startswith(FORMULA_START) else text


async def csv_stream(
    url: str, process: str, filters: RecordFilters, *, locale: str, tz: str, mask: bool = True
) -> AsyncIterator[bytes]:
    """UTF-8 with a byte-order mark, which is how Excel knows the Chinese is UTF-8."""
    cols = export_columns(process)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([c.header(locale) for c in cols])
    yield ("\ufeff" + buffer.getvalue()).encode()
    async for rows in _chunks(url, _select(process, cols, filters, tz), mask=mask):
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(
            [_csv_text(c, v, locale=locale, tz=tz) for c, v in zip(cols, row, strict=True)] for row in rows
        )
        yield buffer.getvalue().encode()


WIDTHS = {Kind.TEXT: 24, Kind.CODE: 14, Kind.TIME: 20, Kind.NUMBER: 12, Kind.RATE: 10, Kind.FLAG: 10}
FORMATS = {Kind.TIME: "yyyy-mm-dd hh:mm:ss", Kind.RATE: "0.0%"}


def _width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)  # a CJK character takes two columns


def _cell(sheet: WriteOnlyWorksheet, column: Column, value: Any) -> Any:
    if isinstance(value, str):
        cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
        cell.data_type = "s"  # never a formula
        return cell
    number_format = FORMATS.get(column.kind) or ("#,##0.00" if isinstance(value, Decimal) else None)
    if value is not None and number_format:
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = number_format
        return cell
    return value


def _append(
    sheet: WriteOnlyWorksheet, cols: Sequence[Column], rows: Sequence[Any], locale: str, tz: str
) -> None:
    for row in rows:
        sheet.append(
            [_cell(sheet, c, native(c, v, locale=locale, tz=tz)) for c, v in zip(cols, row, strict=True)]
        )


async def xlsx_file(
    url: str, process: str, filters: RecordFilters, *, locale: str, tz: str, title: str, mask: bool = True
) -> IO[bytes]:
    """The workbook in a temporary file (in memory while small): a bold header row, widths by column
    kind, instants as Excel datetimes in local time. openpyxl's CPU work runs off the event loop."""
    async with sessionmaker_for(url)() as db:
        total = await count_records(db, process, filters, tz)
    if total > XLSX_MAX_ROWS:
        raise InvalidQuery(
            "format", f"{total} rows: XLSX holds at most {XLSX_MAX_ROWS}; narrow the filters or use CSV"
        )
    cols = export_columns(process)
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    for i, c in enumerate(cols, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = max(
            WIDTHS[c.kind], _width(c.header(locale)) + 2
        )
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for c in cols:
        cell = WriteOnlyCell(sheet, value=c.header(locale))
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    async for rows in _chunks(url, _select(process, cols, filters, tz), mask=mask):
        await asyncio.to_thread(_append, sheet, cols, rows, locale, tz)
    out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 (the response closes it)
    await asyncio.to_thread(book.save, out)
    out.seek(0)
    return out


# -- complaint report (CP-4) ------------------------------------------------------------------------------


class Rate(BaseModel):
    numerator: int
    denominator: int
    rate: float | None = Field(description="numerator / denominator; null when there is nothing to measure")
    target: float
    met: bool | None = Field(description="rate ≥ target; null when there is nothing to measure")

    @classmethod
    def of(cls, a: Attainment) -> Rate:
        return cls(numerator=a.numerator, denominator=a.denominator, rate=a.rate, target=a.target, met=a.met)


class MajorCallbacks(Rate):
    on_time: int = Field(description="second callbacks done by their deadline")


class ProcessSatisfaction(BaseModel):
    process: str
    answered: int
    average: float
    satisfied: int = Field(description=f"answers scoring {SATISFIED_SCORE} or 5")


class ComplaintReport(BaseModel):
    start: date
    end: date
    timezone: str
    closed: int = Field(description="complaints closed in the period")
    closed_by_grade: dict[str, int]
    satisfaction: Rate = Field(description="complaint surveys answered in the period scoring 4 or 5")
    major_callback: MajorCallbacks = Field(
        description="closed major complaints whose second callback was done"
    )
    satisfaction_by_process: list[ProcessSatisfaction] = Field(
        description="csat surveys answered in the period"
    )


async def complaint_report(db: AsyncSession, *, start: date, end: date, tz: str) -> ComplaintReport:
    if start > end:
        raise InvalidQuery("to", "the period ends before it starts")
    lower, upper = period(start, end, tz)
    closed = (
        select(Case.number, func.coalesce(ComplaintRecord.grade, "ungraded").label("grade"))
        .outerjoin(ComplaintRecord, ComplaintRecord.case_number == Case.number)
        .where(
            Case.process == "complaint",
            Case.state == CaseState.CLOSED.value,
            Case.closed_at >= lower,
            Case.closed_at < upper,
        )
        .subquery()
    )
    by_grade = {"general": 0, "serious": 0, "major": 0}
    for grade, n in await db.execute(select(closed.c.grade, func.count()).group_by(closed.c.grade)):
        by_grade[grade] = n

    callback = and_(
        CaseStep.case_number == closed.c.number,
        CaseStep.step == Step.SECOND_CALLBACK.value,
        CaseStep.done_at.is_not(None),
    )
    on_time = and_(callback, or_(CaseStep.due_at.is_(None), CaseStep.done_at <= CaseStep.due_at))
    major, done, in_time = (
        await db.execute(
            select(
                func.count(),
                func.count().filter(exists().where(callback)),
                func.count().filter(exists().where(on_time)),
            ).where(closed.c.grade == "major")
        )
    ).one()

    answered = [
        Survey.kind == "csat",
        Survey.score.is_not(None),
        Survey.answered_at >= lower,
        Survey.answered_at < upper,
    ]
    satisfied = func.count().filter(Survey.score >= SATISFIED_SCORE)
    per_process = [
        ProcessSatisfaction(process=p, answered=n, average=round(float(avg), 2), satisfied=ok)
        for p, n, avg, ok in await db.execute(
            select(Survey.process, func.count(), func.avg(Survey.score), satisfied)
            .where(*answered, Survey.process.is_not(None))
            .group_by(Survey.process)
            .order_by(Survey.process)
        )
    ]
    complaint = next((p for p in per_process if p.process == "complaint"), None)
    return ComplaintReport(
        start=start,
        end=end,
        timezone=tz,
        closed=sum(by_grade.values()),
        closed_by_grade=by_grade,
        satisfaction=Rate.of(
            Attainment(
                complaint.satisfied if complaint else 0,
                complaint.answered if complaint else 0,
                COMPLAINT_SATISFACTION_TARGET,
            )
        ),
        major_callback=MajorCallbacks(
            **Rate.of(Attainment(done, major, MAJOR_CALLBACK_TARGET)).model_dump(), on_time=in_time
        ),
        satisfaction_by_process=per_process,
    )
