"""English pages of the staff workspace and the customer records (issue 6 item 7): the top bar, my queue,
the dashboard, the case list, a case page, the new-case forms, the customer list, form and page; zh-CN stays
the default; the language switch sets its cookie and only redirects within the site."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from pydantic import ValidationError

from api.app import create_app
from api.auth import CSRF_HEADER, SESSION_COOKIE, save_user, start_session
from api.customers import PROFILE_MESSAGES
from api.i18n import LANG_COOKIE
from api.privacy import mask_text
from db.engine import sessionmaker_for
from domain.customers import CustomerProfile
from tests.api.test_cases_api import INQUIRY, open_step
from tests.api.test_customer_pages import FORM, post
from tests.signin import HOST, anonymous, remove_staff


@pytest.fixture(scope="module", autouse=True)
async def _remove_accounts(settings) -> AsyncIterator[None]:
    yield
    await remove_staff(settings, "h9.%")


# CJK ideographs and the full-width punctuation that goes with them (（）：，。).
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
# The language switch names each language in itself ("中文" on an English page).
ENDONYMS = ("中文", "简体中文")
# Elements whose text is the page's own wording, never data: headings, column heads, field names, buttons,
# the navigation; and the attributes a screen reader or an empty input shows.
FIXED = re.compile(
    r"<(h1|h2|h3|th|dt|legend|button|summary|label|nav)\b[^>]*>(.*?)</\1>|"
    r'\b(?:placeholder|aria-label|title)="([^"]*)"',
    re.DOTALL,
)


# What the inquiry's customer typed (tests/api/test_cases_api.py), as the pages show it.
INQUIRY_DATA = (
    *INQUIRY["customer"].values(),
    *(v for v in INQUIRY.values() if isinstance(v, str)),
    mask_text(INQUIRY["contact"]),
)
# Other features' panels on the customer page (api/web/customer_panels.py) word themselves.
PANELS = re.compile(r'<section[^>]*id="(?:customer-review-panel|tier|care)".*?</section>', re.DOTALL)


def english(http: httpx.AsyncClient) -> httpx.AsyncClient:
    http.cookies.set(LANG_COOKIE, "en", domain=HOST)
    return http


def chinese(http: httpx.AsyncClient) -> httpx.AsyncClient:
    http.cookies.delete(LANG_COOKIE, domain=HOST)
    return http


def text_of(html: str, *data: str) -> str:
    """The page's visible text with the given data (names, notes the test typed) and the endonyms removed."""
    html = re.sub(r"<script\b.*?</script>", " ", html, flags=re.DOTALL)
    text = re.sub(r"<[^>]+>", " ", html)
    for value in sorted((*data, *ENDONYMS), key=len, reverse=True):  # longest first: no partial leftovers
        text = text.replace(value, " ")
    return text


def fixed_text(html: str, *data: str) -> str:
    """The text of the page's fixed elements (FIXED), data removed."""
    parts = [m.group(2) if m.group(2) is not None else m.group(3) for m in FIXED.finditer(html)]
    return text_of(" ".join(parts), *data)


def assert_english(text: str, where: str) -> None:
    found = sorted(set(CJK.findall(text)))
    assert not found, (
        f"{where} still shows Chinese: {found} in …{text[max(0, text.find(found[0]) - 80) :][:200]}"
    )


def cjk_free(html: str, where: str, *data: str) -> None:
    assert_english(fixed_text(html, *data), where)


