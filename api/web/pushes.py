"""Staff web pages (zh-CN and English) for value-added push (VP-1..VP-3): the campaigns with their push record figures,
one campaign, the form that starts one, and the editable tag → service table (VP-2)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from activities import campaigns
from api.auth import CurrentUser, require
from api.deps import ClientDep, SessionDep, SettingsDep
from api.errors import CareflowError, Invalid
from api.i18n import N_, gettext
from api.routes.pushes import PushStartRequest, campaign_detail, campaign_page, save_service, start_campaign
from api.web.forms import Widget, errors_by_field, parse, widgets
from api.web.pages import _render, use_locale
from domain.models import Tier
from domain.permissions import Permission
from domain.value_push import RESPONSE_TARGET, PushType, TagService, ValuePushIntake

router = APIRouter(include_in_schema=False)
Campaigner = Annotated[CurrentUser, Depends(require(Permission.CAMPAIGNS))]  # VP: start and configure pushes
TIERS = [t.value for t in Tier]
PUSH_TYPES = [p.value for p in PushType]
PREFERRED = N_("按客户偏好渠道")


def _form(raw: FormData) -> dict[str, str]:
    """Form fields as strings; the tier checkboxes become one comma-separated value."""
    form = {k: str(v) for k, v in raw.items()}
    form["tiers"] = ",".join(str(v) for v in raw.getlist("tiers"))
    return form


def _by_field(err: ValidationError) -> dict[str, str]:
    # "tiers.1" (one bad tier) shows at the tiers field.
    return {name.split(".", 1)[0]: msg for name, msg in reversed(errors_by_field(err).items())}


def _intake_widgets() -> list[Widget]:
    """The form's widgets in the request's language (``use_locale`` first)."""
    out = widgets(ValuePushIntake, skip=("actor", "tiers"))  # the tiers are checkboxes of their own
    for w in out:
        if w.name == "channel":
            w.options = [(v, text if v else gettext(PREFERRED)) for v, text in w.options]
    return out


@router.get("/pushes", response_class=HTMLResponse)
async def push_list(request: Request, db: SessionDep, push_type: str = "", page: int = 1) -> HTMLResponse:
    result = await campaign_page(db, push_type=push_type or None, page=max(page, 1), page_size=50)
    return _render(
        request,
        "push_list.html",
        result=result,
        push_type=push_type,
        push_types=PUSH_TYPES,
        target=RESPONSE_TARGET,
    )


# -- starting a campaign -------------------------------------------------------------------------------------


async def _new_page(
    request: Request, db: SessionDep, form: dict[str, str], errors: dict[str, str], status: int = 200
) -> HTMLResponse:
    use_locale(request)  # the widgets' labels
    return _render(
        request,
        "push_new.html",
        status,
        form=form,
        errors=errors,
        widgets=_intake_widgets(),
        tiers=TIERS,
        services=await campaigns.list_services(db),
    )


@router.get("/pushes/new", response_class=HTMLResponse)
async def new_push_form(request: Request, db: SessionDep, service: int | None = None) -> HTMLResponse:
    """The form, filled from a tag → service row when ``service`` names one."""
    row = next((r for r in await campaigns.list_services(db) if r.id == service), None)
    form: dict[str, str] = {}
    if row is not None:
        form = {k: str(v) for k, v in row.model_dump(mode="json", exclude={"id", "active"}).items() if v}
        form["tiers"] = ",".join(row.tiers)
    return await _new_page(request, db, form, {})


@router.post("/pushes/new", response_class=HTMLResponse)
async def new_push(
    request: Request, db: SessionDep, client: ClientDep, settings: SettingsDep, user: Campaigner
) -> Response:
    form = _form(await request.form())
    use_locale(request)  # the error messages
    errors: dict[str, str] = {}
    body: Any = None
    try:
        body = PushStartRequest.model_validate(parse(ValuePushIntake, form))
    except ValidationError as err:
        errors.update(_by_field(err))
    if not errors:
        try:
            started = await start_campaign(
                db=db,
                client=client,
                settings=settings,
                body=body,
                key=form.get("idempotency_key") or None,
                actor=user.display_name,
            )
        except Invalid as err:
            errors[err.field] = gettext(err.message)
    if errors:
        return await _new_page(request, db, form, errors, 422)
    return RedirectResponse(f"/pushes/{started.number}", status_code=303)


# -- the tag → service table (VP-2) --------------------------------------------------------------------------


async def _services_page(
    request: Request,
    db: SessionDep,
    *,
    failed: str | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    use_locale(request)  # the channel options
    return _render(
        request,
        "push_services.html",
        status,
        rows=await campaigns.list_services(db),
        push_types=PUSH_TYPES,
        tiers=TIERS,
        channels=next(w for w in _intake_widgets() if w.name == "channel").options,
        failed=failed,
        errors=errors or {},
        form=form or {},
    )


@router.get("/pushes/services", response_class=HTMLResponse)
async def services_page(request: Request, db: SessionDep) -> HTMLResponse:
    return await _services_page(request, db)


async def _save(request: Request, db: SessionDep, service_id: int | None, actor: str) -> Response:
    form = _form(await request.form())
    use_locale(request)  # the error messages
    failed = str(service_id or "new")
    errors: dict[str, str] = {}
    body: TagService | None = None
    try:
        body = TagService.model_validate(parse(TagService, form))
    except ValidationError as err:
        errors.update(_by_field(err))
    if body is not None and not errors:
        try:
            await save_service(db, service_id, body, actor)
        except CareflowError as err:
            if err.status == 404:
                raise
            errors["__all__"] = gettext(err.message)
    if errors:
        return await _services_page(request, db, failed=failed, errors=errors, form=form, status=422)
    return RedirectResponse("/pushes/services", status_code=303)


@router.post("/pushes/services", response_class=HTMLResponse)
async def add_service(request: Request, db: SessionDep, user: Campaigner) -> Response:
    return await _save(request, db, None, user.display_name)


@router.post("/pushes/services/{service_id}", response_class=HTMLResponse)
async def update_service(request: Request, service_id: int, db: SessionDep, user: Campaigner) -> Response:
    return await _save(request, db, service_id, user.display_name)


# -- one campaign --------------------------------------------------------------------------------------------


@router.get("/pushes/{number}", response_class=HTMLResponse)
async def push_page(request: Request, number: str, db: SessionDep, settings: SettingsDep) -> HTMLResponse:
    detail = await campaign_detail(db, settings, number)
    return _render(request, "push_detail.html", c=detail, target=RESPONSE_TARGET)
