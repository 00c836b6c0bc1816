"""REST: /api/v1/sla and /api/v1/calendars — the SLA policy versions and the business calendars."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from api import policies
from api.auth import ActorDep, require
from api.deps import SessionDep
from db.models import SlaPolicyVersion, SlaRule
from domain.permissions import Permission
from domain.sla import ANY, PolicyRule, parse_duration

router = APIRouter(prefix="/api/v1", tags=["sla"])

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "unknown version, rule or calendar"},
    409: {"description": "the edit is based on a version no longer in force, or the name is taken"},
    422: {"description": "invalid policy or calendar; `detail[].loc` names the field and `msg` says why"},
}
Actor = ActorDep
EDIT = [Depends(require(Permission.POLICIES_EDIT))]  # SLA-1, SLA-2: admins change policies and calendars


class VersionInfo(BaseModel):
    version: int
    note: str
    published_by: str
    published_at: datetime
    rule_count: int
    in_force: bool


class RuleOut(PolicyRule):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: int


class VersionDetail(VersionInfo):
    rules: list[RuleOut]


class PublishRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(min_length=1, max_length=1000, description="why the policy changes")
    based_on: int | None = Field(
        default=None,
        description="the version you edited; refused with 409 if another version was published since",
    )
    changes: list[dict[str, Any]] = Field(
        default_factory=list,
        description="rules that replace the rule with the same key (kind, process, step, metric, severity, tier, "
        "channel, variant) or are added; durations as 30m, 24h, 3d",
    )
    remove: list[dict[str, str]] = Field(default_factory=list, description="keys of rules to drop")


class RuleEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(min_length=1, max_length=1000)
    target: str | None = None
    off_hours_target: str | None = None
    warn_at: float | None = None
    calendar: str | None = None
    owner_role: str | None = None
    chain: list[dict[str, Any]] | None = None


def _info(row: SlaPolicyVersion, latest: int | None) -> dict[str, Any]:
    return {
        "version": row.version,
        "note": row.note,
        "published_by": row.published_by,
        "published_at": row.published_at,
        "rule_count": row.rule_count,
        "in_force": row.version == latest,
    }


def _rules(rows: list[SlaRule]) -> list[RuleOut]:
    return [RuleOut(id=r.id, **policies.rule_of(r).model_dump()) for r in rows]


@router.get(
    "/sla/versions", response_model=list[VersionInfo], summary="Published SLA policy versions, newest first"
)
async def list_versions(db: SessionDep) -> list[dict[str, Any]]:
    rows = await policies.versions(db)
    latest = rows[0].version if rows else None
    return [_info(r, latest) for r in rows]


@router.get(
    "/sla/versions/current", response_model=VersionDetail, summary="The policy in force", responses=ERRORS
)
async def current(db: SessionDep) -> dict[str, Any]:
    row, rules = await policies.version(db)
    return {**_info(row, row.version), "rules": _rules(rules)}


@router.get(
    "/sla/versions/{number}", response_model=VersionDetail, summary="One policy version", responses=ERRORS
)
async def one_version(number: int, db: SessionDep) -> dict[str, Any]:
    row, rules = await policies.version(db, number)
    latest = (await policies.versions(db))[0].version
    return {**_info(row, latest), "rules": _rules(rules)}


@router.post(
    "/sla/versions",
    response_model=VersionInfo,
    status_code=201,
    summary="Publish the next version: the one in force with your changes",
    description="The whole rule set is validated before anything is written (positive targets, a warning before "
    "the breach, known calendars, a catch-all target for every step). Running cases keep their version.",
    responses=ERRORS,
    dependencies=EDIT,
)
async def publish_version(body: PublishRequest, db: SessionDep, actor: Actor) -> dict[str, Any]:
    row = await policies.publish_changes(
        db, note=body.note, actor=actor, changes=body.changes, remove=body.remove, based_on=body.based_on
    )
    return _info(row, row.version)


@router.patch(
    "/sla/rules/{rule_id}",
    response_model=VersionInfo,
    status_code=201,
    summary="Change one rule of the version in force (publishes the next version)",
    responses=ERRORS,
    dependencies=EDIT,
)
async def edit_rule(rule_id: int, body: RuleEdit, db: SessionDep, actor: Actor) -> dict[str, Any]:
    fields = body.model_dump(exclude_unset=True, exclude={"note"})
    row = await policies.edit_rule(db, rule_id, fields, note=body.note, actor=actor)
    return _info(row, row.version)


@router.get(
    "/sla/resolve", response_model=PolicyRule, summary="The target a new case would get", responses=ERRORS
)
async def resolve_target(
    db: SessionDep,
    process: str,
    step: str,
    severity: str = ANY,
    tier: str = ANY,
    channel: str = ANY,
    variant: str = ANY,
) -> PolicyRule:
    return await policies.resolve_for(
        db, process=process, step=step, severity=severity, tier=tier, channel=channel, variant=variant
    )


# -- calendars ---------------------------------------------------------------------------------------------------


class CalendarIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
    timezone: str = "Asia/Shanghai"
    week: list[list[tuple[str, str]]] = Field(description='7 days, Monday first: [[["09:00","18:00"]], ...]')
    makeup_hours: list[tuple[str, str]] | None = None
    public_holidays: str | None = Field(
        default="CN", description="'CN': mainland China holidays and 调休; null: none"
    )


class CalendarOut(BaseModel):
    name: str
    title: str
    timezone: str
    week: list[list[tuple[str, str]]]
    makeup_hours: list[tuple[str, str]] | None
    public_holidays: str | None
    confirmed_years: list[int]
    missing_years: list[int] = Field(
        description="of last, this and next year, those without an official or confirmed schedule "
        "(deadlines there ignore public holidays)"
    )
    overrides: list[dict[str, Any]]


class DayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    day: date
    kind: str = Field(description="holiday (a day off) or workday (a make-up working day, 调休)")
    note: str = Field(default="", max_length=200)


class DeadlineOut(BaseModel):
    calendar: str
    start: datetime
    duration_seconds: int
    due_at: datetime
    missing_years: list[int]


async def _calendar_out(db: SessionDep, name: str) -> dict[str, Any]:
    row = await policies.calendar_row(db, name)
    missing = await policies.missing_years(db, name, datetime.now(UTC))
    return {
        "name": row.name,
        "title": row.title,
        "timezone": row.timezone,
        "week": row.week,
        "makeup_hours": row.makeup_hours,
        "public_holidays": row.public_holidays,
        "confirmed_years": row.confirmed_years,
        "missing_years": missing,
        "overrides": [
            {"day": d.day, "kind": d.kind, "note": d.note, "created_by": d.created_by}
            for d in await policies.overrides(db, name)
        ],
    }


@router.get("/calendars", response_model=list[CalendarOut], summary="Business calendars (24x7 is built in)")
async def list_calendars(db: SessionDep) -> list[dict[str, Any]]:
    return [await _calendar_out(db, row.name) for row in await policies.calendar_rows(db)]


@router.get("/calendars/{name}", response_model=CalendarOut, responses=ERRORS)
async def get_calendar(name: str, db: SessionDep) -> dict[str, Any]:
    return await _calendar_out(db, name)


@router.put(
    "/calendars/{name}",
    response_model=CalendarOut,
    responses=ERRORS,
    summary="Create or change a calendar",
    dependencies=EDIT,
)
async def put_calendar(
    name: str, body: CalendarIn, db: SessionDep, response: Response, actor: Actor
) -> dict[str, Any]:
    from db.models import Calendar

    create = await db.get(Calendar, name) is None
    await policies.save_calendar(db, name, body.model_dump(), actor=actor, create=create)
    response.status_code = 201 if create else 200
    return await _calendar_out(db, name)


@router.post(
    "/calendars/{name}/days",
    response_model=CalendarOut,
    status_code=201,
    responses=ERRORS,
    summary="Add an extra day off or a make-up working day (调休)",
    dependencies=EDIT,
)
async def add_day(name: str, body: DayIn, db: SessionDep, actor: Actor) -> dict[str, Any]:
    await policies.add_day(db, name, body.day, body.kind, body.note, actor=actor)
    return await _calendar_out(db, name)


@router.delete(
    "/calendars/{name}/days/{day}", response_model=CalendarOut, responses=ERRORS, dependencies=EDIT
)
async def remove_day(name: str, day: date, db: SessionDep) -> dict[str, Any]:
    await policies.remove_day(db, name, day)
    return await _calendar_out(db, name)


@router.post(
    "/calendars/{name}/years/{year}",
    response_model=CalendarOut,
    responses=ERRORS,
    summary="Mark a year's schedule as complete (entered by hand)",
    dependencies=EDIT,
)
async def confirm_year(name: str, year: int, db: SessionDep, actor: Actor) -> dict[str, Any]:
    await policies.confirm_year(db, name, year, actor=actor)
    return await _calendar_out(db, name)


@router.get(
    "/calendars/{name}/deadline",
    response_model=DeadlineOut,
    responses=ERRORS,
    summary="start + duration of working time on this calendar",
)
async def deadline(
    name: str,
    db: SessionDep,
    start: datetime,
    duration: Annotated[str, Query(description="e.g. 30m, 2h, 3d")],
) -> dict[str, Any]:
    from api.errors import Invalid

    if start.tzinfo is None:
        raise Invalid("start", "start needs a time zone, e.g. 2026-04-03T17:50:00+08:00")
    try:
        value = parse_duration(duration)
    except ValueError as err:
        raise Invalid("duration", str(err)) from None
    return await policies.deadline(db, name, start, value)
