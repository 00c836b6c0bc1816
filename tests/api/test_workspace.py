"""The staff workspace (issue 6): my queue, the supervisor dashboard with its Temporal UI links, the case
page's customer panel, and front-end assets served from /static/vendor (no CDN)."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.api.test_cases_api import INQUIRY, open_step
from tests.signin import staff_browsers
from tests.workflows.helpers import close_case, eventually, rows

ROOT = Path(__file__).resolve().parents[2]
SignIn = Callable[[str, str, str], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def sign_in(env, settings, worker) -> AsyncIterator[SignIn]:
    """Real staff accounts and sessions: ``await sign_in(username, role, display_name)`` is their browser."""
    async with staff_browsers(env, settings) as open_browser:
        yield open_browser


async def inquiry(browser: httpx.AsyncClient, phone: str = "13900139000") -> str:
    body = {
        **INQUIRY,
        "external_ref": f"ws-{uuid.uuid4()}",
        "customer": {**INQUIRY["customer"], "phone": phone},
    }
    r = await browser.post("/api/v1/cases/presales", json=body)
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    await open_step(browser, number, "first_response")
    return number


def queue_numbers(html: str) -> list[str]:
    return re.findall(r'<tr class="[^"]*" id="q-([A-Z]+-\d+)"', html)


def row_of(html: str, number: str) -> str:
    match = re.search(rf'<tr class="[^"]*" id="q-{number}">(.*?)</tr>', html, re.DOTALL)
    assert match, f"{number} has no row"
    return match.group(1)


async def breach(env, settings, number: str) -> None:
    """Lets the open step's deadline pass on the time-skipping server; the breach escalates (ESC-1)."""
    due = rows(settings, "SELECT next_deadline FROM cases WHERE number=%s", number)[0]["next_deadline"]
    await env.sleep(max(due - await env.get_current_time(), timedelta(0)) + timedelta(seconds=30))
    await eventually(
        lambda: rows(
            settings,
            "SELECT 1 FROM cases WHERE number=%s AND sla_state='breached' AND escalation_level >= 1",
            number,
        ),
        f"{number} breaches and escalates",
    )


async def close(env, *numbers: str) -> None:
    for number in numbers:
        await close_case(env.client.get_workflow_handle(number))


async def test_queue_shows_my_role_cases_sorted_by_deadline(env, settings, sign_in):
    agent = await sign_in("ws.agent", "agent", "客服小周")
    tech = await sign_in("ws.tech", "tech_support", "技术小孙")
    first = await inquiry(agent)
    second = await inquiry(agent)
    r = await agent.post(
        f"/api/v1/cases/{first}/actions/assign", json={"actor": "客服小周", "owner": "技术小孙"}
    )
    assert r.status_code == 200, r.text
    await eventually(
        lambda: rows(settings, "SELECT 1 FROM cases WHERE number=%s AND owner='技术小孙'", first)
    )

    page = await agent.get("/queue")
    assert page.status_code == 200 and "我的队列" in page.text and "客服小周" in page.text
    numbers = queue_numbers(page.text)
    assert first in numbers and second in numbers and numbers.index(first) < numbers.index(second)
    shown = {
        r["number"]: r
        for r in rows(
            settings,
            "SELECT number, state, owner_role, next_deadline FROM cases WHERE number = ANY(%s)",
            numbers,
        )
    }
    # Only open cases of the agent's role (an agent is on no escalation rung), next deadline first.
    assert all(shown[n]["state"] == "open" and shown[n]["owner_role"] == "agent" for n in numbers)
    deadlines = [shown[n]["next_deadline"] for n in numbers]
    assert deadlines == sorted(deadlines, key=lambda d: (d is None, d or datetime.max))
    assert "data-due=" in row_of(page.text, first) and "上海某某科技有限公司" in row_of(page.text, first)

    # The technician sees the case assigned to them by name, marked as theirs, and not the agent's other one.
    theirs = (await tech.get("/queue")).text
    assert first in queue_numbers(theirs) and second not in queue_numbers(theirs)
    assert "我的" in row_of(theirs, first)
    await close(env, first, second)


