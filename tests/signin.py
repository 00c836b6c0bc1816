"""Signed-in test clients (SEC-4): one staff account per role with a live session, and an API token with
every scope, made through the same functions the app and the CLI use. `signed_in_staff` removes the accounts
again when it ends: the notifier reaches staff by role, so accounts left behind would receive the escalations
and notices other tests count.

`client(app, logins)` is the suite's usual client: pages run as the session's user (a supervisor unless told
otherwise), /api/v1 calls send the all-scopes token (so `actor` fields and X-Careflow-Actor are recorded as
before), and every unsafe request carries the session's CSRF header, as the pages' forms and htmx do.
`login_as(http, role)` switches the client to that role's session for pages AND the API (no token).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

import httpx
from sqlalchemy import delete

from api.auth import (
    CSRF_COOKIE,
    CSRF_HEADER,
    SAFE_METHODS,
    SESSION_COOKIE,
    create_token,
    save_user,
    start_session,
)
from config import Settings
from db.auth import ApiToken
from db.engine import transaction
from db.models import Staff
from domain.i18n import label
from domain.models import Role
from domain.permissions import Scope

PASSWORD = "tests-password-1"
TOKEN_NAME = "tests-all-scopes"  # what the API records as the actor when the caller names nobody
HOST = "careflow.test"


@dataclass
class Logins:
    sessions: dict[Role, tuple[str, str]] = field(default_factory=dict)  # role → (cookie token, CSRF token)
    token: str = ""  # every scope

    @staticmethod
    def username(role: Role | str) -> str:
        return f"test.{Role(role).value}"

    @staticmethod
    def display_name(role: Role | str) -> str:
        return f"测试{label(Role(role).value)}"


@asynccontextmanager
async def signed_in_staff(settings: Settings) -> AsyncIterator[Logins]:
    """The accounts, their sessions and the token while the block runs; the accounts are deleted after it
    (their sessions with them), and the token too."""
    url = settings.sqlalchemy_url()
    made = Logins()
    async with transaction(url) as db:
        for role in Role:
            staff = await save_user(
                db,
                username=Logins.username(role),
                role=role,
                password=PASSWORD,
                display_name=Logins.display_name(role),
            )
            made.sessions[role] = await start_session(db, staff, hours=24)
        token, made.token = await create_token(db, name=TOKEN_NAME, scopes=list(Scope), created_by="tests")
    try:
        yield made
    finally:
        async with transaction(url) as db:
            await db.execute(delete(Staff).where(Staff.username.in_([Logins.username(r) for r in Role])))
            await db.execute(delete(ApiToken).where(ApiToken.id == token.id))


def client(
    app: object,
    logins: Logins,
    *,
    role: Role | str = Role.SUPERVISOR,
    token: bool = True,
    base_url: str = f"http://{HOST}",
    headers: dict[str, str] | None = None,
) -> httpx.AsyncClient:
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
        base_url=base_url,
        headers=headers,
    )
    http.careflow_token = logins.token if token else None  # type: ignore[attr-defined]
    http.careflow_logins = logins  # type: ignore[attr-defined]
    _use_session(http, logins.sessions[Role(role)])

    async def sign(request: httpx.Request) -> None:
        bearer = http.careflow_token  # type: ignore[attr-defined]
        if bearer and request.url.path.startswith("/api/") and "authorization" not in request.headers:
            request.headers["Authorization"] = f"Bearer {bearer}"
        csrf = http.cookies.get(CSRF_COOKIE)
        if request.method not in SAFE_METHODS and csrf and CSRF_HEADER.lower() not in request.headers:
            request.headers[CSRF_HEADER] = csrf

    http.event_hooks["request"].append(sign)
    return http


def _use_session(http: httpx.AsyncClient, session: tuple[str, str]) -> None:
    http.cookies.clear()
    host = httpx.URL(str(http.base_url)).host
    http.cookies.set(SESSION_COOKIE, session[0], domain=host)
    http.cookies.set(CSRF_COOKIE, session[1], domain=host)


def login_as(http: httpx.AsyncClient, role: Role | str) -> httpx.AsyncClient:
    """From now on ``http`` is this role's staff member, for pages and the API alike."""
    _use_session(http, http.careflow_logins.sessions[Role(role)])  # type: ignore[attr-defined]
    http.careflow_token = None  # type: ignore[attr-defined]
    return http


def anonymous(http: httpx.AsyncClient) -> httpx.AsyncClient:
    http.cookies.clear()
    http.careflow_token = None  # type: ignore[attr-defined]
    return http


@asynccontextmanager
async def staff_client(
    env, settings: Settings, *, username: str, role: str, display_name: str
) -> AsyncIterator[httpx.AsyncClient]:
    """A new staff account with a live session, as its browser on the real app: the session cookie, and the
    CSRF token in the header htmx sends (``.csrf`` for a form's hidden field, ``.name`` its display name).
    The account is deleted afterwards (the notifier reaches staff by role)."""
    from api.app import create_app

    async with transaction(settings.sqlalchemy_url()) as db:
        staff = await save_user(
            db, username=username, role=role, password=PASSWORD, display_name=display_name
        )
        token, csrf = await start_session(db, staff, hours=1)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(settings, client=env.client)),
            base_url=f"http://{HOST}",
            cookies={SESSION_COOKIE: token},
            headers={CSRF_HEADER: csrf},
        ) as browser:
            browser.csrf = csrf  # type: ignore[attr-defined]
            browser.name = display_name  # type: ignore[attr-defined]
            yield browser
    finally:
        async with transaction(settings.sqlalchemy_url()) as db:
            await db.execute(delete(Staff).where(Staff.username == username))  # its sessions go with it


@asynccontextmanager
async def staff_browsers(
    env, settings: Settings
) -> AsyncIterator[Callable[[str, str, str], Awaitable[httpx.AsyncClient]]]:
    """``await open(username, role, display_name)``: any number of `staff_client`s, closed together."""
    async with AsyncExitStack() as stack:

        async def open_browser(username: str, role: str, display_name: str) -> httpx.AsyncClient:
            return await stack.enter_async_context(
                staff_client(env, settings, username=username, role=role, display_name=display_name)
            )

        yield open_browser


async def remove_staff(settings: Settings, pattern: str) -> None:
    """Deletes the accounts a test module made itself (``pattern`` as in SQL LIKE, e.g. ``h9.%``)."""
    async with transaction(settings.sqlalchemy_url()) as db:
        await db.execute(delete(Staff).where(Staff.username.like(pattern)))
