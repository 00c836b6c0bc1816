"""Sign-in pages and the admin pages of SEC-2 / SEC-4 (zh-CN): /login, /logout, API tokens, the audit log,
and revealing a customer's contact details (SEC-1)."""

from __future__ import annotations

import secrets
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.audit import AuditFilters, audit, search_audit
from api.auth import (
    SESSION_COOKIE,
    CurrentUser,
    clear_session_cookies,
    create_token,
    end_session,
    list_tokens,
    login,
    require,
    revoke_token,
    secure_cookies,
    set_session_cookies,
    start_session,
    token_problems,
)
from api.deps import SessionDep, SettingsDep
from api.errors import Invalid, NotFound
from api.i18n import N_, gettext
from api.privacy import revealed_contacts
from api.web.pages import _render, use_locale
from domain.permissions import Permission, Scope

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "careflow_login_csrf"  # the login form's own CSRF token (no session exists yet)
BAD_LOGIN = N_("用户名或密码不正确")  # never says which of the two was wrong
PAGE_SIZE = 50

TokenAdmin = Annotated[CurrentUser, Depends(require(Permission.TOKENS_MANAGE))]
AuditReader = Annotated[CurrentUser, Depends(require(Permission.AUDIT_READ))]
Revealer = Annotated[CurrentUser, Depends(require(Permission.CONTACTS_REVEAL))]