async def test_i18n_queue_and_dashboard_in_english(http, logins):
    me = logins.display_name("supervisor")
    # A case of mine, so my queue and the dashboard's backlog have a row to word.
    r = await http.post("/api/v1/cases/presales", json={**INQUIRY, "external_ref": f"h9-{uuid.uuid4()}"})
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    await open_step(http, number, "first_response")
    r = await http.post(f"/api/v1/cases/{number}/actions/assign", json={"actor": me, "owner": me})
    assert r.status_code == 200, r.text
    english(http)
    for path, heading in (("/queue", "My queue"), ("/dashboard", "Dashboard"), ("/cases", "Cases")):
        page = await http.get(path)
        assert page.status_code == 200, page.text
        assert f"<h1>{heading} " in page.text or f"<h1>{heading}</h1>" in page.text, path
        assert '<html lang="en"' in page.text
        cjk_free(page.text, path, me)
    queue = await http.get("/queue")
    assert "Current step</th>" in queue.text and "Refreshes every 30 seconds." in queue.text
    assert "Sign out</button>" in queue.text and ">Customers and service</summary>" in queue.text
    # The countdown's words come from the catalog too.
    assert 'const LEFT = "Due in", OVERDUE = "Breached";' in queue.text
    rows = await http.get("/queue/rows")
    assert rows.status_code == 200 and re.search(r'id="queue-count" hx-swap-oob="true">\d+ total<', rows.text)
    row = re.search(rf'<tr class="[^"]*" id="q-{number}">(.*?)</tr>', rows.text, re.DOTALL)
    assert row, f"{number} is not in my queue"
    assert '<span class="tag">Mine</span>' in row.group(1) and "<td>First response</td>" in row.group(1)
    assert "Pre-sales inquiry" in row.group(1) and ">On track</span>" in row.group(1)
    assert_english(text_of(row.group(1), me, *INQUIRY_DATA), "my queue's row")
    panel = await http.get("/dashboard/panel")
    assert panel.status_code == 200 and "Backlog by process and step" in panel.text
    assert "<header>Open cases</header>" in panel.text and "Open in Temporal UI" in panel.text
    assert '<th scope="row">Pre-sales inquiry</th>' in panel.text and "<td>First response</td>" in panel.text
    cjk_free(panel.text, "/dashboard/panel")
    # The case list's filters: every choice is a word, never a code or Chinese.
    cases = await http.get("/cases?state=open&sla_state=breached")
    assert ">All processes</option>" in cases.text and ">Pre-sales inquiry</option>" in cases.text
    assert ">On track</option>" in cases.text and ">Filter</button>" in cases.text
    options = " ".join(re.findall(r"<option[^>]*>([^<]*)</option>", cases.text))
    assert_english(options, "/cases filters")
    # The new-case pages: what each process is for, and the intake form's labels and choices.
    index = await http.get("/cases/new")
    assert "<h1>New case</h1>" in index.text and "respond within 5 minutes" in index.text
    assert_english(text_of(index.text, me), "/cases/new")
    form = await http.get("/cases/new/presales")
    assert "<h1>New Pre-sales inquiry</h1>" in form.text and ">Submit</button>" in form.text
    assert "<span>Existing customer number</span>" in form.text
    assert_english(text_of(form.text, me), "/cases/new/presales")


async def english_staff(env, settings, username: str) -> httpx.AsyncClient:
    """A staff member whose profile says English and New York time, signed in (no language cookie)."""
    async with sessionmaker_for(settings.sqlalchemy_url())() as db, db.begin():
        staff = await save_user(
            db, username=username, role="supervisor", password="i18n-pass-1", display_name=username
        )
        staff.locale, staff.timezone = "en", "America/New_York"
        token, csrf = await start_session(db, staff, hours=1)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(settings, client=env.client)),
        base_url=f"http://{HOST}",
        cookies={SESSION_COOKIE: token},
        headers={CSRF_HEADER: csrf},
    )


async def test_i18n_case_page_in_english(env, settings, http, logins):
    body = {**INQUIRY, "external_ref": f"h9-{uuid.uuid4()}"}
    r = await http.post("/api/v1/cases/presales", json=body)
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    detail = await open_step(http, number, "first_response")
    data = (logins.display_name("supervisor"), *INQUIRY_DATA)

    page = await english(http).get(f"/cases/{number}")
    assert page.status_code == 200, page.text
    html = page.text
    assert "<h2>Current step: First response</h2>" in html and "Role: " in html
    assert "Full history in Temporal UI" in html and "<h2>Steps and SLA</h2>" in html
    assert "<h3>Record first response</h3>" in html and "<th>Started</th>" in html
    assert "Pre-sales inquiry records" in html  # the record card's title and headers
    assert_english(text_of(html, *data), f"/cases/{number}")

    # The customer panel (htmx); the contact-reveal button inside it is another page's fragment.
    panel = await http.get(f"/cases/{number}/customer")
    assert panel.status_code == 200 and "<dt>Tier</dt>" in panel.text and "View customer" in panel.text
    own = re.sub(r'<form[^>]*class="reveal".*?</form>', " ", panel.text, flags=re.DOTALL)
    assert_english(text_of(own, *data), "case customer panel")

    # An action's error, worded in English where it is shown.
    bad = await http.post(
        f"/cases/{number}/actions/respond", data={"csrf_token": http.cookies.get("careflow_csrf") or ""}
    )
    assert bad.status_code == 422 and "Required" in bad.text and "必填" not in bad.text

    # Without the cookie, the user's own preference picks English, and times are in the user's zone.
    browser = await english_staff(env, settings, f"h9.en.{uuid.uuid4().hex[:6]}")
    async with browser:
        page = await browser.get(f"/cases/{number}")
    assert page.status_code == 200 and '<html lang="en"' in page.text
    opened = datetime.fromisoformat(detail["live"]["open_step"]["opened_at"])
    shown = opened.astimezone(ZoneInfo("America/New_York")).strftime("%Y-%m-%d %H:%M:%S")
    assert f"Started: {shown}" in page.text


