"""Business calendars as data (SLA-2): named calendars in Postgres, built for a case when it opens.

A calendar row holds the working hours per weekday and whether mainland China's public holidays and
make-up working days (调休) apply; those come from the ``chinesecalendar`` package, overlaid by the admins'
own days (``calendar_days``), because each year's schedule is announced late in the year before and the
package can lag. A year with neither package data nor an admin's confirmation is reported as missing.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.engine import transaction
from db.models import Calendar, CalendarDay
from domain.calendar import STANDARD_WEEK, TWENTY_FOUR_SEVEN, BusinessCalendar
from domain.holidays import china_public_days
from domain.sla import BUSINESS

SEED_CALENDARS = [
    {
        "name": BUSINESS,
        "title": "中国大陆工作日 09:00–12:00, 13:00–18:00（含法定节假日与调休）",
        "timezone": "Asia/Shanghai",
        "week": [[list(span) for span in day] for day in STANDARD_WEEK],
        "public_holidays": "CN",
    },
    {
        "name": "cn-service-desk",
        "title": "客服热线 每天 08:00–22:00（节假日照常）",
        "timezone": "Asia/Shanghai",
        "week": [[["08:00", "22:00"]] for _ in range(7)],
        "public_holidays": None,
    },
]


async def seed_calendars(database_url: str) -> int:
    """Adds the seeded calendars that are missing (an admin's edits are kept); returns how many."""
    async with transaction(database_url) as db:
        result = await db.execute(
            pg_insert(Calendar).values(SEED_CALENDARS).on_conflict_do_nothing().returning(Calendar.name)
        )
        return len(result.all())


async def calendar_names(db: AsyncSession) -> set[str]:
    return {TWENTY_FOUR_SEVEN.name, *(await db.execute(select(Calendar.name))).scalars()}


def years_around(at: datetime, tz: str = "Asia/Shanghai") -> list[int]:
    """The years a case opened at ``at`` may count time in: last year (for a late-December open) to next."""
    year = at.astimezone(ZoneInfo(tz)).year
    return [year - 1, year, year + 1]


async def build_calendar(db: AsyncSession, name: str, years: list[int]) -> BusinessCalendar:
    if name == TWENTY_FOUR_SEVEN.name:
        return TWENTY_FOUR_SEVEN
    row = await db.get(Calendar, name)
    if row is None:
        raise LookupError(f"no calendar named {name!r}")
    holidays: set[date] = set()
    workdays: set[date] = set()
    covered: set[int] = set()
    if row.public_holidays == "CN":
        public_off, public_on, covered_years = china_public_days(years)
        holidays, workdays, covered = set(public_off), set(public_on), set(covered_years)
    else:
        covered = set(years)  # a calendar that ignores public holidays needs no official schedule
    overrides = (
        await db.execute(select(CalendarDay).where(CalendarDay.calendar == name).order_by(CalendarDay.day))
    ).scalars()
    for day in overrides:
        if day.kind == "holiday":
            workdays.discard(day.day)
            holidays.add(day.day)
        else:
            holidays.discard(day.day)
            workdays.add(day.day)
    covered |= {int(y) for y in row.confirmed_years}
    return BusinessCalendar(
        name=row.name,
        title=row.title,
        timezone=row.timezone,
        week=[[tuple(span) for span in day] for day in row.week],
        makeup_hours=[tuple(span) for span in row.makeup_hours] if row.makeup_hours else None,
        holidays=sorted(holidays),
        workdays=sorted(workdays),
        years=sorted(covered),
    )


async def calendars_for(db: AsyncSession, names: set[str], at: datetime) -> dict[str, BusinessCalendar]:
    years = years_around(at)
    return {name: await build_calendar(db, name, years) for name in sorted(names)}
