"""Staff journeys in a real browser (issue 6): people sign in through the login form and work the way they
would — an inquiry taken through its steps by the roles that own them, a supervisor spotting a breach on the
dashboard, and the phone number only a role with contacts.reveal may see in clear (SEC-1, SEC-2, SEC-4)."""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import quote

import httpx
import pytest
from playwright.async_api import Locator, Page, expect
from sqlalchemy import delete, select

from api.app import create_app
from api.auth import CSRF_HEADER, SESSION_COOKIE, save_user, start_session
from db.engine import sessionmaker_for
from db.models import Staff
from tests.api.test_workspace import breach, inquiry
from tests.workflows.helpers import close_case, rows

PASSWORD = "journey-pass-1"


MakeStaff = Callable[[str, str, str], Awaitable[None]]


@pytest.fixture
async def staff(settings) -> AsyncIterator[MakeStaff]:
    """``await staff(username, role, display_name)``: an account with a password, as `careflow users add`
    makes one. They are removed afterwards: every active supervisor receives later tests' escalations."""
    made: list[str] = []

    async def make(username: str, role: str, display_name: str) -> None:
        async with sessionmaker_for(settings.sqlalchemy_url())() as db, db.begin():
            await save_user(db, username=username, role=role, password=PASSWORD, display_name=display_name)
        made.append(username)

    yield make
    async with sessionmaker_for(settings.sqlalchemy_url())() as db, db.begin():
        await db.execute(delete(Staff).where(Staff.username.in_(made)))  # their sessions go with them


@pytest.fixture
async def api(env, settings, worker, staff: MakeStaff) -> AsyncIterator[httpx.AsyncClient]:
    """Sets cases up over the REST API as a signed-in agent (the same app, over ASGI); what is under test is
    what people then do in the browser."""
    await staff("bj.setup", "agent", "立案坐席")
    async with sessionmaker_for(settings.sqlalchemy_url())() as db, db.begin():
        member = (await db.execute(select(Staff).where(Staff.username == "bj.setup"))).scalar_one()
        token, csrf = await start_session(db, member, hours=1)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(settings, client=env.client)),
        base_url="http://careflow.test",
        cookies={SESSION_COOKIE: token},
        headers={CSRF_HEADER: csrf},
    ) as http:
        yield http


_NUMBERS = itertools.count(4201)


def mobile() -> tuple[str, str]:
    """A mainland mobile number of this test's own (no other test's customer matches it) and its mask."""
    return f"138{next(_NUMBERS):04d}5678", "138****5678"


async def sign_in(page: Page, username: str, path: str = "/") -> None:
    """Opens ``path`` signed out: the app sends the browser to the login form, which brings it back."""
    await page.goto(path)
    await expect(page).to_have_url(re.compile(r"/login\?next="))
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await expect(page).not_to_have_url(re.compile(r"/login"))


async def sign_out(page: Page) -> None:
    await page.get_by_role("button", name="退出登录").click()
    await expect(page).to_have_url(re.compile(r"/login$"))


async def shown_after_reload(page: Page, locator: Locator, tries: int = 40) -> None:
    """Waits for ``locator`` on a page that does not refresh itself (the case page), reloading it: a workflow
    writes its rows a moment after the action that caused them."""
    for _ in range(tries):
        try:
            await expect(locator).to_be_visible(timeout=250)
            return
        except AssertionError:
            await page.reload()
    await expect(locator).to_be_visible()


async def take(page: Page, action: str, fields: dict[str, str]) -> None:
    """Fills and submits one action's form on the case page (text, textarea and select by name)."""
    form = page.locator(f"form#action-{action}")
    for name, value in fields.items():
        field = form.locator(f"[name='{name}']")
        if await field.evaluate("e => e.tagName") == "SELECT":
            await field.select_option(value)
        elif value == "on":
            await field.check()
        else:
            await field.fill(value)
    async with page.expect_navigation():
        await form.locator("button").click()


def step_card(page: Page) -> Locator:
    return page.locator(".card.step h2")


def timeline(page: Page) -> Locator:
    return page.locator("ol.timeline")


