from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from api.app import create_app


@pytest.fixture
async def http(env, settings, worker) -> AsyncIterator[httpx.AsyncClient]:
    """The real app against the real worker, Temporal test server and Postgres."""
    app = create_app(settings, client=env.client)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://careflow.test") as client:
        yield client
