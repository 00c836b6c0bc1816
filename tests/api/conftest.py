from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from api.app import create_app
from tests.signin import Logins, signed_in_staff
from tests.signin import client as signed_in


@pytest.fixture(scope="package")
async def logins(settings) -> AsyncIterator[Logins]:
    """One signed-in account per role and an all-scopes API token (tests/signin.py), for this package."""
    async with signed_in_staff(settings) as made:
        yield made


@pytest.fixture
async def http(env, settings, worker, logins) -> AsyncIterator[httpx.AsyncClient]:
    """The real app against the real worker, Temporal test server and Postgres: pages as a signed-in
    supervisor (`tests.signin.login_as` switches role), /api/v1 with an all-scopes token, CSRF header on."""
    app = create_app(settings, client=env.client)
    async with signed_in(app, logins) as http:
        yield http