async def test_agent_logs_in_and_takes_an_inquiry_through_its_steps(
    page: Page, settings, staff: MakeStaff
) -> None:
    tag = uuid.uuid4().hex[:6]
    await staff(f"bj.agent.{tag}", "agent", "客服小林")
    await staff(f"bj.tech.{tag}", "tech_support", "技术小严")
    await staff(f"bj.sales.{tag}", "sales_consultant", "销售小彭")

    # The agent opens the app, is sent to the login form, and lands on their queue.
    await sign_in(page, f"bj.agent.{tag}", "/")
    await expect(page).to_have_url(re.compile(r"/queue$"))
    await expect(page.locator("h1")).to_contain_text("我的队列")
    await expect(page.locator("nav .who")).to_contain_text("客服小林")

    # A new pre-sales inquiry through the new-case form (PS-1).
    await page.get_by_role("link", name="新建案件").first.click()
    await page.get_by_role("link", name="售前咨询").click()
    await expect(page.locator("h1")).to_have_text("新建售前咨询")
    customer = f"浏览器测试客户{tag}"
    await page.fill("input[name='customer.name']", customer)
    await page.fill("input[name='customer.phone']", mobile()[0])
    await page.select_option("select[name='channel']", "online_chat")
    await page.fill("input[name='contact']", "林经理 13812345678")
    await page.fill("input[name='product']", "智能客服系统")
    await page.fill("textarea[name='need']", "需要 120 坐席，接入企业微信与自有工单系统")
    await page.get_by_role("button", name="提交").click()
    await expect(page).to_have_url(re.compile(r"/cases/PS-\d+$"))
    number = page.url.rsplit("/", 1)[1]
    await expect(page.locator("h1")).to_contain_text(number)
    await shown_after_reload(page, step_card(page).filter(has_text="当前步骤：首次响应"))
    await expect(timeline(page)).to_contain_text("创建案件")

    # PS-1: first response.
    await take(page, "respond", {"note": "已在线回复，约定下午电话沟通需求"})
    await shown_after_reload(page, step_card(page).filter(has_text="当前步骤：需求分析与分级"))
    await expect(timeline(page)).to_contain_text("已在线回复，约定下午电话沟通需求")

    # PS-2: graded urgent x high, and complex: the need goes to technical support for a feasibility review.
    await take(
        page,
        "grade",
        {"urgency": "urgent", "value": "high", "complex": "on", "analysis": "需对接自有工单系统，需技术评估"},
    )
    await shown_after_reload(page, step_card(page).filter(has_text="当前步骤：可行性评估"))
    await expect(page.locator(".card.step")).to_contain_text("负责角色：技术支持")
    await expect(timeline(page)).to_contain_text("需对接自有工单系统，需技术评估")
    await expect(page.locator("form#action-review_feasibility")).to_be_visible()

    # Nothing in the permissions stops the agent from acting here (every front-line role has cases.act), but
    # the step belongs to technical support: it is in their queue, and they take it.
    await sign_out(page)
    await sign_in(page, f"bj.tech.{tag}", "/queue")
    row = page.locator(f"#q-{number}")
    await expect(row).to_contain_text("可行性评估")
    await row.get_by_role("link", name=number).click()
    await take(page, "review_feasibility", {"feasible": "on", "report": "可通过开放接口对接，工期 4 周"})
    await shown_after_reload(page, step_card(page).filter(has_text="当前步骤：方案制定与反馈"))
    await expect(page.locator(".card.step")).to_contain_text("负责角色：客服专员")

    # PS-3: the proposal, back with the agent.
    await sign_out(page)
    await sign_in(page, f"bj.agent.{tag}", f"/cases/{number}")
    await expect(page).to_have_url(re.compile(rf"/cases/{number}$"))
    await take(
        page,
        "send_proposal",
        {"summary": "标准版 + 企业微信接入", "quote": "36 万元", "timeline": "4 周", "channel": "email"},
    )
    await shown_after_reload(page, step_card(page).filter(has_text="当前步骤：跟进与转化"))
    await expect(page.locator(".card.step")).to_contain_text("负责角色：销售顾问")
    await expect(timeline(page)).to_contain_text("标准版 + 企业微信接入")

    # PS-4: the follow-up is the sales consultant's step; an interested customer books a trial and the case
    # closes with that outcome.
    await sign_out(page)
    await sign_in(page, f"bj.sales.{tag}", "/queue")
    await expect(page.locator(f"#q-{number}")).to_contain_text("跟进与转化")
    await page.goto(f"/cases/{number}")
    await take(page, "record_follow_up", {"intent": "interested", "next_step": "trial", "note": "下周一试用"})
    closed = page.locator(".card", has=page.locator("h2", has_text="案件已关闭"))
    await shown_after_reload(page, closed)
    await expect(closed).to_contain_text("已安排试用")
    await expect(page.locator("form.action")).to_have_count(0)
    (case,) = rows(settings, "SELECT state, outcome, customer_id FROM cases WHERE number=%s", number)
    assert case["state"] == "closed" and case["outcome"] == "trial_booked"
    done = rows(
        settings,
        "SELECT step FROM case_steps WHERE case_number=%s AND done_at IS NOT NULL ORDER BY id",
        number,
    )
    assert [r["step"] for r in done] == [
        "first_response",
        "needs_analysis",
        "feasibility_review",
        "proposal",
        "follow_up",
    ]


