"""English pages (issue 6 item 7) for the admin pages (SLA policy, calendars, message templates, inbox and
outbox), the case library and value-added pushes, the record exports and reports, the survey pages and the
tier pages — each also still in Chinese without the language cookie. The public survey page speaks the
customer's language, not the staff cookie's. Real app, worker, Temporal test server and Postgres."""

from __future__ import annotations

import html as htmllib
import re
import uuid

import httpx

from activities.messages import seed_templates
from api.i18n import LANG_COOKIE
from tests.api.test_pushes_api import LINK, a_tag, customer, pushed
from tests.api.test_surveys import case_with_customer, issue, path_of
from tests.signin import HOST, Logins, login_as
from tests.workflows.helpers import rows

CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
ATTRS = re.compile(r'\b(?:placeholder|aria-label)="([^"]*)"')
FIXED_TAGS = ("h1", "h2", "h3", "th", "button", "legend", "dt", "label", "option")


def english(http: httpx.AsyncClient, on: bool = True) -> httpx.AsyncClient:
    """Sets (or removes) the language switch's cookie."""
    if on:
        http.cookies.set(LANG_COOKIE, "en", domain=HOST)
    else:
        http.cookies.delete(LANG_COOKIE, domain=HOST)
    return http


def main_of(page: str) -> str:
    """The page's own content, without the shared top bar."""
    return page.split("<main", 1)[1].split("</main>", 1)[0]


def fixed_texts(part: str, tags: tuple[str, ...] = FIXED_TAGS, skip: tuple[str, ...] = ()) -> list[str]:
    """The texts of the page's own headings, table headers, labels, buttons, options and placeholders, with
    the user data in ``skip`` removed."""
    for data in skip:
        part = part.replace(data, "")
    part = re.sub(r"<textarea\b[^>]*>.*?</textarea>", "", part, flags=re.DOTALL)  # what was typed
    found = [m.group(1) for m in ATTRS.finditer(part)]
    for tag in tags:
        for m in re.finditer(rf"<{tag}\b[^>]*>(.*?)</{tag}>", part, re.DOTALL):
            found.append(re.sub(r"<[^>]+>", " ", m.group(1)))
    return [" ".join(htmllib.unescape(text).split()) for text in found]


def assert_english(
    page: httpx.Response,
    *phrases: str,
    tags: tuple[str, ...] = FIXED_TAGS,
    skip: tuple[str, ...] = (),
    status: int = 200,
) -> None:
    assert page.status_code == status, page.text[:2000]
    text = htmllib.unescape(page.text)
    missing = [p for p in phrases if p not in text]
    assert not missing, missing
    chinese = [t for t in fixed_texts(main_of(page.text), tags, skip) if CJK.search(t)]
    assert not chinese, chinese


def assert_chinese(page: httpx.Response, *phrases: str, status: int = 200) -> None:
    assert page.status_code == status, page.text[:2000]
    text = htmllib.unescape(page.text)
    missing = [p for p in phrases if p not in text]
    assert not missing, missing


