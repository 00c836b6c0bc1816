"""My queue in a real browser: htmx and Pico load from /static/vendor (nothing from another host), the
countdown ticks, and the rows htmx fetches replace the table body and the count."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import BrowserContext, Page, expect

from api.app import create_app
from api.auth import CSRF_HEADER, SESSION_COOKIE, save_user, start_session
from db.engine import sessionmaker_for
from tests.api.test_workspace import inquiry
from tests.workflows.helpers import close_case

TICKING = re.compile(r"^(剩余|已超时) \d+:\d{2}:\d{2}$")


async def test_queue_counts_down_and_htmx_swaps_in_fresh_rows(
    page: Page, context: BrowserContext, live_server: str, env, settings
) -> None:
    async with sessionmaker_for(settings.sqlalchemy_url())() as db, db.begin():
        staff = await save_user(
            db, username="ws.browser", role="agent", password="workspace-pass", display_name="客服小蒋"
        )
        token, csrf = await start_session(db, staff, hours=1)
    await context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": live_server}])
    api = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(settings, client=env.client)),
        base_url="http://careflow.test",
        cookies={SESSION_COOKIE: token},
        headers={CSRF_HEADER: csrf},
    )
    async with api:
        first = await inquiry(api)
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        await page.goto("/queue")
        row = page.locator(f"#q-{first}")
        await row.wait_for()
        await expect(row.locator("[data-due]")).to_have_text(TICKING)
        assert await page.evaluate("typeof htmx") == "object"

        second = await inquiry(api)
        assert await page.locator(f"#q-{second}").count() == 0
        shown = await page.locator("#queue-rows tr[id]").count()
        await page.evaluate("htmx.ajax('GET', '/queue/rows', {target: '#queue-rows', swap: 'innerHTML'})")
        await page.locator(f"#q-{second}").wait_for()
        assert await page.locator("#queue-count").inner_text() == f"共 {shown + 1} 件"
        await expect(page.locator(f"#q-{second} [data-due]")).to_have_text(TICKING)
        assert requested and all(url.startswith(live_server) for url in requested), requested
        for number in (first, second):
            await close_case(env.client.get_workflow_handle(number))