async def test_supervisor_sees_breached_case_on_dashboard(
    page: Page, env, settings, api, staff: MakeStaff
) -> None:
    number = await inquiry(api, phone=mobile()[0])
    # The first response's 5 minutes pass on the time-skipping server: the step breaches and escalates
    # (SLA-3, ESC-1), and cases.sla_state records it.
    await breach(env, settings, number)

    tag = uuid.uuid4().hex[:6]
    await staff(f"bj.sup.{tag}", "supervisor", "主管老孟")
    await sign_in(page, f"bj.sup.{tag}", "/dashboard")
    await expect(page).to_have_url(re.compile(r"/dashboard$"))
    await expect(page.locator("h1")).to_have_text("主管看板")

    breached = page.locator("section", has=page.locator("h2", has_text="已超时"))
    row = breached.locator("tr", has=page.get_by_role("link", name=number, exact=True))
    await expect(row).to_have_class(re.compile(r"\bsla-breached\b"))
    await expect(row).to_contain_text("售前咨询 · 首次响应")
    await expect(row.locator(".badge.level")).to_have_text(re.compile(r"^L[1-9]$"))
    await expect(page.locator("#stat-breached .figure")).not_to_have_text("0")

    # "在 Temporal UI 中打开" on the breach figure: the visibility query for the same set of running cases.
    ui = f"{settings.temporal_ui_url.rstrip('/')}/namespaces/{settings.temporal_namespace}/workflows?query="
    link = page.locator("#stat-breached a.ui-link")
    await expect(link).to_have_text("在 Temporal UI 中打开 ↗")
    await expect(link).to_have_attribute(
        "href", ui + quote("SlaState='breached' AND ExecutionStatus='Running'")
    )
    (case,) = rows(settings, "SELECT escalation_level FROM cases WHERE number=%s", number)
    level = case["escalation_level"]
    await expect(page.locator(f"#level-{level} a.ui-link")).to_have_attribute(
        "href", ui + quote(f"SlaState='breached' AND EscalationLevel={level} AND ExecutionStatus='Running'")
    )

    # The supervisor opens the case from the list: it says it is late, and where to read its history.
    await row.get_by_role("link", name=number, exact=True).click()
    await expect(page).to_have_url(re.compile(rf"/cases/{number}$"))
    await expect(page.locator("h1 .badge.breached")).to_have_text("已超时")
    await expect(
        page.get_by_role("link", name=re.compile("在 Temporal UI 中查看完整历史"))
    ).to_have_attribute(
        "href",
        f"{settings.temporal_ui_url.rstrip('/')}/namespaces/{settings.temporal_namespace}/workflows/{number}",
    )
    await close_case(env.client.get_workflow_handle(number))


REVEAL = """async url => {
    const csrf = document.cookie.split("; ").find(c => c.startsWith("careflow_csrf=")).split("=")[1];
    const answer = await fetch(url, {method: "POST", headers: {"X-CSRF-Token": decodeURIComponent(csrf)}});
    return {status: answer.status, body: await answer.text()};
}"""


async def test_role_without_permission_cannot_reveal_phone(
    page: Page, env, settings, api, staff: MakeStaff
) -> None:
    phone, masked = mobile()
    number = await inquiry(api, phone=phone)
    (case,) = rows(settings, "SELECT customer_id FROM cases WHERE number=%s", number)
    customer = case["customer_id"]
    tag = uuid.uuid4().hex[:6]
    await staff(f"bj.analyst.{tag}", "data_analyst", "分析师小葛")
    await staff(f"bj.agent.{tag}", "agent", "客服小屠")

    # A data analyst (no contacts.reveal, SEC-1) sees the number masked, and no button to show it.
    await sign_in(page, f"bj.analyst.{tag}", f"/cases/{number}")
    panel = page.locator("#customer-panel")
    await expect(panel.locator("dl.record")).to_contain_text(masked)  # loaded by htmx
    await expect(panel.get_by_role("button", name="显示完整联系方式")).to_have_count(0)
    assert phone not in await page.content()
    await page.goto(f"/customers/{customer}")
    await expect(page.locator("main")).to_contain_text(masked)
    assert phone not in await page.content()
    # Asking anyway, from the page's own session and CSRF token: refused, and nothing in clear comes back.
    for url in (f"/customers/{customer}/reveal", f"/api/v1/customers/{customer}/reveal"):
        answer = await page.evaluate(REVEAL, url)
        assert answer["status"] == 403 and phone not in answer["body"], (url, answer)
    await sign_out(page)

    # An agent has the permission: one click shows the number in clear, and the reveal is audited (SEC-2).
    await sign_in(page, f"bj.agent.{tag}", f"/cases/{number}")
    panel = page.locator("#customer-panel")
    await expect(panel.locator("dl.record")).to_contain_text(masked)
    await panel.get_by_role("button", name="显示完整联系方式").click()
    revealed = panel.locator("dl.contacts.revealed")
    await expect(revealed).to_contain_text(phone)
    await expect(revealed).to_contain_text("本次查看已记入审计日志")

    audited = rows(
        settings,
        "SELECT actor, actor_kind, action FROM audit_log WHERE target = ANY(%s) ORDER BY id",
        [f"customer:{customer}", f"/customers/{customer}/reveal", f"/api/v1/customers/{customer}/reveal"],
    )
    assert [(r["actor"], r["actor_kind"], r["action"]) for r in audited] == [
        ("客服小屠", "user", "contacts.reveal")
    ]
    # The analyst's refused attempts left no trace of a reveal: only their sign-in and sign-out.
    theirs = rows(settings, "SELECT action FROM audit_log WHERE actor=%s ORDER BY id", "分析师小葛")
    assert [r["action"] for r in theirs] == ["auth.login", "auth.logout"]
    await close_case(env.client.get_workflow_handle(number))