async def test_i18n_customer_pages_in_english(http, settings, logins):
    name = f"h9客户-{uuid.uuid4().hex[:6]}"
    created = await post(http, "/customers/new", {**FORM, "name": name})
    assert created.status_code == 303, created.text
    cid = int(created.headers["location"].rsplit("/", 1)[1])
    data = (
        logins.display_name("supervisor"),
        name,
        *(v for k, v in FORM.items() if k not in ("type", "locale")),
        "高频购买",
        "价格敏感",
        "有升级需求",
    )
    english(http)

    listing = await http.get("/customers", params={"q": name})
    assert listing.status_code == 200 and "<h1>Customer records <small>1 total</small></h1>" in listing.text
    assert ">All lifecycle stages</option>" in listing.text and ">Search</button>" in listing.text
    assert f'<a href="/customers/{cid}">{name}</a>' in listing.text
    # The tag and owner filters list every customer's data; the fixed text and the "all" choices are ours.
    cjk_free(listing.text, "/customers", *data)
    assert_english(
        " ".join(re.findall(r'<option value="">([^<]*)</option>', listing.text)), "/customers filters"
    )

    page = await http.get(f"/customers/{cid}")
    assert page.status_code == 200
    assert (
        "<h2>Interaction timeline" in page.text and "Edit profile" in page.text and "ending 3445" in page.text
    )
    assert "<dt>Industry</dt>" in page.text and ">Decision maker<" in page.text
    assert_english(text_of(PANELS.sub(" ", page.text), *data), f"/customers/{cid}")

    for path in ("/customers/new", f"/customers/{cid}/edit"):
        form = await http.get(path)
        assert form.status_code == 200 and "<legend>Basic information</legend>" in form.text
        assert "Customer tags (comma-separated" in form.text and ">Save</button>" in form.text
        assert (
            ">Decision maker</option>" in form.text and "11-digit mainland China mobile number" in form.text
        )
        assert_english(text_of(form.text, *data), path)

    # Errors in English where the form shows them; the API keeps the profile's Chinese messages.
    bad = await post(
        http, "/customers/new", {**FORM, "name": name, "phone": "12345", "anniversary": "2015-13-45"}
    )
    assert bad.status_code == 422 and "Please correct the marked fields." in bad.text
    assert "Invalid mobile number" in bad.text and "Enter a valid date (e.g. 2024-05-01)" in bad.text
    with pytest.raises(ValidationError) as raised:
        CustomerProfile.model_validate({"type": "individual", "name": "x", "phone": "12345", "email": "bad"})
    assert {e["msg"].removeprefix("Value error, ") for e in raised.value.errors()} == set(PROFILE_MESSAGES)


async def test_i18n_language_switch_sets_cookie_and_redirects_only_within_the_site(http):
    signed_in = await http.get("/lang/en", params={"next": "/queue"})
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/queue"
    assert f"{LANG_COOKIE}=en" in signed_in.headers["set-cookie"]
    page = await http.get("/queue")  # the client keeps the cookie, as a browser does
    assert "<h1>My queue " in page.text
    # The top bar's link back to Chinese names the page it is on.
    assert '<a href="/lang/zh-CN?next=/queue" hreflang="zh-CN">中文</a>' in page.text

    for unsafe in ("//evil.example", "https://evil.example/", "evil.example"):
        r = await http.get("/lang/zh-CN", params={"next": unsafe})
        assert r.status_code == 303 and r.headers["location"] == "/", unsafe
    assert (await http.get("/lang/xx")).status_code == 422

    # The login page, signed out: the switch is there and works the same way.
    anonymous(http)
    login = await http.get("/login")
    assert login.status_code == 200 and 'href="/lang/en?next=/login"' in login.text
    r = await http.get("/lang/en", params={"next": "/login"})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert f"{LANG_COOKIE}=en" in r.headers["set-cookie"]


async def test_i18n_chinese_is_default(http, settings):
    chinese(http)
    name = f"h9默认-{uuid.uuid4().hex[:6]}"
    created = await post(http, "/customers/new", {**FORM, "name": name})
    cid = int(created.headers["location"].rsplit("/", 1)[1])
    expected = {
        "/queue": ("<h1>我的队列 <small", "退出登录</button>", f"const LEFT = {json.dumps('剩余')}"),
        "/dashboard": ("<h1>主管看板</h1>", "积压：按流程与步骤"),
        "/cases": ("<h1>案件列表 <small>共 ", ">全部流程</option>"),
        "/cases/new": ("<h1>新建案件</h1>", "5 分钟内响应"),
        "/cases/new/presales": ("<h1>新建售前咨询</h1>", "<span>已有客户编号</span>", "<span>核心需求 "),
        "/customers": ("<h1>客户档案 <small>共 ", ">全部生命周期</option>"),
        "/customers/new": ("<legend>基本信息</legend>", "11 位大陆手机号", ">决策人</option>"),
        f"/customers/{cid}": ("<h2>互动时间线", "编辑档案", "尾号 3445"),
    }
    for path, texts in expected.items():
        page = await http.get(path)
        assert page.status_code == 200 and '<html lang="zh-CN"' in page.text, path
        for text in texts:
            assert text in page.text, (path, text)
        assert "Sign out" not in page.text and '<a href="/lang/en?next=' in page.text
