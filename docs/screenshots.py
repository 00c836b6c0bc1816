"""Screenshots of the running dev stack for the README: `make dev` in one terminal, then

    .venv/bin/python docs/screenshots.py

Needs Chromium (Debian: chromium, fonts-noto-cjk) and the playwright package.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from urllib.parse import quote

from playwright.async_api import async_playwright

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


async def main() -> None:
    OUT.mkdir(exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
        page = await browser.new_page(viewport={"width": 1360, "height": 820}, locale="zh-CN")
        await page.goto(f"{APP}/")
        await page.screenshot(path=OUT / "cases.png")
        first = await page.locator("table.cases tbody tr a").first.get_attribute("href")
        await page.goto(f"{APP}{first}")
        await page.screenshot(path=OUT / "case.png", full_page=True)
        await page.goto(f"{APP}/cases/new/presales")
        await page.fill("input[name='customer.name']", "刘先生")
        await page.click("button.primary")
        await page.screenshot(path=OUT / "new-inquiry-errors.png", full_page=True)
        # Issue 4: the other processes, the library, campaigns, records and the complaint report.
        await page.goto(f"{APP}/cases/new")
        await page.screenshot(path=OUT / "new-case.png")
        for prefix, name in (("AS-", "aftersales-case"), ("CP-", "complaint-case"), ("OF-", "order-case")):
            await page.goto(f"{APP}/")
            href = await page.locator(f"table.cases tbody tr a[href*='/cases/{prefix}']").first.get_attribute(
                "href"
            )
            await page.goto(f"{APP}{href}")
            await page.screenshot(path=OUT / f"{name}.png", full_page=True)
        await page.goto(f"{APP}/library?q={quote('报表导出失败')}")
        await page.screenshot(path=OUT / "library.png")
        await page.goto(f"{APP}/records?process=complaint")
        await page.screenshot(path=OUT / "records.png")
        await page.goto(f"{APP}/pushes")
        await page.screenshot(path=OUT / "pushes.png")
        breached = quote("SlaState='breached' AND ExecutionStatus='Running'")
        await page.goto(f"{UI}/namespaces/default/workflows?query={breached}")
        await page.wait_for_timeout(2500)
        await page.screenshot(path=OUT / "temporal-ui-queue.png")
        await page.locator("a[href*='/workflows/PS-']").first.click()
        await page.wait_for_timeout(2500)
        await page.get_by_text("User Metadata").click()
        await page.wait_for_timeout(1000)
        await page.screenshot(path=OUT / "temporal-ui-case.png")
        await browser.close()


if __name__ == "__main__":
    asyncio.run(main())