async def test_queue_rows_partial_for_htmx(env, settings, sign_in):
    agent = await sign_in("ws.agent2", "agent", "客服小吴")
    number = await inquiry(agent)
    page = (await agent.get("/queue")).text
    assert 'hx-get="/queue/rows"' in page and 'hx-trigger="every 30s"' in page
    assert '<script src="/static/vendor/htmx.min.js"' in page

    r = await agent.get("/queue/rows", headers={"HX-Request": "true"})
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert "<html" not in r.text and "<nav" not in r.text  # only rows, for the tbody
    assert number in queue_numbers(r.text) and "data-due=" in row_of(r.text, number)
    count = len(queue_numbers(r.text))
    assert f'<span id="queue-count" hx-swap-oob="true">共 {count} 件</span>' in r.text

    anonymous = httpx.AsyncClient(transport=agent._transport, base_url="http://careflow.test")
    async with anonymous:
        refused = await anonymous.get("/queue/rows")
    assert refused.status_code != 200 and number not in refused.text
    await close(env, number)


async def test_esc1_supervisor_queue_shows_escalated_cases(env, settings, sign_in):
    agent = await sign_in("ws.agent3", "agent", "客服小郑")
    supervisor = await sign_in("ws.sup", "supervisor", "主管老王")
    director = await sign_in("ws.dir", "director", "总监老陈")
    number = await inquiry(agent)
    assert number not in queue_numbers((await supervisor.get("/queue")).text)  # not escalated yet
    await breach(env, settings, number)

    page = (await supervisor.get("/queue")).text
    assert number in queue_numbers(page) and "升级 L1" in row_of(page, number)
    assert "已升级到 L1 及以上" in page
    assert 'class="sla-breached' in re.search(rf'<tr class="[^"]*" id="q-{number}"', page).group(0)
    # The director's rung is level 2: the case is not theirs until it escalates again.
    level = rows(settings, "SELECT escalation_level FROM cases WHERE number=%s", number)[0][
        "escalation_level"
    ]
    assert (number in queue_numbers((await director.get("/queue")).text)) == (level >= 2)
    await close(env, number)


def _cell_count(html: str, row_id: str) -> int:
    match = re.search(rf'id="{row_id}">.*?<a href="[^"]*">(\d+)</a>', html, re.DOTALL)
    assert match, f"no row {row_id}"
    return int(match.group(1))


def _hrefs(html: str, row_id: str) -> list[str]:
    match = re.search(rf'<tr[^>]*id="{row_id}">(.*?)</tr>', html, re.DOTALL)
    assert match, f"no row {row_id}"
    return [h.replace("&amp;", "&") for h in re.findall(r'href="([^"]+)"', match.group(1))]


