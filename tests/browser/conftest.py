"""Browser tests: the real app served by uvicorn on a free port, driven by Playwright in Chromium.

Chromium is Debian's (`/usr/bin/chromium`, or ``CAREFLOW_CHROMIUM``), else Playwright's own; `make test`
makes sure one is there (scripts/ensure-browser). A missing browser fails these tests — it never skips them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator

import pytest
import uvicorn
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from api.app import create_app

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
async def live_server(env, settings, worker) -> AsyncIterator[str]:
    app = create_app(settings, client=env.client)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=_free_port(), log_level="warning", lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
        await asyncio.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await serving


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    executable = os.environ.get("CAREFLOW_CHROMIUM") or shutil.which("chromium")
    async with async_playwright() as playwright:
        try:
            launched = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        except Exception as exc:  # noqa: BLE001 - whatever the reason, say it loudly
            pytest.fail(
                f"cannot start Chromium for the browser tests ({executable or 'Playwright download'}): {exc}\n"
                "run `make test` (scripts/ensure-browser installs Debian's chromium + fonts-noto-cjk) "
                "or set CAREFLOW_CHROMIUM",
                pytrace=False,
            )
        yield launched
        await launched.close()


@pytest.fixture
async def context(browser: Browser, live_server: str) -> AsyncIterator[BrowserContext]:
    ctx = await browser.new_context(
        base_url=live_server, locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1366, "height": 900}
    )
    yield ctx
    await ctx.close()


@pytest.fixture
async def page(context: BrowserContext) -> Page:
    return await context.new_page()
