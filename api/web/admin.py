"""Admin pages (zh-CN and English): SLA policy versions and rules, business calendars (SLA-1, SLA-2)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api import policies
from api.auth import CurrentUser, require
from api.deps import SessionDep
from api.errors import CareflowError, Invalid, InvalidMany
from api.i18n import N_, gettext
from api.web.pages import _render, use_locale
from domain.calendar import DAY_NAMES
from domain.models import Role
from domain.permissions import Permission
from domain.sla import PROCESS_STEPS, format_duration, parse_duration

router = APIRouter(include_in_schema=False)
# SLA-1, SLA-2: everyone may read the policy and the calendars; admins change them.
Editor = Annotated[CurrentUser, Depends(require(Permission.POLICIES_EDIT))]
WEEKDAYS_ZH = (N_("周一"), N_("周二"), N_("周三"), N_("周四"), N_("周五"), N_("周六"), N_("周日"))


def _chain_text(chain: list[dict[str, Any]] | tuple[Any, ...]) -> str:
    parts = []
    for level in chain:
        role, after = (
            (level["role"], level["after"]) if isinstance(level, dict) else (level.role, level.after)
        )
        parts.append(f"{role}@{format_duration(parse_duration(after)) or '0'}")
    return ", ".join(parts)


def _parse_chain(text: str) -> list[dict[str, Any]]:
    """``supervisor@0, director@4h`` -> the chain's rungs."""
    rungs = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        role, _, after = part.partition("@")
        rungs.append({"role": role.strip(), "after": (after.strip() or "0")})
    return rungs


def _errors(err: CareflowError) -> dict[str, str]:
    """The form's errors by field, in the request's language (``use_locale`` first) where the catalog has them."""
    if isinstance(err, InvalidMany):
        out: dict[str, str] = {}
        for loc, msg in err.problems:
            out.setdefault(str(loc[0]), gettext(msg))
        return out
    if isinstance(err, Invalid):
        return {err.field: gettext(err.message)}
    return {"__all__": gettext(err.message)}


# -- SLA policies ------------------------------------------------------------------------------------------------


@router.get("/admin/sla", response_class=HTMLResponse)
async def sla_page(request: Request, db: SessionDep, version: int | None = None) -> HTMLResponse:
    row, rules = await policies.version(db, version)
    history = await policies.versions(db)
    order = {p: i for i, p in enumerate(PROCESS_STEPS)}
    steps = {s: i for ss in PROCESS_STEPS.values() for i, s in enumerate(ss)}
    rules.sort(key=lambda r: (r.kind, order.get(r.process, 99), steps.get(r.step, 99), r.id))
    return _render(
        request,
        "admin_sla.html",
        version=row,
        in_force=history[0].version == row.version,
        history=history,
        rules=[(r, policies.rule_of(r)) for r in rules],
        chain_text=_chain_text,
        fmt=format_duration,
    )