async def test_dashboard_counts_breaches_and_backlog_with_temporal_links(env, settings, sign_in):
    agent = await sign_in("ws.agent4", "agent", "客服小冯")
    supervisor = await sign_in("ws.sup2", "supervisor", "主管老赵")
    late = await inquiry(agent)
    await breach(env, settings, late)
    waiting = await inquiry(agent, phone="13700137000")  # filed after the breach: on track
    ui = f"{settings.temporal_ui_url.rstrip('/')}/namespaces/{settings.temporal_namespace}/workflows?query="

    async def consistent() -> tuple[str, dict[str, Any]] | None:
        html = (await supervisor.get("/dashboard")).text
        (figures,) = rows(
            settings,
            "SELECT count(*) FILTER (WHERE sla_state='breached') AS breached,"
            " count(*) FILTER (WHERE sla_state='warning') AS warning,"
            " count(*) FILTER (WHERE process='presales') AS presales,"
            " count(*) FILTER (WHERE process='presales' AND current_step='first_response') AS first_response,"
            " count(*) FILTER (WHERE sla_state='breached' AND escalation_level=1) AS level1"
            " FROM cases WHERE state='open'",
        )
        shown = {
            "breached": int(
                re.search(r'id="stat-breached">.*?<a href="[^"]*">(\d+)</a>', html, re.DOTALL).group(1)
            ),
            "warning": int(
                re.search(r'id="stat-warning">.*?<a href="[^"]*">(\d+)</a>', html, re.DOTALL).group(1)
            ),
            "presales": _cell_count(html, "backlog-presales"),
            "first_response": _cell_count(html, "backlog-presales-first_response"),
            "level1": _cell_count(html, "level-1"),
        }
        return (html, figures) if shown == figures else None

    # Cases left running by other tests may move on between the page and the check: compare until they agree.
    for _ in range(20):
        if agreed := await consistent():
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the dashboard's figures never equalled the open cases'")
    html, figures = agreed
    assert figures["breached"] >= 1 and figures["first_response"] >= 2
    late_row = re.search(
        rf'<tr class="sla-breached">\s*<td><a href="/cases/{late}">.*?</tr>', html, re.DOTALL
    )
    assert late_row and '<span class="badge level">L1</span>' in late_row.group(0)

    # Each count links to the case list of that set and to the Temporal UI filtered to the same set.
    step_list, step_ui = _hrefs(html, "backlog-presales-first_response")
    assert step_list == "/cases?state=open&process=presales&current_step=first_response"
    assert step_ui == ui + quote(
        "CaseProcess='presales' AND CaseStep='first_response' AND ExecutionStatus='Running'"
    )
    level_list, level_ui = _hrefs(html, "level-1")
    assert level_list == "/cases?state=open&sla_state=breached&escalation_level=1"
    assert level_ui == ui + quote("SlaState='breached' AND EscalationLevel=1 AND ExecutionStatus='Running'")
    assert ui + quote("SlaState='breached' AND ExecutionStatus='Running'") in html
    process_ui = _hrefs(html, "backlog-presales")[1]
    assert process_ui.startswith(ui + quote("CaseProcess='presales' AND CaseStep"))
    assert quote("'first_response'") in process_ui

    listed = (await supervisor.get(step_list)).text
    assert f"共 {figures['first_response']} 件" in listed or figures["first_response"] > 50
    assert f"/cases/{late}" in listed and f"/cases/{waiting}" in listed
    breached_list = (await supervisor.get(level_list)).text
    assert f"/cases/{late}" in breached_list and f"/cases/{waiting}" not in breached_list

    panel = await supervisor.get("/dashboard/panel")
    assert panel.status_code == 200 and "<nav" not in panel.text and 'id="stat-breached"' in panel.text
    assert 'hx-get="/dashboard/panel"' in html and 'hx-trigger="every 30s"' in html
    await close(env, late, waiting)


async def test_sec1_case_page_customer_panel_masks_contact(env, settings, sign_in):
    agent = await sign_in("ws.agent5", "agent", "客服小陈")
    number = await inquiry(agent, phone="13600136123")
    page = (await agent.get(f"/cases/{number}")).text
    assert "当前步骤：首次响应" in page and 'id="action-respond"' in page and "时间线" in page
    assert f'hx-get="/cases/{number}/customer"' in page
    customer_id = rows(settings, "SELECT customer_id FROM cases WHERE number=%s", number)[0]["customer_id"]
    panel = (await agent.get(f"/cases/{number}/customer")).text
    assert "上海某某科技有限公司" in panel and f'href="/customers/{customer_id}"' in panel
    assert "136****6123" in panel and "13600136123" not in panel
    assert "普通客户" in panel and "活跃" in panel
    assert (await agent.get("/cases/PS-424242424/customer")).status_code == 404
    await close(env, number)


def test_no_cdn_assets():
    templates = ROOT / "api" / "templates"
    remote = re.compile(r"<(?:script|link|img)\b[^>]*(?:src|href)=[\"']?(?:https?:)?//", re.IGNORECASE)
    for template in templates.glob("**/*.html"):
        assert not remote.search(template.read_text()), f"{template.name} loads something from another host"
    for css in (ROOT / "api" / "static").glob("**/*.css"):
        assert not re.search(r"@import\s+(?:url\()?[\"']?(?:https?:)?//", css.read_text()), css.name
    base = (templates / "base.html").read_text()
    assert '<script src="/static/vendor/htmx.min.js"' in base
    assert 'href="/static/vendor/pico.min.css"' in base
    vendor = ROOT / "api" / "static" / "vendor"
    pinned = json.loads((ROOT / "frontend" / "package.json").read_text())["devDependencies"]
    versions = dict(line.split() for line in (vendor / "VERSIONS").read_text().splitlines())
    assert versions == pinned  # the committed files are the pinned versions (npm ci && npm run vendor)
    assert (vendor / "htmx.min.js").stat().st_size > 10_000 and (
        vendor / "pico.min.css"
    ).stat().st_size > 10_000
    assert f'version:"{pinned["htmx.org"]}"' in (vendor / "htmx.min.js").read_text()
    assert f"Pico CSS ✨ v{pinned['@picocss/pico']}" in (vendor / "pico.min.css").read_text()
