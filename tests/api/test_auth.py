"""Sign-in, API tokens, CSRF, masking and the audit log (SEC-1..SEC-4), and who may do what (SPEC §1)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from api.app import create_app
from domain.i18n import label
from domain.models import Role
from domain.permissions import Permission, allowed
from tests.api.test_cases_api import open_step
from tests.signin import PASSWORD, Logins, anonymous, login_as
from tests.signin import client as signed_in
from tests.workflows.helpers import rows, rows_eventually

CSRF = "X-CSRF-Token"
# Cases name a customer on file (verified), so these tests add nothing to the review queue (C-3).
INQUIRY: dict[str, Any] = {
    "channel": "phone",
    "contact": "周经理 13600136000 zhou@hz-dianqi.example.com",
    "product": "售后工单系统",
    "need": "全国 40 个网点的报修派单",
}


def audit_rows(settings, action: str, target: str) -> list[dict[str, Any]]:
    return rows(
        settings,
        "SELECT actor, actor_kind, action, target, detail, ip FROM audit_log WHERE action=%s AND target=%s ORDER BY id",
        action,
        target,
    )


def customer(settings, phone: str = "13912345678", email: str = "li.wei@example.com") -> int:
    return rows(
        settings,
        "INSERT INTO customers (type, name, tier, contacts, phone, email, verified_at) "
        "VALUES ('individual', '李先生', 'normal', %s::jsonb, %s, %s, now()) RETURNING id",
        '[{"name": "李太太", "phone": "13700001234"}]',
        phone,
        email,
    )[0]["id"]


@pytest.fixture
async def web(settings, logins) -> httpx.AsyncClient:
    """The app on Postgres only (no Temporal): for pages and routes that never reach a workflow."""
    async with signed_in(create_app(settings), logins) as http:
        yield http


def login_form_token(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found[1]


async def test_sec4_login_and_logout(web, settings):
    http = anonymous(web)
    r = await http.get("/cases/new")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fcases%2Fnew"
    assert (await http.get("/api/v1/cases")).status_code == 401
    form = await http.get("/login", params={"next": "/cases/new"})
    assert form.status_code == 200 and "登录" in form.text
    username = Logins.username(Role.AGENT)
    fields = {"username": username, "csrf_token": login_form_token(form), "next": "/cases/new"}

    # A wrong password and an unknown user get the same answer, which names neither part.
    for attempt in ({"password": "wrong-password"}, {"username": "nobody.x", "password": "x"}):
        bad = await http.post("/login", data={**fields, **attempt})
        assert bad.status_code == 401 and "用户名或密码不正确" in bad.text
        assert "careflow_session" not in bad.headers.get("set-cookie", "")
        fields["csrf_token"] = login_form_token(bad)
    assert audit_rows(settings, "auth.login_failed", f"user:{username}")

    ok = await http.post("/login", data={**fields, "password": PASSWORD})
    assert ok.status_code == 303 and ok.headers["location"] == "/cases/new"
    cookie = next(c for c in ok.headers.get_list("set-cookie") if c.startswith("careflow_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    page = await http.get("/cases/new")
    assert page.status_code == 200 and "测试客服专员" in page.text
    assert audit_rows(settings, "auth.login", f"user:{username}")[-1]["actor"] == "测试客服专员"

    session = http.cookies.get("careflow_session")
    csrf = http.cookies.get("careflow_csrf")
    out = await http.post("/logout", data={"csrf_token": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert audit_rows(settings, "auth.logout", f"user:{username}")
    # The session is gone from the database: a copy of the old cookie opens nothing.
    http.cookies.set("careflow_session", session, domain="careflow.test")
    assert (await http.get("/cases/new")).status_code == 303
    assert (await http.get("/api/v1/cases")).status_code == 401

    # Back to a page of this site only, never elsewhere; cookies are Secure on https.
    again = await http.get("/login")
    evil = {**fields, "password": PASSWORD, "next": "//evil.example/x", "csrf_token": login_form_token(again)}
    assert (await http.post("/login", data=evil)).headers["location"] == "/"
    async with httpx.AsyncClient(transport=web._transport, base_url="https://careflow.test") as tls:
        form = await tls.get("/login")
        done = await tls.post("/login", data={**evil, "csrf_token": login_form_token(form)})
        assert done.status_code == 303 and "Secure" in done.headers["set-cookie"]


async def test_sec4_api_token_scopes(web, settings):
    http = login_as(web, Role.ADMIN)
    name = f"erp-{uuid.uuid4().hex[:6]}"
    r = await http.post("/api/v1/tokens", json={"name": name, "scopes": ["cases:read"]})
    assert r.status_code == 201, r.text
    made = r.json()
    secret = made["token"]
    assert (
        secret.startswith("cf_") and made["scopes"] == ["cases:read"] and made["created_by"] == "测试管理员"
    )
    assert (
        await http.post("/api/v1/tokens", json={"name": name, "scopes": ["cases:read"]})
    ).status_code == 422
    listed = (await http.get("/api/v1/tokens")).json()
    assert any(t["name"] == name for t in listed) and secret not in str(listed)  # shown once only
    stored = rows(settings, "SELECT token_hash FROM api_tokens WHERE name=%s", name)[0]["token_hash"]
    assert secret not in stored and len(stored) == 64

    async with httpx.AsyncClient(
        transport=web._transport,
        base_url="http://careflow.test",
        headers={"Authorization": f"Bearer {secret}"},
    ) as system:
        assert (await system.get("/api/v1/cases")).status_code == 200
        refused = await system.post("/api/v1/cases/presales", json=INQUIRY)
        assert refused.status_code == 403 and refused.json()["scope"] == "cases:write"
        assert (await system.get("/api/v1/records/presales")).status_code == 403  # needs reports:read
        assert (await system.get("/api/v1/tokens")).status_code == 403  # tokens never manage tokens
        assert (await system.get("/cases/new")).status_code == 403  # pages are for staff
        me = (await system.get("/api/v1/me")).json()
        assert me["kind"] == "token" and me["scopes"] == ["cases:read"]
        assert rows(settings, "SELECT last_used_at FROM api_tokens WHERE name=%s", name)[0]["last_used_at"]

        # Only admins create or revoke tokens.
        login_as(web, Role.SUPERVISOR)
        assert (
            await web.post("/api/v1/tokens", json={"name": "x", "scopes": ["cases:read"]})
        ).status_code == 403
        assert (await web.delete(f"/api/v1/tokens/{made['id']}")).status_code == 403
        login_as(web, Role.ADMIN)
        assert (await web.delete(f"/api/v1/tokens/{made['id']}")).status_code == 204
        gone = await system.get("/api/v1/cases")
        assert gone.status_code == 401 and gone.json()["error"] == "unauthenticated"
    assert audit_rows(settings, "token.revoke", f"token:{made['id']}")[0]["actor"] == "测试管理员"

    # The admin page: create (the secret is on that answer only), list, revoke.
    page = await web.post("/admin/tokens", data={"name": f"{name}-web", "scopes": ["reports:read"]})
    assert page.status_code == 201 and "只显示这一次" in page.text
    shown = re.search(r"<pre class=\"secret\">(cf_[^<]+)</pre>", page.text)[1]
    listing = await web.get("/admin/tokens")
    assert f"{name}-web" in listing.text and shown not in listing.text
    bad = await web.post("/admin/tokens", data={"name": ""})
    assert bad.status_code == 422 and "请填写令牌名称" in bad.text and "至少选择一个权限范围" in bad.text
    # /docs offers the bearer scheme (Authorize button).
    spec = (await web.get("/openapi.json")).json()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


async def test_sec4_csrf_rejected_without_token(web, settings):
    http = login_as(web, Role.AGENT)
    csrf = http.cookies.get("careflow_csrf")
    before = rows(settings, "SELECT count(*) AS n FROM case_keys")[0]["n"]
    form = {
        "customer.type": "enterprise",
        "customer.name": "某公司",
        "channel": "phone",
        "contact": "x",
        "product": "p",
        "need": "n",
    }
    for headers, data in (
        ({CSRF: ""}, form),  # neither header nor field
        ({CSRF: "forged"}, form),
        ({CSRF: ""}, {**form, "csrf_token": "forged"}),
    ):
        r = await http.post("/cases/new/presales", data=data, headers=headers)
        assert r.status_code == 403 and "CSRF" in r.text and "请返回上一页刷新后重新提交" in r.text
    api = await http.post("/api/v1/library", json={"title": "t"}, headers={CSRF: ""})
    assert api.status_code == 403 and api.json()["error"] == "csrf"
    assert rows(settings, "SELECT count(*) AS n FROM case_keys")[0]["n"] == before
    # The form's hidden field is accepted without the header (a plain browser form post).
    page = await http.get("/cases/new/presales")
    assert f'name="csrf_token" value="{csrf}"' in page.text
    ok = await http.post("/library/new", data={"title": "x", "csrf_token": csrf}, headers={CSRF: ""})
    assert ok.status_code == 422  # past the CSRF check: the form's own validation answers


async def test_sec1_phone_masked_for_agent_list(http, settings):
    on_file = customer(settings, phone="13600136000", email="zhou@hz-dianqi.example.com")
    r = await http.post("/api/v1/cases/presales", json={**INQUIRY, "customer_id": on_file})
    number = r.json()["number"]
    await open_step(http, number, "first_response")
    # A system with customers:read gets contact details in clear, and that read is audited.
    clear = (await http.get(f"/api/v1/cases/{number}")).json()
    assert "13600136000" in str(clear) and audit_rows(settings, "contacts.read", f"case:{number}")
    login_as(http, Role.AGENT)
    page = await http.get(f"/cases/{number}")
    assert page.status_code == 200 and "周经理 136****6000 z***@hz-dianqi.example.com" in page.text
    assert "13600136000" not in page.text and "zhou@hz-dianqi" not in page.text
    body = (await http.get(f"/api/v1/cases/{number}")).json()
    assert body["record"]["contact"] == "周经理 136****6000 z***@hz-dianqi.example.com"
    assert "13600136000" not in str(body)
    listed = (await http.get("/api/v1/notifications", params={"case_number": number})).json()
    assert "13600136000" not in str(listed)
    # The case page's customer panel: masked, with the reveal button for a role that may use it.
    panel = await http.get(f"/cases/{number}/customer")
    assert (
        "136****6000" in panel.text and "13600136000" not in panel.text and "显示完整联系方式" in panel.text
    )
    login_as(http, Role.DATA_ANALYST)
    assert "显示完整联系方式" not in (await http.get(f"/cases/{number}/customer")).text


async def test_sec1_data_analyst_cannot_reveal_phone(web, settings):
    cid = customer(settings)
    http = login_as(web, Role.DATA_ANALYST)
    page = await http.post(f"/customers/{cid}/reveal")
    assert page.status_code == 403 and "contacts.reveal" in page.text and "13912345678" not in page.text
    api = await http.post(f"/api/v1/customers/{cid}/reveal")
    assert api.status_code == 403 and api.json()["error"] == "forbidden" and "13912345678" not in api.text
    assert audit_rows(settings, "contacts.reveal", f"customer:{cid}") == []
    # An admin runs the system but does not serve customers either.
    login_as(http, Role.ADMIN)
    assert (await http.post(f"/api/v1/customers/{cid}/reveal")).status_code == 403


async def test_sec2_reveal_is_audited(web, settings):
    cid = customer(settings)
    http = login_as(web, Role.AGENT)
    fragment = await http.post(f"/customers/{cid}/reveal", headers={"HX-Request": "true"})
    assert (
        fragment.status_code == 200
        and "13912345678" in fragment.text
        and "li.wei@example.com" in fragment.text
    )
    assert "<html" not in fragment.text and "已记入审计日志" in fragment.text
    api = (await http.post(f"/api/v1/customers/{cid}/reveal")).json()
    assert api["phone"] == "13912345678" and api["contacts"] == [{"name": "李太太", "phone": "13700001234"}]
    assert (await http.post("/api/v1/customers/999999999/reveal")).status_code == 404
    seen = audit_rows(settings, "contacts.reveal", f"customer:{cid}")
    assert [(a["actor"], a["actor_kind"]) for a in seen] == [("测试客服专员", "user")] * 2
    assert seen[0]["ip"] and seen[0]["detail"]["fields"] == ["phone", "email", "contacts[0]"]
    assert "13912345678" not in str(seen)  # the log says what was seen, not the values
    # Every other write is recorded too (the middleware): here a case started by the same agent.
    assert (await http.get("/api/v1/audit")).status_code == 403  # reading the log is an admin's
    login_as(http, Role.ADMIN)
    found = (
        await http.get("/api/v1/audit", params={"action": "contacts.", "target": f"customer:{cid}"})
    ).json()
    assert found["total"] == 2 and {i["action"] for i in found["items"]} == {"contacts.reveal"}
    page = await http.get("/admin/audit", params={"target": f"customer:{cid}", "actor": "客服"})
    assert page.status_code == 200 and page.text.count("contacts.reveal") == 2
    bad = await http.get("/admin/audit", params={"since": "yesterday"})
    assert bad.status_code == 422 and "开始日期" in bad.text


async def test_sec2_every_write_is_audited_with_route_and_user(web, settings):
    http = login_as(web, Role.SUPERVISOR)
    r = await http.post(
        "/library/new", data={"title": "审计", "symptom": "s", "remedy": "r", "category": "fault"}
    )
    assert r.status_code == 303
    entry = r.headers["location"]
    made = rows(
        settings, "SELECT actor, actor_kind, action, detail FROM audit_log WHERE target=%s", "/library/new"
    )
    assert made[-1] == {
        "actor": "测试主管",
        "actor_kind": "user",
        "action": "POST /library/new",
        "detail": {"status": 303},
    }
    assert (await http.post(f"{entry}/delete")).status_code == 303
    assert (
        rows(settings, "SELECT actor FROM audit_log WHERE target=%s", f"{entry}/delete")[-1]["actor"]
        == "测试主管"
    )


async def test_sec2_audit_is_append_only(settings):
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO audit_log (actor, actor_kind, action, target) VALUES ('t', 'system', 'test', 'x')"
        )
        for statement in (
            "UPDATE audit_log SET actor = 'someone else'",
            "DELETE FROM audit_log",
            "TRUNCATE audit_log",
        ):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(statement)
        assert conn.execute("SELECT count(*) FROM audit_log WHERE actor = 'someone else'").fetchone() == (0,)


async def test_sec3_id_card_never_stored_in_clear(web, settings):
    id_card, bank_card = "11010119900307123X", "6222020200112233445"
    r = await web.post(
        "/api/v1/customers",
        json={
            "type": "individual",
            "name": "证件测试",
            "phone": "13811112222",
            "id_card": id_card,
            "bank_card": bank_card,
        },
    )
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    assert id_card not in r.text and bank_card not in r.text
    row = rows(settings, "SELECT row_to_json(c)::text AS j FROM customers c WHERE id=%s", cid)[0]["j"]
    assert id_card not in row and bank_card not in row and "123X" in row and "3445" in row
    logged = rows(settings, "SELECT string_agg(detail::text || target, ' ') AS t FROM audit_log")[0]["t"]
    assert id_card not in logged and bank_card not in logged
    login_as(web, Role.AGENT)
    shown = await web.post(f"/api/v1/customers/{cid}/reveal")
    assert shown.status_code == 200 and id_card not in shown.text and bank_card not in shown.text
    rows(settings, "DELETE FROM customers WHERE id=%s RETURNING id", cid)  # out of the review queue (C-3)


# Each guarded action, the permission behind it, and a request that changes nothing when it is allowed
# (bad input or an unknown id), so an allowed role gets 4xx other than 403 and a refused role gets 403.
GUARDED: list[tuple[Permission, str, str, dict[str, Any]]] = [
    (Permission.CASES_CREATE, "POST", "/api/v1/cases/presales", {"json": {}}),
    (Permission.CASES_ACT, "POST", "/api/v1/cases/PS-999999999/actions/respond", {"json": {}}),
    (Permission.LIBRARY_EDIT, "POST", "/api/v1/library", {"json": {}}),
    (Permission.CAMPAIGNS, "POST", "/api/v1/pushes", {"json": {}}),
    (Permission.POLICIES_EDIT, "PUT", "/api/v1/templates/999999999", {"json": {}}),
    (Permission.POLICIES_EDIT, "POST", "/admin/sla/rules/999999999", {"data": {}}),
    (Permission.REPORTS, "GET", "/api/v1/records/presales", {"params": {"from": "not-a-date"}}),
    (Permission.REPORTS, "GET", "/records", {"params": {"process": "nonsense"}}),
    (Permission.CONTACTS_REVEAL, "POST", "/api/v1/customers/999999999/reveal", {}),
    (Permission.TOKENS_MANAGE, "POST", "/api/v1/tokens", {"json": {}}),
    (Permission.AUDIT_READ, "GET", "/api/v1/audit", {"params": {"page": 0}}),
]


@pytest.mark.parametrize("role", list(Role))
async def test_roles_permission_table(http, role):
    login_as(http, role)
    for permission, method, path, kwargs in GUARDED:
        r = await http.request(method, path, **kwargs)
        assert (r.status_code == 403) is (not allowed(role, permission)), (
            role,
            permission,
            path,
            r.text[:300],
        )
        assert r.status_code not in (200, 201, 303) or permission is Permission.REPORTS, (path, r.status_code)


async def test_cp2_only_supervisor_or_director_grades_major(http, settings):
    complaint = {
        **INQUIRY,
        "content": "安装工程师爽约两次",
        "demand": "道歉",
        "emotion": "angry",
        "scope": "single",
    }
    complaint = {k: v for k, v in complaint.items() if k not in ("product", "need")}
    complaint["customer_id"] = customer(settings)
    r = await http.post("/api/v1/cases/complaint", json=complaint)
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    await open_step(http, number, "complaint_contact")
    major = {"level": "major", "reason": "多家门店同样问题"}
    events = "SELECT count(*) AS n FROM case_events WHERE case_number=%s"
    before = rows(settings, events, number)

    login_as(http, Role.COMPLAINT_SPECIALIST)
    refused = await http.post(f"/api/v1/cases/{number}/actions/grade_complaint", json=major)
    assert refused.status_code == 403 and refused.json()["permission"] == "complaints.grade_major"
    page = await http.post(f"/cases/{number}/actions/grade_complaint", data=major)
    assert page.status_code == 403 and "complaints.grade_major" in page.text
    assert rows(settings, events, number) == before
    assert rows(settings, "SELECT severity FROM cases WHERE number=%s", number)[0]["severity"] != "major"

    login_as(http, Role.SUPERVISOR)
    graded = await http.post(f"/api/v1/cases/{number}/actions/grade_complaint", json=major)
    assert graded.status_code == 200, graded.text
    assert graded.json()["severity"] == "major"
    graded_by = await rows_eventually(
        settings, "SELECT actor FROM case_events WHERE case_number=%s AND kind='graded'", number
    )
    assert graded_by[-1]["actor"] == "测试主管"  # the signed-in user, whatever `actor` the body says


def permission_table() -> str:
    """docs/security.md's roles × permissions table, as domain/permissions.py defines it."""
    head = "| role | " + " | ".join(f"`{p.value}`" for p in Permission) + " |"
    rule = "|---|" + "---|" * len(Permission)
    body = [
        f"| {label(r.value)} `{r.value}` | "
        + " | ".join("✓" if allowed(r, p) else "" for p in Permission)
        + " |"
        for r in Role
    ]
    return "\n".join([head, rule, *body])


def test_sec1_docs_permission_table_matches_the_code():
    doc = (Path(__file__).parents[2] / "docs" / "security.md").read_text()
    assert permission_table() in doc, permission_table()
