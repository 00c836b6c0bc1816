"""English pages (issue 6 item 7) for signing in, customer import, duplicates and review (C-2, C-3), the admin
pages for API tokens and the audit log (SEC-2, SEC-4), revealed contact details (SEC-1), the tiered-service
report (T-6) and compliance sampling (T-7) — each also still in Chinese without the language cookie. Real
app, worker, Temporal test server and Postgres."""

from __future__ import annotations

import html as htmllib
import re
import uuid

from api.i18n import gettext, locale_var
from domain.customers import TIER_BENEFITS
from domain.models import Role
from tests.api.test_auth import (
    customer,
    login_form_token,
    web,  # noqa: F401 (fixture)
)
from tests.api.test_cases_api import INQUIRY, open_step
from tests.api.test_customer_import import csv_bytes, phone
from tests.api.test_i18n_h10 import CJK, assert_chinese, assert_english, english, main_of
from tests.signin import Logins, anonymous, login_as
from tests.workflows.helpers import eventually, rows

ON_FILE = {k: v for k, v in INQUIRY.items() if k != "customer"}  # an inquiry from a customer on file


def page_text(part: str, skip: tuple[str, ...] = ()) -> str:
    """The visible text of ``part`` (no scripts or styles), with the data in ``skip`` removed."""
    part = re.sub(r"<(script|style)\b.*?</\1>", " ", part, flags=re.DOTALL)
    text = htmllib.unescape(re.sub(r"<[^>]+>", " ", part))
    for data in sorted(skip, key=len, reverse=True):
        text = text.replace(data, " ")
    return text


def assert_no_chinese(part: str, skip: tuple[str, ...] = ()) -> None:
    found = [line.strip() for line in page_text(part, skip).splitlines() if CJK.search(line)]
    assert not found, found


async def test_i18n_login_page_in_english(web):  # noqa: F811
    http = english(anonymous(web))
    page = await http.get("/login")
    assert_english(
        page, "Sign in to Careflow", "Username", "Password", "Accounts are created by an administrator"
    )
    assert '<a href="/docs">/api/v1</a>' in page.text and "<code>careflow users add</code>" in page.text
    assert_no_chinese(main_of(page.text))
    fields = {"username": "nobody.h11", "password": "x", "csrf_token": login_form_token(page), "next": "/"}
    bad = await http.post("/login", data=fields)
    assert_english(bad, "Incorrect username or password", status=401)
    assert_no_chinese(main_of(bad.text))
    stale = await http.post("/login", data={**fields, "csrf_token": "stale"})
    assert_english(stale, "The sign-in form has expired; please submit it again.", status=403)

    english(http, False)
    assert_chinese(await http.get("/login"), "登录 Careflow", "用户名", "密码", "账号由管理员开通")
    fields["csrf_token"] = login_form_token(await http.get("/login"))
    assert_chinese(await http.post("/login", data=fields), "用户名或密码不正确", status=401)


