from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from config import Settings
from tests.activities.helpers import Gateway, MailSink, remove_created_staff, start_mail_sink


@pytest.fixture
async def mail_sink(tmp_path: Path) -> AsyncIterator[MailSink]:
    sink, task = await start_mail_sink(tmp_path / "mail")
    try:
        yield sink
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    gw = Gateway().start()
    try:
        yield gw
    finally:
        gw.stop()


@pytest.fixture(autouse=True)
async def staff_cleanup(settings: Settings) -> AsyncIterator[None]:
    yield
    await remove_created_staff(settings.sqlalchemy_url())