async def _rule_form(
    request: Request,
    db: SessionDep,
    rule_id: int,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    from db.models import SlaRule

    row = await db.get(SlaRule, rule_id)
    if row is None:
        from api.errors import NotFound

        raise NotFound(f"no SLA rule {rule_id}")
    rule = policies.rule_of(row)
    names = ["24x7", *[c.name for c in await policies.calendar_rows(db)]]
    if form is None:
        form = {
            "target": format_duration(rule.target),
            "off_hours_target": format_duration(rule.off_hours_target),
            "warn_at": str(rule.warn_at),
            "calendar": rule.calendar or "",
            "owner_role": rule.owner_role,
            "chain": _chain_text(rule.chain),
            "note": "",
        }
    return _render(
        request,
        "admin_sla_rule.html",
        status,
        row=row,
        rule=rule,
        form=form,
        errors=errors or {},
        calendars=names,
        roles=[r.value for r in Role],
    )


@router.get("/admin/sla/rules/{rule_id}", response_class=HTMLResponse)
async def rule_page(request: Request, rule_id: int, db: SessionDep) -> HTMLResponse:
    return await _rule_form(request, db, rule_id)


@router.post("/admin/sla/rules/{rule_id}", response_class=HTMLResponse)
async def rule_edit(request: Request, rule_id: int, db: SessionDep, user: Editor) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    use_locale(request)  # the error messages
    fields: dict[str, Any] = {
        "target": form.get("target") or None,
        "off_hours_target": form.get("off_hours_target") or None,
        "calendar": form.get("calendar") or None,
        "owner_role": form.get("owner_role"),
        "chain": _parse_chain(form.get("chain", "")),
    }
    try:
        fields["warn_at"] = float(form.get("warn_at", ""))
    except ValueError:
        return await _rule_form(
            request,
            db,
            rule_id,
            form=form,
            errors={"warn_at": gettext("请填写 0 到 1 之间的小数，如 0.8")},
            status=422,
        )
    try:
        published = await policies.edit_rule(
            db, rule_id, fields, note=form.get("note", ""), actor=user.display_name
        )
    except CareflowError as err:
        await db.rollback()
        return await _rule_form(request, db, rule_id, form=form, errors=_errors(err), status=err.status)
    return RedirectResponse(f"/admin/sla?published={published.version}", status_code=303)


# -- calendars ---------------------------------------------------------------------------------------------------


def _week_text(week: list[list[list[str]]]) -> list[str]:
    return [", ".join(f"{s}-{e}" for s, e in day) for day in week]


def _parse_week(form: dict[str, str]) -> list[list[list[str]]]:
    week = []
    for i in range(7):
        spans = []
        for part in filter(None, (p.strip() for p in form.get(f"day{i}", "").split(","))):
            start, _, end = part.replace("–", "-").partition("-")
            spans.append([start.strip(), end.strip()])
        week.append(spans)
    return week


@router.get("/admin/calendars", response_class=HTMLResponse)
async def calendars_page(request: Request, db: SessionDep) -> HTMLResponse:
    now = datetime.now(UTC)
    rows = [
        (row, await policies.missing_years(db, row.name, now)) for row in await policies.calendar_rows(db)
    ]
    return _render(request, "admin_calendars.html", rows=rows, week_text=_week_text, weekdays=WEEKDAYS_ZH)


async def _calendar_page(
    request: Request,
    db: SessionDep,
    name: str,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
    result: dict[str, Any] | None = None,
) -> HTMLResponse:
    row = await policies.calendar_row(db, name)
    now = datetime.now(UTC)
    year = int(
        (form or {}).get("year")
        or request.query_params.get("year")
        or now.astimezone(ZoneInfo(row.timezone)).year
    )
    built = await policies.calendar(db, name, datetime(year, 7, 1, tzinfo=UTC))
    holidays = [d for d in built.holidays if d.year == year]
    workdays = [d for d in built.workdays if d.year == year]
    return _render(
        request,
        "admin_calendar.html",
        status,
        row=row,
        year=year,
        covered=year in built.years,
        holidays=holidays,
        workdays=workdays,
        overrides=await policies.overrides(db, name),
        week=_week_text(row.week),
        weekdays=WEEKDAYS_ZH,
        day_names=DAY_NAMES,
        form=form or {},
        errors=errors or {},
        result=result,
    )


@router.get("/admin/calendars/{name}", response_class=HTMLResponse)
async def calendar_page(request: Request, name: str, db: SessionDep) -> HTMLResponse:
    return await _calendar_page(request, db, name)


@router.post("/admin/calendars/{name}/{what}", response_class=HTMLResponse)
async def calendar_post(request: Request, name: str, what: str, db: SessionDep, user: Editor) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    use_locale(request)  # the error messages
    actor = user.display_name
    result = None
    try:
        if what == "hours":
            await policies.save_calendar(
                db,
                name,
                {"title": form.get("title", ""), "week": _parse_week(form)},
                actor=actor,
                create=False,
            )
        elif what == "days":
            try:
                day = date.fromisoformat(form.get("day", ""))
            except ValueError:
                raise Invalid("day", N_("请填写日期，如 2027-02-14")) from None
            await policies.add_day(db, name, day, form.get("kind", ""), form.get("note", ""), actor=actor)
        elif what == "remove-day":
            await policies.remove_day(db, name, date.fromisoformat(form.get("day", "")))
        elif what == "confirm-year":
            await policies.confirm_year(
                db, name, int(form.get("year", "0")), actor=actor, confirmed=form.get("confirmed") != "0"
            )
        elif what == "deadline":
            try:
                start = datetime.fromisoformat(form.get("start", "")).replace(
                    tzinfo=ZoneInfo((await policies.calendar_row(db, name)).timezone)
                )
            except ValueError:
                raise Invalid("start", N_("请填写开始时间")) from None
            try:
                duration = parse_duration(form.get("duration", ""))
            except ValueError:
                raise Invalid("duration", N_("请填写时长，如 30m、2h、3d")) from None
            result = await policies.deadline(db, name, start, duration)
            result["due_local"] = result["due_at"].astimezone(start.tzinfo)
            return await _calendar_page(request, db, name, form=form, result=result)
        else:
            from api.errors import NotFound

            raise NotFound(f"no such calendar action {what!r}")
    except CareflowError as err:
        await db.rollback()
        return await _calendar_page(request, db, name, errors=_errors(err), form=form, status=err.status)
    return RedirectResponse(f"/admin/calendars/{name}?year={form.get('year', '')}", status_code=303)
