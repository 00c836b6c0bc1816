"""REST /api/v1 notifications and templates (COM-2), and the inbox, outbox and template pages."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.testing import ActivityEnvironment

from activities.changes import Notice
from activities.messages import seed_templates
from activities.notify import NotifyActivities
from api.app import create_app
from domain.models import Role, Step
from tests.activities.helpers import add_staff, make_case, remove_created_staff, unique
from tests.signin import TOKEN_NAME
from tests.signin import client as signed_in
from tests.workflows.helpers import rows


@pytest.fixture
async def api(settings, logins) -> AsyncIterator[httpx.AsyncClient]:
    """The real app and Postgres; these routes never touch Temporal, so no worker is needed."""
    await seed_templates(settings.sqlalchemy_url())
    async with signed_in(create_app(settings), logins, role=Role.ADMIN) as http:
        yield http


@pytest.fixture(autouse=True)
async def staff_cleanup(settings) -> AsyncIterator[None]:
    yield
    await remove_created_staff(settings.sqlalchemy_url())


async def template_id(api: httpx.AsyncClient, purpose: str, channel: str, tier: str = "*") -> int:
    listed = (await api.get("/api/v1/templates", params={"purpose": purpose})).json()
    [found] = [t for t in listed if t["channel"] == channel and t["tier"] == tier and t["locale"] == "zh-CN"]
    return found["id"]


async def notify_role(settings, role: Role = Role.SUPERVISOR) -> tuple[str, str]:
    url = settings.sqlalchemy_url()
    number = await make_case(url)
    dept = unique("d")
    for _ in range(2):
        await add_staff(url, role=role.value, department=dept)
    notice = Notice(
        key=f"{number}:n",
        number=number,
        purpose="escalation",
        recipient_role=role,
        department=dept,
        step=Step.PROPOSAL,
        level=1,
    )
    await ActivityEnvironment().run(NotifyActivities(url, settings).notify, notice)
    return number, dept


async def test_com2_template_edit_with_bad_jinja_is_422_and_saves_nothing(api, settings):
    tid = await template_id(api, "apology", "email")
    before = (await api.get(f"/api/v1/templates/{tid}")).json()

    bad = [
        ({"subject": before["subject"], "body": "尊敬的{{ customer.name 您好"}, "body", "expected token"),
        ({"subject": before["subject"], "body": "{{ no_such_variable }}"}, "body", "is undefined"),
        ({"subject": "{{ ''.__class__.__mro__ }}", "body": before["body"]}, "subject", "unsafe"),
        ({"subject": "{% for %}", "body": before["body"]}, "subject", "line 1"),
    ]
    for edit, field, message in bad:
        r = await api.put(f"/api/v1/templates/{tid}", json=edit, headers={"X-Careflow-Actor": "admin.wang"})
        assert r.status_code == 422, r.text
        [detail] = r.json()["detail"]
        assert detail["loc"] == ["body", field] and message in detail["msg"], detail
    assert (await api.get(f"/api/v1/templates/{tid}")).json() == before

    good = {
        "subject": "致歉：{{ context.reason }}",
        "body": "尊敬的{{ customer.name }}：非常抱歉。\n{{ history }}",
    }
    r = await api.put(f"/api/v1/templates/{tid}", json=good, headers={"X-Careflow-Actor": "admin.wang"})
    assert (
        r.status_code == 200 and r.json()["body"] == good["body"] and r.json()["updated_by"] == "admin.wang"
    )
    preview = (await api.post(f"/api/v1/templates/{tid}/preview")).json()
    assert preview["subject"] == "致歉：物流延误" and preview["body"].startswith("尊敬的上海某某科技有限公司")
    # Seeding again keeps the admin's text.
    await seed_templates(settings.sqlalchemy_url())
    assert (await api.get(f"/api/v1/templates/{tid}")).json()["body"] == good["body"]
    await api.put(f"/api/v1/templates/{tid}", json={"subject": before["subject"], "body": before["body"]})


async def test_com2_preview_renders_unsaved_text_against_a_sample_case(api):
    tid = await template_id(api, "welcome", "email", tier="vip")
    saved = (await api.post(f"/api/v1/templates/{tid}/preview")).json()
    assert "VIP" in saved["subject"] and "上海某某科技有限公司" in saved["body"]
    r = await api.post(
        f"/api/v1/templates/{tid}/preview", json={"body": "{{ recipient.name }} · {{ tier_label }}"}
    )
    assert r.status_code == 200 and r.json()["body"] == "张伟 · 重点客户"
    r = await api.post(f"/api/v1/templates/{tid}/preview", json={"body": "{% if %}"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "body"]
    assert (await api.post("/api/v1/templates/999999999/preview")).status_code == 404


async def test_com2_new_tier_variant_is_created_once(api):
    purpose = unique("apology_")
    new = {
        "purpose": purpose,
        "channel": "sms",
        "tier": "vip",
        "locale": "zh-CN",
        "subject": "致歉",
        "body": "尊敬的{{ customer.name }}，专属客户经理将在 2 小时内联系您。",
    }
    r = await api.post("/api/v1/templates", json=new)
    assert r.status_code == 201, r.text
    assert r.json()["tier"] == "vip" and r.json()["updated_by"] == TOKEN_NAME
    again = await api.post("/api/v1/templates", json=new)
    assert again.status_code == 409
    bad = await api.post("/api/v1/templates", json={**new, "tier": "*", "body": "{{ customer.nme }}"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "body"]
    assert len((await api.get("/api/v1/templates", params={"purpose": purpose})).json()) == 1
    assert (await api.post("/api/v1/templates", json={**new, "channel": "fax"})).status_code == 422


async def test_esc1_notifications_are_listed_with_filters_and_pages(api, settings):
    number, _ = await notify_role(settings)
    r = await api.get(
        "/api/v1/notifications", params={"case_number": number, "channel": "inbox", "page_size": 1}
    )
    body = r.json()
    assert r.status_code == 200 and body["total"] == 2 and len(body["items"]) == 1 and body["page_size"] == 1
    item = body["items"][0]
    assert (
        item["status"] == "sent"
        and item["recipient_role"] == "supervisor"
        and "已电话联系王经理" in item["body"]
    )
    assert (
        await api.get("/api/v1/notifications", params={"case_number": number, "status": "failed"})
    ).json()["total"] == 0
    assert (await api.get("/api/v1/notifications", params={"status": "lost"})).status_code == 422


async def test_esc1_inbox_shows_unread_first_and_marks_read(api, settings):
    number, _ = await notify_role(settings, Role.DIRECTOR)
    page = await api.get("/inbox", params={"role": "director"})
    assert (
        page.status_code == 200 and "收件箱" in page.text and number in page.text and "标记已读" in page.text
    )
    [first, second] = rows(settings, "SELECT id FROM notifications WHERE case_number=%s ORDER BY id", number)
    r = await api.post(f"/inbox/{first['id']}/read", data={"role": "director", "recipient": ""})
    assert r.status_code == 303 and r.headers["location"] == "/inbox?role=director"
    [read] = rows(settings, "SELECT read_at FROM notifications WHERE id=%s", first["id"])
    assert read["read_at"] is not None
    html = (await api.get("/inbox", params={"role": "director"})).text
    assert html.index(f'id="n-{second["id"]}"') < html.index(f'id="n-{first["id"]}"')  # unread first
    assert (await api.post("/inbox/999999999/read", data={})).status_code == 404


async def test_com2_outbox_lists_every_channel_with_status_and_body(api, settings):
    url = settings.sqlalchemy_url()
    number = await make_case(url)
    boss = await add_staff(url, role="supervisor", email_address="boss@example.com")
    notice = Notice(key=f"{number}:o", number=number, purpose="breach", recipient=boss, step=Step.PROPOSAL)
    await ActivityEnvironment().run(
        NotifyActivities(url, settings.model_copy(update={"smtp_host": None})).notify, notice
    )
    html = (await api.get("/outbox", params={"case_number": number})).text
    assert (
        "发件箱" in html and "站内信" in html and "邮件" in html and "未发送" in html and "SMTP_HOST" in html
    )
    assert f'href="/cases/{number}"' in html and "已电话联系王经理" in html  # the body, behind a click
    only_email = (await api.get("/outbox", params={"case_number": number, "channel": "email"})).text
    assert "SMTP_HOST" in only_email and "站内信</td>" not in only_email


async def test_com2_template_pages_group_by_purpose_and_show_jinja_errors_in_chinese(api, settings):
    listing = await api.get("/admin/templates")
    assert listing.status_code == 200
    assert "升级通知" in listing.text and "致歉" in listing.text and "VIP" in listing.text
    tid = await template_id(api, "care", "email")
    page = await api.get(f"/admin/templates/{tid}")
    assert page.status_code == 200 and "上海某某科技有限公司" in page.text  # the preview

    typed = "尊敬的{{ customer.name }：{% if %}"
    r = await api.post(f"/admin/templates/{tid}", data={"subject": "关怀", "body": typed, "action": "save"})
    assert r.status_code == 422 and "正文模板语法错误（第 1 行）" in r.text
    assert "尊敬的{{ customer.name }：{% if %}" in r.text.replace("&#34;", '"').replace("&#39;", "'")
    assert rows(settings, "SELECT body FROM message_templates WHERE id=%s", tid)[0]["body"] != typed

    r = await api.post(
        f"/admin/templates/{tid}",
        data={"subject": "关怀", "body": "{{ customer.name }}，您好", "action": "preview"},
    )
    assert r.status_code == 200 and "预览（未保存）" in r.text and "上海某某科技有限公司，您好" in r.text
    before = rows(settings, "SELECT subject, body FROM message_templates WHERE id=%s", tid)[0]
    r = await api.post(
        f"/admin/templates/{tid}",
        data={
            "subject": "节日问候",
            "body": "{{ customer.name }}，节日快乐\r\n",
            "action": "save",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == f"/admin/templates/{tid}?saved=1"
    saved = rows(settings, "SELECT subject, body, updated_by FROM message_templates WHERE id=%s", tid)[0]
    assert saved == {
        "subject": "节日问候",
        "body": "{{ customer.name }}，节日快乐\n",
        "updated_by": "测试管理员",  # the signed-in admin
    }
    assert "已保存" in (await api.get(r.headers["location"])).text
    await api.post(f"/admin/templates/{tid}", data={**before, "action": "save"})