async def test_i18n_admin_pages_in_english(http, settings):
    await seed_templates(settings.sqlalchemy_url())
    login_as(http, "admin")
    current = (await http.get("/api/v1/sla/versions/current")).json()
    rule = next(r for r in current["rules"] if r["process"] == "presales" and r["step"] == "follow_up")
    templates = (await http.get("/api/v1/templates", params={"purpose": "care"})).json()
    template = next(t for t in templates if t["channel"] == "email" and t["locale"] == "zh-CN")
    version_notes = tuple(v["note"] for v in (await http.get("/api/v1/sla/versions")).json())

    english(http)
    sla = await http.get("/admin/sla")
    assert_english(sla, "SLA policies", "Version history", "Escalation chain", "Source", skip=version_notes)
    assert ">Edit</a>" in sla.text
    rule_page = await http.get(f"/admin/sla/rules/{rule['id']}")
    assert_english(rule_page, "Edit SLA rule", "Publish new version", "Warning point (share of the target)")
    assert "80% of the time is used" in rule_page.text
    bad = await http.post(
        f"/admin/sla/rules/{rule['id']}",
        data={"target": "2d", "warn_at": "x", "calendar": "24x7", "owner_role": "supervisor", "note": "n"},
    )
    assert_english(bad, "Enter a decimal between 0 and 1, e.g. 0.8", status=422)
    calendars = await http.get("/admin/calendars")
    titles = tuple(r["title"] for r in rows(settings, "SELECT title FROM calendars"))
    assert_english(calendars, "Business calendars", "Public holidays", "Mon", skip=titles)
    calendar = await http.get("/admin/calendars/cn-standard?year=2027")
    assert_english(
        calendar,
        "Business calendar cn-standard",
        "2027: the holiday data package does not yet have",
        "Deadline calculator",
        "Add an override day",
        skip=titles,
    )
    deadline = await http.post("/admin/calendars/cn-standard/deadline", data={"start": "", "duration": "2h"})
    assert_english(deadline, "Enter the start time", status=422, skip=titles)
    listing = await http.get("/admin/templates")
    subjects = tuple(t["subject"] for t in (await http.get("/api/v1/templates")).json())
    assert_english(listing, "Message templates", "Apology", "Last changed", skip=subjects)
    editor = await http.get(f"/admin/templates/{template['id']}")
    assert_english(editor, "Edit template: Care greeting", "Available variables", "Case details")
    assert "<code>{{ customer.name }}</code>" in editor.text
    broken = await http.post(
        f"/admin/templates/{template['id']}",
        data={"subject": template["subject"], "body": "{% if %}", "action": "save"},
    )
    assert_english(broken, "Body template syntax error (line 1)", status=422)
    for path, heading in (("/inbox", "Inbox"), ("/outbox", "Outbox")):
        page = await http.get(path)
        assert_english(page, heading, "Filter", tags=("h1", "th", "button", "option"))

    english(http, False)
    assert_chinese(await http.get("/admin/sla"), "SLA 策略", "版本历史", "升级链")
    assert_chinese(await http.get(f"/admin/sla/rules/{rule['id']}"), "修改 SLA 规则", "用去 80% 时预警")
    assert_chinese(await http.get("/admin/calendars"), "工作日历", "法定节假日", "周一")
    assert_chinese(await http.get("/admin/calendars/cn-standard?year=2027"), "2027 年：节假日数据包尚无")
    assert_chinese(await http.get("/admin/templates"), "消息模板", "致歉")
    assert_chinese(await http.get(f"/admin/templates/{template['id']}"), "编辑模板：关怀问候", "可用变量")
    assert_chinese(await http.get("/inbox"), "收件箱", "筛选")
    assert_chinese(await http.get("/outbox"), "发件箱", "全部渠道")