async def test_i18n_customer_quality_pages_in_english(http, settings):
    login_as(http, "customer_ops")
    tag = uuid.uuid4().hex[:6]
    same = phone()
    names = (f"导入甲{tag}", f"导入乙{tag}")
    data = csv_bytes([["客户名称", "手机"], [names[0], same], [names[1], same], [f"坏行{tag}", "110"]])
    english(http)
    started = await http.post("/customers/import", files={"file": ("h11.csv", data)})
    assert started.status_code == 303, started.text
    job = started.headers["location"]
    job_id = int(job.rsplit("/", 1)[1])

    def done() -> bool:
        return (
            rows(settings, "SELECT status FROM customer_imports WHERE id=%s", job_id)[0]["status"] == "done"
        )

    await eventually(done, "the import finishes")
    ops_name = Logins.display_name(Role.CUSTOMER_OPS)
    report = await http.get(job)
    assert_english(
        report,
        f"Import #{job_id}",
        "Rows with errors",
        "Possible duplicates",
        "Matches existing customer",
        "Created 2",
        skip=(*names, ops_name),
    )
    assert_no_chinese(main_of(report.text), (*names, ops_name, "h11.csv", *_row_errors(settings, job_id)))

    form = await http.get("/customers/import")
    assert_english(form, "Import customers", "Recent imports", "Start import", "Accepted headers")
    empty = await http.post("/customers/import", data={"csrf_token": ""})
    assert_english(empty, "Choose a CSV or XLSX file to import", status=422)

    duplicates = await http.get("/customers/duplicates")
    # Every customer in the database may be listed (names, company names): check the page's own elements.
    own = ("h1", "th", "button", "summary")
    assert_english(
        duplicates, "Possible duplicate customers", "Keep #", "Merge the selected record into #", tags=own
    )
    review = await http.get("/customers/review")
    assert_english(review, "Customers pending review", "Approve", "All possible duplicates →", tags=own)
    first = rows(settings, "SELECT id FROM customers WHERE name=%s", names[0])[0]["id"]
    panel = re.search(
        r'<section[^>]*id="customer-review-panel".*?</section>',
        (await http.get(f"/customers/{first}")).text,
        re.DOTALL,
    )
    assert panel and "Review and duplicates" in panel[0] and "Possible duplicates: " in panel[0]
    assert_no_chinese(panel[0], names)
    merged = await http.post(
        f"/customers/{first}/merge", data={"duplicate_id": "x", "next": "/customers/review"}
    )
    assert merged.status_code == 422 and "Choose the duplicate record to merge in" in merged.text

    # The case page's customer panel offers the reveal button to a role that may use it (SEC-1).
    login_as(http, Role.SUPERVISOR)
    started = await http.post("/api/v1/cases/presales", json={**ON_FILE, "customer_id": first})
    assert started.status_code == 201, started.text
    number = started.json()["number"]
    await open_step(http, number, "first_response")  # the case's row is written
    panel = await english(login_as(http, Role.AGENT)).get(f"/cases/{number}/customer")
    assert "Show full contact details" in panel.text and "Viewing is recorded in the audit log" in panel.text
    english(http, False)
    assert "显示完整联系方式" in (await http.get(f"/cases/{number}/customer")).text
    login_as(http, Role.SUPERVISOR)
    closed = await http.post(
        f"/api/v1/cases/{number}/actions/close", json={"actor": "test", "reason": "test over"}
    )
    assert closed.status_code == 200, closed.text
    login_as(http, "customer_ops")
    assert_chinese(await http.get(job), f"导入 #{job_id}", "错误行", "与已有客户相同", "新建 2")
    assert_chinese(await http.get("/customers/import"), "批量导入客户", "最近的导入", "开始导入")
    assert_chinese(await http.get("/customers/duplicates"), "疑似重复客户", "保留 #")
    assert_chinese(await http.get("/customers/review"), "待审核客户", "审核通过")
    assert_chinese(await http.get(f"/customers/{first}"), "资料审核与去重", "疑似重复：")


def _row_errors(settings, job_id: int) -> tuple[str, ...]:
    """The import's per-row errors as the report shows them: the file's own column header and the message
    (domain text, in Chinese)."""
    found = rows(settings, "SELECT errors FROM customer_imports WHERE id=%s", job_id)[0]["errors"] or []
    return tuple(text for e in found for text in (e.get("column") or "", e["message"]) if text)