def safe_next(target: str | None) -> str:
    """Only a path on this site: never "//evil.example" or "https://…" (an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _login_page(
    request: Request,
    settings: Any,
    *,
    next_: str,
    error: str | None = None,
    username: str = "",
    status: int = 200,
) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    use_locale(request)  # the error message
    response = _render(
        request,
        "login.html",
        status,
        next=safe_next(next_),
        error=gettext(error) if error else None,
        username=username,
        login_csrf=token,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request, settings),
        path="/login",
    )
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, settings: SettingsDep, next: str = "/") -> HTMLResponse:
    return _login_page(request, settings, next_=next)


@router.post("/login", response_class=HTMLResponse)
async def login_submit(request: Request, db: SessionDep, settings: SettingsDep) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    username, next_ = form.get("username", "").strip(), safe_next(form.get("next"))
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not secrets.compare_digest(cookie, form.get("csrf_token", "")):
        return _login_page(
            request,
            settings,
            next_=next_,
            username=username,
            status=403,
            error=N_("登录表单已过期，请重新提交。"),
        )
    staff = await login(db, username, form.get("password", ""))
    if staff is None:
        await audit(db, request, username or "(空)", "auth.login_failed", f"user:{username}"[:300])
        await db.commit()
        return _login_page(request, settings, next_=next_, username=username, status=401, error=BAD_LOGIN)
    token, csrf = await start_session(
        db,
        staff,
        hours=settings.session_hours,
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )
    await audit(db, request, staff.display_name, "auth.login", f"user:{staff.username}")
    await db.commit()
    response = RedirectResponse(next_, status_code=303)
    set_session_cookies(response, request, settings, token, csrf)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request, db: SessionDep) -> Response:
    """The session row is deleted: the cookie is worthless afterwards, even if a copy of it survives."""
    user: CurrentUser = request.state.user
    await end_session(db, request.cookies.get(SESSION_COOKIE, ""))
    await audit(db, request, None, "auth.logout", f"user:{user.username}")
    await db.commit()
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookies(response)
    return response


# -- API tokens (SEC-4) ----------------------------------------------------------------------------------------


async def _tokens_page(
    request: Request,
    db: SessionDep,
    *,
    created: tuple[Any, str] | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    rows = await list_tokens(db)
    return _render(
        request,
        "admin_tokens.html",
        status,
        tokens=rows,
        scopes=list(Scope),
        created=created,
        errors=errors or {},
        form=form or {},
    )


@router.get("/admin/tokens", response_class=HTMLResponse)
async def tokens_page(request: Request, db: SessionDep, _admin: TokenAdmin) -> HTMLResponse:
    return await _tokens_page(request, db)


@router.post("/admin/tokens", response_class=HTMLResponse)
async def token_create(request: Request, db: SessionDep, admin: TokenAdmin) -> HTMLResponse:
    raw = await request.form()
    name = str(raw.get("name") or "").strip()
    scopes = [str(s) for s in raw.getlist("scopes")]
    form = {"name": name, "scopes": scopes}
    errors = await token_problems(db, name, scopes)
    if errors:
        return await _tokens_page(request, db, errors=errors, form=form, status=422)
    row, secret = await create_token(
        db, name=name, scopes=[Scope(s) for s in scopes], created_by=admin.display_name
    )
    await audit(db, request, None, "token.create", f"token:{row.id}", {"name": name, "scopes": row.scopes})
    await db.commit()
    # The secret is shown on this answer only; the database keeps its hash.
    return await _tokens_page(request, db, created=(row, secret), status=201)


@router.post("/admin/tokens/{token_id}/revoke")
async def token_revoke(request: Request, token_id: int, db: SessionDep, _admin: TokenAdmin) -> Response:
    row = await revoke_token(db, token_id)
    if row is None:
        use_locale(request)
        raise NotFound(gettext("没有令牌 #%(id)s") % {"id": token_id})
    await audit(db, request, None, "token.revoke", f"token:{row.id}", {"name": row.name})
    await db.commit()
    return RedirectResponse("/admin/tokens", status_code=303)


# -- the audit log (SEC-2) -------------------------------------------------------------------------------------


def _day(value: str, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(field, N_("请输入日期，格式 YYYY-MM-DD")) from None


@router.get("/admin/audit", response_class=HTMLResponse)
async def audit_page(
    request: Request,
    db: SessionDep,
    user: AuditReader,
    actor: str = "",
    action: str = "",
    target: str = "",
    since: str = "",
    until: str = "",
    page: int = 1,
) -> HTMLResponse:
    form = {"actor": actor, "action": action, "target": target, "since": since, "until": until}
    use_locale(request)  # the error messages
    zone = ZoneInfo(user.timezone)
    errors: dict[str, str] = {}
    days: dict[str, date | None] = {}
    for field in ("since", "until"):
        try:
            days[field] = _day(form[field], field)
        except Invalid as err:
            errors[field] = gettext(err.message)
            days[field] = None
    filters = AuditFilters(
        actor=actor.strip() or None,
        action=action.strip() or None,
        target=target.strip() or None,
        since=datetime.combine(days["since"], time(), zone) if days["since"] else None,
        until=datetime.combine(days["until"] + timedelta(days=1), time(), zone) if days["until"] else None,
    )
    page = max(page, 1)
    rows, total = await search_audit(db, filters, page=page, page_size=PAGE_SIZE)
    return _render(
        request,
        "admin_audit.html",
        422 if errors else 200,
        rows=rows,
        total=total,
        page=page,
        page_size=PAGE_SIZE,
        form=form,
        errors=errors,
        paging=urlencode({k: v for k, v in form.items() if v}),
    )


# -- revealing a customer's contact details (SEC-1, SEC-2) -----------------------------------------------------


@router.post("/customers/{customer_id}/reveal", response_class=HTMLResponse)
async def reveal(request: Request, customer_id: int, db: SessionDep, _user: Revealer) -> HTMLResponse:
    """Shows the phone, email and contacts in clear, once, and records that this person saw them. From a
    page with htmx the answer is a fragment swapped in place; without, a page of its own."""
    shown = await revealed_contacts(db, customer_id)
    await audit(db, request, None, "contacts.reveal", f"customer:{customer_id}", {"fields": shown.fields()})
    await db.commit()
    fragment = request.headers.get("HX-Request") == "true"
    return _render(request, "_contacts_revealed.html" if fragment else "contacts_revealed.html", shown=shown)