async def test_i18n_library_and_pushes_in_english(http, settings):
    marker = uuid.uuid4().hex[:8]
    title = f"Export fails {marker}"
    form = {
        "title": title,
        "symptom": "The report export stops",
        "remedy": "Retry after midnight",
        "tags": "",
    }
    created = await http.post("/library/new", data=form)
    assert created.status_code == 303, created.text
    entry = created.headers["location"]

    english(http)
    search = await http.get("/library", params={"q": marker})
    assert_english(search, "Case library", "Manual entry (FAQ)", "Symptom", "Resolution", title)
    everything = await http.get("/library")
    assert_english(everything, "Case library", "All categories", tags=("h1", "button", "option", "dt"))
    assert_english(await http.get(entry), title, "Tags", "Manual entry (FAQ)", "Delete this entry?")
    assert_english(
        await http.get(f"{entry}/edit"), f"Edit entry: {title}", "Symptom (in the customer's words)"
    )
    assert_english(
        await http.get("/library/new"), "New library entry", "Tags (separated by commas or spaces)"
    )
    bad = await http.post("/library/new", data={**form, "title": ""})
    assert_english(bad, "Please correct the marked fields.", status=422)
    assert not CJK.search(re.search(r'<em class="error">(.*?)</em>', bad.text).group(1))

    tag = a_tag()
    customer(settings, tag)
    body = {"tag": tag, "service": f"Free check-up {marker}", "link": LINK, "owner": "ops.e"}
    started = await http.post("/api/v1/pushes", json=body)
    assert started.status_code == 201, started.text
    number = started.json()["number"]
    try:
        await pushed(settings, number)
        services = tuple(r["service"] for r in (await http.get("/api/v1/push-services")).json())
        assert_english(
            await http.get("/pushes"), "Value-added push", "Open rate", "Conversions", tags=("h1", "th")
        )
        detail = await http.get(f"/pushes/{number}")
        assert_english(
            detail, "Value-added push record", "Response rate", "Tracking in progress", "View in Temporal UI"
        )
        assert_english(
            await http.get("/pushes/new"),
            "Start a value-added push",
            "Customer's preferred channel",
            skip=services,
        )
        assert_english(
            await http.get("/pushes/services"), "Tag–service matching", "Add a match", skip=services
        )

        english(http, False)
        assert_chinese(await http.get(f"/pushes/{number}"), "增值服务推送记录", "响应率", "效果跟踪中")
        assert_chinese(await http.get("/pushes"), "增值服务推送", "打开率")
        assert_chinese(await http.get("/pushes/new"), "发起增值服务推送", "按客户偏好渠道")
        assert_chinese(await http.get("/pushes/services"), "标签与服务匹配", "添加匹配")
    finally:
        close = {"actor": "test", "reason": "test over"}
        await http.post(f"/api/v1/cases/{number}/actions/close", json=close)
    assert_chinese(await http.get("/library", params={"q": marker}), "案例库", "手工条目（FAQ）", "问题现象")
    assert_chinese(await http.get(entry), "解决方案", "原因分析", "编辑")
    assert_chinese(await http.get("/library/new"), "新建案例库条目", "标签（用逗号或空格分隔）")


async def test_i18n_records_and_reports_in_english(http, settings):
    english(http)
    records = await http.get("/records", params={"process": "complaint"})
    assert_english(
        records, "Record exports", "Complaint tracking records", "Download CSV", tags=("h1", "th", "label")
    )
    assert "lang=en" in records.text  # the download speaks the page's language
    bad = await http.get("/records", params={"process": "complaint", "from": "x"})
    assert_english(bad, "Start date: Enter a date as YYYY-MM-DD", status=422)
    report = await http.get("/reports/complaints", params={"from": "2026-01-01", "to": "2026-01-31"})
    assert_english(
        report, "Complaint report", "Complaint handling satisfaction", "Major complaint callback rate"
    )
    assert_english(await http.get("/surveys"), "Survey summary", "Periodic surveys", "Response rate")
    improvements = await http.get("/improvements")
    assert_english(
        improvements, "Satisfaction improvement tasks", "Survey summary →", tags=("h1", "button", "label")
    )

    english(http, False)
    records = await http.get("/records", params={"process": "complaint"})
    assert_chinese(records, "记录表导出", "客户投诉处理跟踪表", "下载 CSV")
    assert "lang=en" not in records.text
    assert_chinese(await http.get("/reports/complaints"), "投诉处理报表", "重大投诉回访率")
    assert_chinese(await http.get("/surveys"), "满意度调查汇总", "定期调查")
    assert_chinese(await http.get("/improvements"), "满意度改进任务", "满意度调查汇总 →")