async def test_i18n_admin_tokens_and_audit_in_english(web, settings):  # noqa: F811
    http = english(login_as(web, Role.ADMIN))
    tokens = await http.get("/admin/tokens")
    names = tuple(r["name"] for r in rows(settings, "SELECT name FROM api_tokens"))
    creators = tuple(r["created_by"] for r in rows(settings, "SELECT DISTINCT created_by FROM api_tokens"))
    assert_english(tokens, "API tokens", "New token", "Scopes", "Create token", "Last used", skip=names)
    assert_no_chinese(main_of(tokens.text), (*names, *creators))
    name = f"h11-{uuid.uuid4().hex[:6]}"
    made = await http.post("/admin/tokens", data={"name": name, "scopes": "cases:read"})
    assert_english(made, f"Token “{name}” created", "this token is shown only once", status=201)
    missing = await http.post("/admin/tokens/999999999/revoke")
    assert missing.status_code == 404 and "No token #999999999" in missing.text

    audit = await http.get("/admin/audit", params={"action": f"h11.none.{name}"})
    assert_english(audit, "Audit log", "0 entries (SEC-2: append-only)", "No records match.", "Actor")
    assert_no_chinese(main_of(audit.text))
    bad = await http.get("/admin/audit", params={"since": "yesterday"})
    assert_english(bad, "Start date: Enter a date as YYYY-MM-DD", status=422, tags=("h1", "th", "button"))

    cid = customer(settings)  # 李先生, contact 李太太
    revealed = await english(login_as(web, Role.AGENT)).post(f"/customers/{cid}/reveal")
    assert_english(
        revealed, "Full contact details", "Mobile", "recorded in the audit log", skip=("李先生", "李太太")
    )
    assert_no_chinese(main_of(revealed.text), ("李先生", "李太太"))

    english(http, False)
    login_as(http, Role.ADMIN)
    assert_chinese(await http.get("/admin/tokens"), "API 令牌", "新建令牌", "权限范围", "创建令牌")
    assert_chinese(await http.get("/admin/audit"), "审计日志", "只增不改", "操作人")
    login_as(http, Role.AGENT)
    assert_chinese(await http.post(f"/customers/{cid}/reveal"), "完整联系方式", "已记入审计日志")


async def test_i18n_tier_report_and_compliance_in_english(web):  # noqa: F811
    http = english(login_as(web, Role.SUPERVISOR))
    report = await http.get("/reports/tiers", params={"month": "2026-10", "quarter": "2026Q4"})
    assert_english(
        report, "2026-10 monthly report", "2026Q4 quarterly review", "On-time response", "Retention", "Total"
    )
    assert_no_chinese(main_of(report.text))
    bad = await http.get("/reports/tiers", params={"month": "2026-13", "quarter": "Q9"})
    assert_english(bad, "Month: Use the format 2026-10", "Quarter: Use the format 2026Q4", status=422)

    month = "2001-02"  # long over, and no service records closed in it
    drawn = await http.post("/compliance/draw", data={"month": month})
    assert drawn.status_code == 303, drawn.text
    page = await http.get("/compliance", params={"month": month})
    assert_english(
        page, f"{month} spot check results", "No service records were closed this month", "Breached steps"
    )
    assert_no_chinese(main_of(page.text), (Logins.display_name(Role.SUPERVISOR),))
    undrawn = await http.get("/compliance", params={"month": "2001-03"})
    assert_english(undrawn, "2001-03 not drawn yet", "Draw 10% of the 2001-03 service records now")
    missing = await http.post("/compliance/samples/999999999/verdict", data={"month": month, "verdict": "ok"})
    assert_english(missing, "Sampled record: No such sampled record", status=404)

    english(http, False)
    assert_chinese(
        await http.get("/reports/tiers", params={"month": "2026-10"}), "2026-10 月度报告", "响应及时率"
    )
    assert_chinese(await http.get("/compliance", params={"month": month}), f"{month} 抽查结果", "无需抽查")
    assert_chinese(
        await http.get("/compliance", params={"month": "2001-03"}), "立即抽取 2001-03 的 10% 服务记录"
    )


def test_i18n_tier_standards_are_translated():
    """The compliance page shows the tiers' standards (T-5) in the reader's language."""
    token = locale_var.set("en")
    try:
        english_standards = [gettext(text) for text in TIER_BENEFITS.values()]
    finally:
        locale_var.reset(token)
    assert not [text for text in english_standards if CJK.search(text)], english_standards
