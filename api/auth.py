"""Who is asking (SEC-4): staff sign in (argon2 passwords, server-side sessions), other systems send an API
token with scopes; forms carry a per-session CSRF token. Every route is guarded here, once, by the app-level
dependency `guard` (api/app.py); handlers that need a permission add `require(...)`.

- A session: the cookie ``careflow_session`` holds a random token; ``web_sessions`` keeps only its SHA-256,
  the staff member, the CSRF token and the expiry. HttpOnly, SameSite=Lax, Secure on https (or when
  ``CAREFLOW_SECURE_COOKIES`` is set). The CSRF token is also in the readable cookie ``careflow_csrf`` (for
  scripts); it is checked against the session's row, not against that cookie.
- An API token: ``Authorization: Bearer cf_…``; ``api_tokens`` keeps the SHA-256 of the secret, its scopes,
  who created it, when it was last used and when it was revoked. Tokens reach the REST API only.
- Public: health, the customers' survey pages and their API (the link's signed token is the credential),
  the push tracking links, the push inquiry/conversion hooks (the delivery's unguessable token), /login,
  /static, the OpenAPI docs.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pwdlib import PasswordHash
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import CareflowError
from config import Settings
from db.auth import ApiToken, WebSession
from db.engine import sessionmaker_for
from db.models import Staff
from domain.models import Role
from domain.permissions import TOKEN_SCOPES, Permission, Scope, allowed

SESSION_COOKIE = "careflow_session"
CSRF_COOKIE = "careflow_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
TOKEN_PREFIX = "cf_"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

passwords = PasswordHash.recommended()  # argon2id
bearer = HTTPBearer(auto_error=False, description="An API token (SEC-4): `Authorization: Bearer cf_…`")


@dataclass(frozen=True)
class CurrentUser:
    """The signed-in staff member, or the system behind an API token (``is_token``)."""

    username: str
    display_name: str
    role: str
    locale: str = "zh-CN"
    timezone: str = "Asia/Shanghai"
    is_token: bool = False
    scopes: frozenset[str] = field(default_factory=frozenset)
    csrf_token: str | None = None
    token_id: int | None = None
    is_system: bool = False  # the app itself (demo seed, scripts): no request, every permission

    @property
    def kind(self) -> str:
        return "system" if self.is_system else "token" if self.is_token else "user"

    def can(self, permission: Permission) -> bool:
        if self.is_system:
            return True
        if self.is_token:
            scope = TOKEN_SCOPES.get(permission)
            return scope is not None and scope in self.scopes
        return allowed(self.role, permission)

    def has_scope(self, scope: Scope) -> bool:
        return not self.is_token or scope in self.scopes


def system_user(name: str = "system") -> CurrentUser:
    return CurrentUser(username=name, display_name=name, role="", is_system=True)


# -- errors: 401 / 403 ---------------------------------------------------------------------------------------


class NotSignedIn(CareflowError):
    """No valid session or token: JSON 401 for the API, a redirect to /login for pages (api/app.py)."""

    status = 401

    def body(self) -> dict[str, object]:
        return {"error": "unauthenticated", "detail": self.message}


class Forbidden(CareflowError):
    status = 403

    def body(self) -> dict[str, object]:
        return {"error": "forbidden", "detail": self.message, **self.detail}


class CsrfFailed(CareflowError):
    status = 403

    def body(self) -> dict[str, object]:
        return {"error": "csrf", "detail": self.message}


CSRF_MESSAGE = "表单已失效或来源不明（CSRF 校验未通过）。请返回上一页刷新后重新提交。"


# -- secrets ---------------------------------------------------------------------------------------------------


def digest(secret: str) -> str:
    """SHA-256 is enough for 256-bit random secrets (unlike passwords, they cannot be guessed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def hash_password(password: str) -> str:
    return passwords.hash(password)


_DUMMY_HASH = passwords.hash("careflow: equal time for unknown usernames")


def verify_password(password: str, password_hash: str | None) -> tuple[bool, str | None]:
    """(valid, a new hash when the stored one uses outdated parameters)."""
    if not password_hash:
        passwords.verify(password, _DUMMY_HASH)  # the same work, so timing does not tell who exists
        return False, None
    return passwords.verify_and_update(password, password_hash)


# -- staff accounts (the CLI, the demo seed and the tests use these) ------------------------------------------


USERNAME = re.compile(r"^[A-Za-z0-9._-]{2,100}$")


async def save_user(
    db: AsyncSession,
    *,
    username: str,
    role: Role | str,
    password: str,
    display_name: str | None = None,
    department: str | None = None,
    email: str | None = None,
) -> Staff:
    """Creates the account, or sets the role and password of an existing one."""
    if not USERNAME.match(username):
        raise ValueError("用户名只能包含字母、数字、点、下划线和连字符（2–100 位）")
    role = Role(role)
    if len(password) < 8:
        raise ValueError("密码至少 8 位")
    staff = (await db.execute(select(Staff).where(Staff.username == username))).scalar_one_or_none()
    if staff is None:
        staff = Staff(username=username, display_name=display_name or username, role=role.value)
        db.add(staff)
    staff.role = role.value
    staff.password_hash = hash_password(password)
    staff.active = True
    if display_name:
        staff.display_name = display_name
    if department is not None:
        staff.department = department
    if email is not None:
        staff.email = email
    await db.flush()
    return staff


# -- sessions -------------------------------------------------------------------------------------------------


async def login(db: AsyncSession, username: str, password: str) -> Staff | None:
    staff = (
        await db.execute(select(Staff).where(Staff.username == username.strip(), Staff.active.is_(True)))
    ).scalar_one_or_none()
    valid, rehashed = verify_password(password, staff.password_hash if staff else None)
    if staff is None or not valid:
        return None
    if rehashed:
        staff.password_hash = rehashed
    return staff


async def start_session(
    db: AsyncSession,
    staff: Staff,
    *,
    hours: float,
    ip: str | None = None,
    user_agent: str | None = None,
) -> tuple[str, str]:
    """A new session for ``staff``: returns (cookie token, CSRF token). Expired sessions are swept here."""
    now = datetime.now(UTC)
    await db.execute(delete(WebSession).where(WebSession.expires_at < now))
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    db.add(
        WebSession(
            token_hash=digest(token),
            staff_id=staff.id,
            csrf_token=csrf,
            expires_at=now + timedelta(hours=hours),
            ip=ip,
            user_agent=(user_agent or "")[:300] or None,
        )
    )
    staff.last_login_at = now
    await db.flush()
    return token, csrf


async def end_session(db: AsyncSession, token: str) -> None:
    await db.execute(delete(WebSession).where(WebSession.token_hash == digest(token)))


def secure_cookies(request: Request, settings: Settings) -> bool:
    return settings.secure_cookies or request.url.scheme == "https"


def set_session_cookies(
    response: object, request: Request, settings: Settings, token: str, csrf: str
) -> None:
    secure = secure_cookies(request, settings)
    max_age = int(settings.session_hours * 3600)
    response.set_cookie(  # type: ignore[attr-defined]
        SESSION_COOKIE, token, max_age=max_age, httponly=True, samesite="lax", secure=secure, path="/"
    )
    response.set_cookie(  # type: ignore[attr-defined]
        CSRF_COOKIE, csrf, max_age=max_age, httponly=False, samesite="lax", secure=secure, path="/"
    )


def clear_session_cookies(response: object) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")  # type: ignore[attr-defined]
    response.delete_cookie(CSRF_COOKIE, path="/")  # type: ignore[attr-defined]


# -- API tokens -----------------------------------------------------------------------------------------------


async def create_token(
    db: AsyncSession, *, name: str, scopes: list[Scope], created_by: str
) -> tuple[ApiToken, str]:
    """Returns the row and the secret; only the secret's hash is stored, so it is shown once."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name,
        token_hash=digest(secret),
        prefix=secret[:10],
        scopes=sorted({Scope(s).value for s in scopes}),
        created_by=created_by,
    )
    db.add(row)
    await db.flush()
    return row, secret


async def token_problems(db: AsyncSession, name: str, scopes: list[str]) -> dict[str, str]:
    """What is wrong with a new token's name and scopes (zh-CN, by field); empty when nothing is."""
    problems: dict[str, str] = {}
    if not 1 <= len(name) <= 100:
        problems["name"] = "请填写令牌名称（1–100 个字符），如调用方系统的名字"
    elif await db.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
        problems["name"] = f"已有名为 {name} 的令牌"
    known = {s.value for s in Scope}
    if not scopes:
        problems["scopes"] = "至少选择一个权限范围"
    elif unknown := [s for s in scopes if s not in known]:
        problems["scopes"] = f"未知的权限范围：{', '.join(unknown)}"
    return problems


async def list_tokens(db: AsyncSession) -> list[ApiToken]:
    return list(
        (
            await db.execute(select(ApiToken).order_by(ApiToken.created_at.desc(), ApiToken.id.desc()))
        ).scalars()
    )


async def revoke_token(db: AsyncSession, token_id: int) -> ApiToken | None:
    row = await db.get(ApiToken, token_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        await db.flush()
    return row


# -- who is asking --------------------------------------------------------------------------------------------


TOKEN_USE_RESOLUTION = timedelta(minutes=1)


async def _from_token(db: AsyncSession, secret: str) -> CurrentUser | None:
    row = (
        await db.execute(select(ApiToken).where(ApiToken.token_hash == digest(secret)))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    now = datetime.now(UTC)
    # "Last used" to the minute: a system sending many requests at once would otherwise queue on this row.
    if row.last_used_at is None or now - row.last_used_at > TOKEN_USE_RESOLUTION:
        await db.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
    return CurrentUser(
        username=f"token:{row.name}",
        display_name=row.name,
        role="",
        is_token=True,
        scopes=frozenset(row.scopes),
        token_id=row.id,
    )


async def _from_session(db: AsyncSession, token: str) -> CurrentUser | None:
    found = (
        await db.execute(
            select(WebSession, Staff)
            .join(Staff, Staff.id == WebSession.staff_id)
            .where(
                WebSession.token_hash == digest(token),
                WebSession.expires_at > datetime.now(UTC),
                Staff.active.is_(True),
            )
        )
    ).first()
    if found is None:
        return None
    session, staff = found
    return CurrentUser(
        username=staff.username,
        display_name=staff.display_name,
        role=staff.role,
        locale=staff.locale,
        timezone=staff.timezone,
        csrf_token=session.csrf_token,
    )


async def authenticate(request: Request, settings: Settings) -> CurrentUser | None:
    """The token in ``Authorization: Bearer``, else the session cookie; None when neither is valid.
    A request that sends a bearer token is judged by it alone (a bad token is not rescued by a cookie)."""
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    cookie = request.cookies.get(SESSION_COOKIE)
    if not (secret and scheme.lower() == "bearer") and not cookie:
        return None
    async with sessionmaker_for(settings.sqlalchemy_url())() as db, db.begin():
        if secret and scheme.lower() == "bearer":
            return await _from_token(db, secret.strip())
        return await _from_session(db, cookie or "")


# -- the guard every route passes ----------------------------------------------------------------------------

_PUBLIC = re.compile(
    r"^/(?:login|lang/[^/]+|static/.*|s/[^/]+|t/.*"
    r"|api/v1/health|api/v1/surveys/[^/]+/answer|api/v1/pushes/[^/]+/(?:inquiry|conversion))$"
)

# What an API token needs per path (SEC-4): (prefix, scope to read, scope to write). A token reaches no other
# path: users, tokens and the audit log are for signed-in admins only.
API_SCOPES: tuple[tuple[str, Scope | None, Scope | None], ...] = (
    ("/api/v1/cases", Scope.CASES_READ, Scope.CASES_WRITE),
    ("/api/v1/processes", Scope.CASES_READ, None),
    ("/api/v1/library", Scope.CASES_READ, Scope.CASES_WRITE),
    ("/api/v1/improvement-tasks", Scope.CASES_READ, Scope.CASES_WRITE),
    ("/api/v1/notifications", Scope.CASES_READ, None),
    ("/api/v1/pushes", Scope.CASES_READ, Scope.CASES_WRITE),
    ("/api/v1/push-services", Scope.CASES_READ, Scope.POLICIES_WRITE),
    ("/api/v1/orders", Scope.CASES_READ, Scope.ORDERS_EVENTS),
    ("/api/v1/customers", Scope.CUSTOMERS_READ, Scope.CUSTOMERS_WRITE),
    ("/api/v1/surveys", Scope.REPORTS_READ, Scope.SURVEYS_WRITE),
    ("/api/v1/reports", Scope.REPORTS_READ, None),
    ("/api/v1/records", Scope.REPORTS_READ, None),
    ("/api/v1/sla", Scope.POLICIES_WRITE, Scope.POLICIES_WRITE),
    ("/api/v1/calendars", Scope.POLICIES_WRITE, Scope.POLICIES_WRITE),
    ("/api/v1/templates", Scope.POLICIES_WRITE, Scope.POLICIES_WRITE),
    ("/api/v1/care/touch-policy", Scope.CASES_READ, Scope.POLICIES_WRITE),
    ("/api/v1/care", Scope.CASES_READ, Scope.CASES_WRITE),
    ("/api/v1/tiers", Scope.CUSTOMERS_READ, Scope.CUSTOMERS_WRITE),
    ("/api/v1/compliance", Scope.REPORTS_READ, None),  # T-7 verdicts are a supervisor's, not a system's
)


def token_scope_for(method: str, path: str) -> Scope | None:
    """The scope a token needs for this request; None: tokens may not make it. Revealing contact details
    is a POST that reads (customers:read)."""
    reads = method in SAFE_METHODS or path.endswith("/reveal")
    for prefix, read, write in API_SCOPES:
        if path == prefix or path.startswith(prefix + "/"):
            return read if reads else write
    return None


def is_public(path: str) -> bool:
    return bool(_PUBLIC.match(path))


def is_api(path: str) -> bool:
    return path.startswith("/api/")


async def _submitted_csrf(request: Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)  # cached on the request: the handler reads it again
        return value if isinstance(value, str) else None
    return None


async def guard(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)] = None,
) -> None:
    """App-level dependency on every route: sign-in, CSRF for cookie-authenticated writes, token scopes.
    (`_credentials` only puts the bearer scheme into the OpenAPI document, for /docs' Authorize button.)"""
    path = request.url.path
    if is_public(path):
        request.state.user = None
        return
    settings: Settings = request.app.state.settings
    user = await authenticate(request, settings)
    request.state.user = user
    if user is None:
        raise NotSignedIn("请先登录" if not is_api(path) else "sign in, or send an API token")
    if user.is_token:
        if not is_api(path):
            raise Forbidden("API 令牌只能访问 /api/v1 接口")
        if path == "/api/v1/me":
            return
        scope = token_scope_for(request.method, path)
        if scope is None or scope not in user.scopes:
            raise Forbidden(
                f"this token lacks the scope {scope.value}"
                if scope
                else "API tokens cannot use this endpoint",
                scope=scope.value if scope else None,
            )
        return
    if request.method not in SAFE_METHODS:
        submitted = await _submitted_csrf(request)
        if not submitted or not user.csrf_token or not secrets.compare_digest(submitted, user.csrf_token):
            raise CsrfFailed(CSRF_MESSAGE)


def login_redirect(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?next=" + quote(target, safe="")


async def current_user(request: Request) -> CurrentUser:
    user = getattr(request.state, "user", None)
    if user is None:
        raise NotSignedIn("请先登录")
    return user


UserDep = Annotated[CurrentUser, Depends(current_user)]


def require(permission: Permission, scope: Scope | None = None) -> Callable[..., Awaitable[CurrentUser]]:
    """A dependency: the user if their role has ``permission`` (a token: ``scope``, or the scope that stands
    for the permission in domain.permissions.TOKEN_SCOPES), else 403."""

    async def check(user: UserDep) -> CurrentUser:
        if user.is_token:
            needed = scope or TOKEN_SCOPES.get(permission)
            if needed is None or needed not in user.scopes:
                raise Forbidden(
                    f"this token lacks the scope {needed.value}" if needed else "API tokens cannot do this",
                    permission=permission.value,
                    scope=needed.value if needed else None,
                )
        elif not allowed(user.role, permission):
            raise Forbidden(
                f"您的角色无权执行此操作（需要权限 {permission.value}）", permission=permission.value
            )
        return user

    check.__name__ = f"require_{permission.name.lower()}"
    return check


async def actor_name(
    user: UserDep,
    x_careflow_actor: Annotated[
        str | None,
        Header(max_length=100, description="API tokens only: the person in the calling system (recorded)"),
    ] = None,
) -> str:
    """Who a change is recorded as: the signed-in staff member's name; for a token, the person the calling
    system names (X-Careflow-Actor), else the token's name. The audit log records the token either way."""
    if user.is_token:
        return (x_careflow_actor or "").strip() or user.display_name
    return user.display_name


ActorDep = Annotated[str, Depends(actor_name)]