async def test_i18n_survey_page_speaks_the_customers_language(http, settings):
    """The public page follows customers.locale, whatever the staff language cookie says."""
    _, customer_id = await case_with_customer(settings)
    number, chinese_customer = await case_with_customer(settings)
    rows(settings, "UPDATE customers SET locale='en' WHERE id=%s RETURNING id", customer_id)
    english_survey = await issue(settings, customer_id=customer_id)
    chinese_survey = await issue(settings, customer_id=chinese_customer, number=number)

    english(http, False)
    page = await http.get(path_of(english_survey))
    assert_chinese(page, "How satisfied are you with this service?", "1 Very dissatisfied", "Submit")
    assert not CJK.search(page.text) and '<html lang="en">' in page.text
    wrong = await http.post(path_of(english_survey), data={"score": "9"})
    assert_chinese(wrong, "Please choose a score from 1 to 5", status=422)
    thanks = await http.post(path_of(english_survey), data={"score": "5"})
    assert_chinese(thanks, "Thank you for your feedback!", "Your score (5) has been submitted.")
    again = await http.get(path_of(english_survey))
    assert_chinese(again, "Already submitted", status=409)

    english(http)
    assert_chinese(await http.get("/s/not-a-token"), "链接无效", status=404)  # no customer: the default
    page = await http.get(path_of(chinese_survey))
    assert_chinese(page, "您对本次服务满意吗？", "1 非常不满意", "提交")
    assert '<html lang="zh-CN">' in page.text


async def test_i18n_tier_pages_in_english(http, settings):
    login_as(http, "sales_supervisor")
    approver = Logins.display_name("sales_supervisor")
    customer_id = rows(
        settings,
        "INSERT INTO customers (type, name, contacts, tier) VALUES ('enterprise', %s, '[]', 'normal') RETURNING id",
        f"Tier Co {uuid.uuid4().hex[:6]}",
    )[0]["id"]
    proposal = {"customer_id": customer_id, "proposed_tier": "key", "reason": "industry leader"}
    first = await http.post("/api/v1/tiers/reviews", json=proposal)
    assert first.status_code == 201, first.text
    assert (
        await http.post(f"/api/v1/tiers/reviews/{first.json()['id']}/approve", json={})
    ).status_code == 200
    second = await http.post("/api/v1/tiers/reviews", json={**proposal, "proposed_tier": "vip"})
    assert second.status_code == 201, second.text

    english(http)
    reviews = await http.get("/tiers/reviews")
    assert_english(
        reviews,
        "Tier reviews",
        "Account manager adjustment",
        "Sales supervisor approval",
        "Re-evaluate now",
        tags=("h1", "h3", "button", "label"),
    )
    assert_english(await http.get("/tiers/reviews?status=approved"), "Tier reviews", tags=("h1", "button"))
    models = await http.get("/tiers/models")
    assert_english(
        models,
        "Tier scoring models",
        "All industries (default)",
        "Add an industry model",
        tags=("h1", "th", "label", "button"),
    )
    bad = await http.post("/tiers/models", data={"industry": "*", "model": "rfm", "weight_recency": "x"})
    assert_english(bad, "Enter a number from 0 to 100", status=422, tags=("h1", "th", "label", "button"))
    profile = await http.get(f"/customers/{customer_id}")
    assert profile.status_code == 200
    panel = profile.text.split('id="tier">', 1)[1].split("</section>", 1)[0]
    assert "Customer tier" in panel and "Pending review" in panel and "Tier history" in panel
    assert f"Approved by {approver}" in panel and "Not scored yet" in panel
    assert not CJK.search(panel.replace(approver, "")), panel

    english(http, False)
    assert_chinese(await http.get("/tiers/reviews"), "客户分级审核", "客户经理调整", "销售主管审批通过")
    assert_chinese(await http.get("/tiers/models"), "客户分级评分模型", "所有行业（默认）")
    panel = (await http.get(f"/customers/{customer_id}")).text.split('id="tier">', 1)[1]
    assert "客户分级" in panel and "待审核" in panel and "等级变更记录" in panel
    # Leave no pending review behind for the queue of later tests.
    assert (
        await http.post(f"/api/v1/tiers/reviews/{second.json()['id']}/reject", json={})
    ).status_code == 200
