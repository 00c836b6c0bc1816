"""A client signed in as a staff member of a given role (SEC-4), for the customer data-quality tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from api.app import create_app
from api.auth import CSRF_HEADER, SESSION_COOKIE, save_user, start_session
from config import Settings
from db.engine import transaction


@asynccontextmanager
async def staff_client(
    env, settings: Settings, *, username: str, role: str, display_name: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The real app, with a session of ``username`` (created with ``role``): the session cookie, and the CSRF
    token in the header scripts send (a form post can send it as its hidden field instead)."""
    async with transaction(settings.sqlalchemy_url()) as db:
        staff = await save_user(
            db, username=username, role=role, password="tests-password", display_name=display_name
        )
        token, csrf = await start_session(db, staff, hours=1)
    app = create_app(settings, client=env.client)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://careflow.test",
        cookies={SESSION_COOKIE: token},
        headers={CSRF_HEADER: csrf},
    ) as client:
        client.csrf = csrf  # type: ignore[attr-defined]
        yield client
