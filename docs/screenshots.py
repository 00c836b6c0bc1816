"""Screenshots of the running dev stack for the README: `make dev` in one terminal, then

    .venv/bin/python docs/screenshots.py

Each page is taken as the demo user who works there (api/demo.py; every demo account's password is
DEMO_PASSWORD), signed in through the login form: the agent's queue and case page, the supervisor's dashboard,
the sales supervisor's tier reviews, the admin's audit log. Nothing is changed except what signing in records
(sessions, audit rows); the invalid new-inquiry form is refused and starts nothing.

Two things make the pictures fuller, if done first: publish docs/examples/sla-seconds.json (README, `make dev`)
and file an inquiry or two, which breach within half a minute (the dashboard, the Temporal UI's breached
list — which needs at least one breached inquiry); and press 立即重评 on /tiers/reviews as salesmgr.shi, which
puts the demo customers' tier proposals up for review.

Needs Chromium (Debian: chromium, fonts-noto-cjk; or CAREFLOW_CHROMIUM) and the playwright package.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path
from urllib.parse import quote

from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from api.demo import CUSTOMERS, DEMO_PASSWORD

OUT = Path(__file__).parent / "screenshots"
APP = os.environ.get("CAREFLOW_URL", "http://127.0.0.1:8000")
UI = os.environ.get("TEMPORAL_UI_URL", "http://localhost:8233")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1360, "height": 820}


async def new_page(browser: Browser) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(
        base_url=APP, viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai"
    )
    return context, await context.new_page()


async def signed_in(browser: Browser, username: str) -> Page:
    """A page of ``username``'s own browser, signed in through the login form."""
    _, page = await new_page(browser)
    await page.goto("/login")
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码").fill(DEMO_PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await expect(page).not_to_have_url(re.compile(r"/login"))
    return page


async def shot(page: Page, path: str, name: str, *, full_page: bool = False) -> None:
    await page.goto(path)
    await page.wait_for_load_state("networkidle")  # htmx panels (the case page's customer) have loaded
    await page.screenshot(path=OUT / f"{name}.png", full_page=full_page)
    print(f"docs/screenshots/{name}.png  {path}")


async def first_link(page: Page, list_path: str, selector: str) -> str:
    await page.goto(list_path)
    href = await page.locator(selector).first.get_attribute("href")
    assert href, f"nothing matches {selector} on {list_path}"
    return href


async def app_pages(browser: Browser) -> None:
    _, anonymous = await new_page(browser)
    await shot(anonymous, "/login?next=%2Fqueue", "login")

    # The agent: their queue, a pre-sales case with its open step and actions, new cases.
    agent = await signed_in(browser, "agent.li")
    await shot(agent, "/queue", "queue")
    case = await first_link(agent, "/cases?process=presales&state=open", "table.cases tbody tr a")
    await shot(agent, case, "case", full_page=True)
    await shot(agent, "/cases/new", "new-case")
    await agent.goto("/cases/new/presales")
    await agent.fill("input[name='customer.name']", "刘先生")
    await agent.get_by_role("button", name="提交").click()
    await expect(agent.locator("p.alert")).to_be_visible()
    await agent.screenshot(path=OUT / "new-inquiry-errors.png", full_page=True)
    print(
        "docs/screenshots/new-inquiry-errors.png  /cases/new/presales (submitted without the required fields)"
    )
    await shot(agent, "/customers", "customers")
    vip = agent.get_by_role("link", name=CUSTOMERS[0]["name"], exact=True)  # the VIP demo customer
    await shot(agent, await vip.get_attribute("href") or "/customers", "customer", full_page=True)
    for prefix, name in (("AS-", "aftersales-case"), ("CP-", "complaint-case"), ("OF-", "order-case")):
        href = await first_link(agent, "/cases", f"table.cases tbody tr a[href*='/cases/{prefix}']")
        await shot(agent, href, name, full_page=True)
    await shot(agent, f"/library?q={quote('报表导出失败')}", "library")

    # The supervisor: the dashboard, every case, records and campaigns.
    supervisor = await signed_in(browser, "supervisor.wang")
    await shot(supervisor, "/dashboard", "dashboard", full_page=True)
    await shot(supervisor, "/cases", "cases")
    await shot(supervisor, "/records?process=complaint", "records")
    await shot(supervisor, "/pushes", "pushes")

    # The sales supervisor approves tier changes (T-3); the admin reads the audit log (SEC-2).
    sales_supervisor = await signed_in(browser, "salesmgr.shi")
    await shot(sales_supervisor, "/tiers/reviews", "tier-reviews", full_page=True)
    admin = await signed_in(browser, "admin")
    await shot(admin, "/admin/audit", "audit")


async def temporal_ui(browser: Browser) -> None:
    _, page = await new_page(browser)
    breached = quote("SlaState='breached' AND ExecutionStatus='Running'")
    await page.goto(f"{UI}/namespaces/default/workflows?query={breached}")
    first_case = page.locator("a[href*='/workflows/PS-']").first
    await first_case.wait_for()
    await page.screenshot(path=OUT / "temporal-ui-queue.png")
    await first_case.click()
    await page.get_by_text("User Metadata").click()
    await page.get_by_text("Current Details").wait_for()  # the UI polls for ever: no network-idle to wait for
    await page.screenshot(path=OUT / "temporal-ui-case.png")
    print("docs/screenshots/temporal-ui-queue.png, temporal-ui-case.png  Temporal UI")


async def main() -> None:
    OUT.mkdir(exist_ok=True)
    executable = os.environ.get("CAREFLOW_CHROMIUM") or shutil.which("chromium")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=executable, args=FLAGS)
        await app_pages(browser)
        await temporal_ui(browser)
        await browser.close()


if __name__ == "__main__":
    asyncio.run(main())
