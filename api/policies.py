"""SLA policies and business calendars for admins: read, edit, publish (SLA-1, SLA-2).

Shared by the REST routes (api/routes/sla.py) and the admin pages (api/web/admin.py). Every write validates
first and changes nothing when refused.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from activities.calendars import build_calendar, calendar_names, years_around
from activities.policy import PolicyRejected, current_version, load_policy, parse_rules, publish, rule_of
from api.errors import Conflict, Invalid, InvalidMany, NotFound
from db.models import Calendar, CalendarDay, SlaPolicyVersion, SlaRule
from domain.calendar import TWENTY_FOUR_SEVEN, BusinessCalendar
from domain.sla import ANY, PolicyRule, PolicySet, merge, resolve, with_metric

KEY_FIELDS = ("kind", "process", "step", "metric", "severity", "tier", "channel", "variant")


def _rejected(err: PolicyRejected, where: str) -> InvalidMany:
    return InvalidMany([([where], problem) for problem in err.problems])


# -- policies ----------------------------------------------------------------------------------------------------


async def versions(db: AsyncSession) -> list[SlaPolicyVersion]:
    return list(
        (await db.execute(select(SlaPolicyVersion).order_by(SlaPolicyVersion.version.desc()))).scalars()
    )


async def version(db: AsyncSession, number: int | None = None) -> tuple[SlaPolicyVersion, list[SlaRule]]:
    """A version (the one in force when ``number`` is None) and its rule rows."""
    number = number if number is not None else await current_version(db)
    row = await db.get(SlaPolicyVersion, number) if number is not None else None
    if row is None:
        raise NotFound(f"no SLA policy version {number}")
    rules = (
        await db.execute(select(SlaRule).where(SlaRule.version == number).order_by(SlaRule.id))
    ).scalars()
    return row, list(rules)


async def _in_force(db: AsyncSession, based_on: int | None) -> PolicySet:
    latest = await current_version(db)
    if latest is None:
        raise NotFound("no SLA policy is published yet")
    if based_on is not None and based_on != latest:
        raise Conflict(
            f"version {based_on} is no longer in force (version {latest} is); reload and edit that one"
        )
    return await load_policy(db, latest)


async def publish_changes(
    db: AsyncSession,
    *,
    note: str,
    actor: str,
    changes: list[dict[str, Any]],
    remove: list[dict[str, Any]] | None = None,
    based_on: int | None = None,
) -> SlaPolicyVersion:
    """The next version: the one in force with ``changes`` (replace by key, or add) and ``remove`` applied."""
    if not note.strip():
        raise Invalid("note", "say why the policy changes (the note is kept with the version)")
    base = await _in_force(db, based_on)
    try:
        new = parse_rules([with_metric(c, base.rules) for c in changes])
    except PolicyRejected as err:
        raise InvalidMany([(["changes"], p.replace("rules[", "changes[", 1)) for p in err.problems]) from None
    rules = merge(base.rules, new)
    gone = {tuple(str(r.get(f, ANY)) for f in KEY_FIELDS) for r in remove or []}
    missing = gone - {tuple(str(v) for v in r.key) for r in rules}
    if missing:
        raise Invalid("remove", f"no such rule to remove: {min(missing)}")
    rules = [r for r in rules if tuple(str(v) for v in r.key) not in gone]
    try:
        published = await publish(db, rules, note=note.strip(), actor=actor)
    except PolicyRejected as err:
        raise _rejected(err, "rules") from None
    await db.commit()
    return published


async def edit_rule(
    db: AsyncSession, rule_id: int, fields: dict[str, Any], *, note: str, actor: str
) -> SlaPolicyVersion:
    """Publishes the next version with one rule of the version in force changed."""
    row = await db.get(SlaRule, rule_id)
    latest = await current_version(db)
    if row is None:
        raise NotFound(f"no SLA rule {rule_id}")
    if row.version != latest:
        raise Conflict(f"rule {rule_id} belongs to version {row.version}; version {latest} is in force")
    data = rule_of(row).model_dump(mode="json")
    data.update(fields)
    try:
        changed = PolicyRule.model_validate(data)
    except ValidationError as err:
        raise InvalidMany(
            [
                ([str(e["loc"][0]) if e["loc"] else "rule"], e["msg"].removeprefix("Value error, "))
                for e in err.errors()
            ]
        ) from None
    if changed.key != rule_of(row).key:
        raise Invalid(
            "rule", "the key fields (process, step, metric, severity, tier, channel, variant) cannot change"
        )
    return await publish_changes(
        db, note=note, actor=actor, changes=[changed.model_dump(mode="json")], based_on=latest
    )


async def resolve_for(db: AsyncSession, **key: str) -> PolicyRule:
    latest = await _in_force(db, None)
    try:
        return resolve(latest.rules, **key)  # type: ignore[arg-type]
    except LookupError as err:
        raise NotFound(str(err)) from None


# -- calendars ---------------------------------------------------------------------------------------------------


async def calendar_rows(db: AsyncSession) -> list[Calendar]:
    return list((await db.execute(select(Calendar).order_by(Calendar.name))).scalars())


async def calendar_row(db: AsyncSession, name: str) -> Calendar:
    row = await db.get(Calendar, name)
    if row is None:
        raise NotFound(
            f"no calendar named {name!r}"
            + (" (24x7 is built in and has no settings)" if name == TWENTY_FOUR_SEVEN.name else "")
        )
    return row


async def calendar(db: AsyncSession, name: str, around: datetime) -> BusinessCalendar:
    await calendar_row(db, name)
    return await build_calendar(db, name, years_around(around))


async def missing_years(db: AsyncSession, name: str, now: datetime) -> list[int]:
    """Years from last to next for which the calendar has neither the package's nor an admin's schedule."""
    built = await calendar(db, name, now)
    return [y for y in years_around(now, built.timezone) if y not in built.years]


async def overrides(db: AsyncSession, name: str) -> list[CalendarDay]:
    query = select(CalendarDay).where(CalendarDay.calendar == name).order_by(CalendarDay.day)
    return list((await db.execute(query)).scalars())


def _check(values: dict[str, Any]) -> BusinessCalendar:
    try:
        return BusinessCalendar.model_validate(values)
    except ValidationError as err:
        raise InvalidMany(
            [
                ([str(e["loc"][0]) if e["loc"] else "calendar"], e["msg"].removeprefix("Value error, "))
                for e in err.errors()
            ]
        ) from None


async def save_calendar(
    db: AsyncSession, name: str, values: dict[str, Any], *, actor: str, create: bool
) -> Calendar:
    """Creates or updates a calendar's hours, zone and holiday source after validating them."""
    if name == TWENTY_FOUR_SEVEN.name:
        raise Conflict("24x7 is built in and cannot be changed")
    existing = await db.get(Calendar, name)
    if create and existing is not None:
        raise Conflict(f"a calendar named {name!r} exists")
    if not create and existing is None:
        raise NotFound(f"no calendar named {name!r}")
    fields = {k: values[k] for k in ("title", "timezone", "week", "makeup_hours") if k in values}
    _check(
        {
            "name": name,
            **(
                {}
                if existing is None
                else {
                    "title": existing.title,
                    "timezone": existing.timezone,
                    "week": existing.week,
                    "makeup_hours": existing.makeup_hours,
                }
            ),
            **fields,
        }
    )
    if "public_holidays" in values and values["public_holidays"] not in (None, "CN"):
        raise Invalid("public_holidays", "public_holidays is 'CN' (mainland China) or empty")
    if existing is None:
        existing = Calendar(name=name, confirmed_years=[], **fields)
        db.add(existing)
    for key, value in fields.items():
        setattr(existing, key, value)
    if "public_holidays" in values:
        existing.public_holidays = values["public_holidays"]
    existing.updated_by = actor
    await db.commit()
    return existing


async def add_day(db: AsyncSession, name: str, day: date, kind: str, note: str, *, actor: str) -> None:
    """An override: an extra day off or a make-up working day (调休); replaces an earlier one for that day."""
    await calendar_row(db, name)
    if kind not in ("holiday", "workday"):
        raise Invalid("kind", "kind is holiday (a day off) or workday (a make-up working day, 调休)")
    await db.execute(
        pg_insert(CalendarDay)
        .values(calendar=name, day=day, kind=kind, note=note, created_by=actor)
        .on_conflict_do_update(
            index_elements=["calendar", "day"], set_={"kind": kind, "note": note, "created_by": actor}
        )
    )
    await db.commit()


async def remove_day(db: AsyncSession, name: str, day: date) -> None:
    await calendar_row(db, name)
    gone = await db.execute(delete(CalendarDay).where(CalendarDay.calendar == name, CalendarDay.day == day))
    if gone.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"{name} has no override on {day}")
    await db.commit()


async def confirm_year(
    db: AsyncSession, name: str, year: int, *, actor: str, confirmed: bool = True
) -> Calendar:
    """An admin says the year's schedule is complete (entered by hand), which silences the missing-data warning."""
    row = await calendar_row(db, name)
    if not 2000 <= year <= 2100:
        raise Invalid("year", "year must be between 2000 and 2100")
    years = set(row.confirmed_years)
    years = years | {year} if confirmed else years - {year}
    row.confirmed_years = sorted(years)
    row.updated_by = actor
    await db.commit()
    return row


async def deadline(db: AsyncSession, name: str, start: datetime, duration: timedelta) -> dict[str, Any]:
    """What a person would compute: ``start`` plus ``duration`` of working time on that calendar."""
    if name != TWENTY_FOUR_SEVEN.name and name not in await calendar_names(db):
        raise NotFound(f"no calendar named {name!r}")
    cal = TWENTY_FOUR_SEVEN if name == TWENTY_FOUR_SEVEN.name else await calendar(db, name, start)
    due = cal.add(start, duration)
    return {
        "calendar": name,
        "start": start,
        "duration_seconds": int(duration.total_seconds()),
        "due_at": due,
        "missing_years": cal.missing_years(start, due),
    }
