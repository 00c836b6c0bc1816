"""Customer records through REST /api/v1/customers against the real app, worker and Postgres: create (C-1),
upsert by external id (C-2), validation (C-3), search (C-4), lifecycle (C-5) and the timeline (C-6)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from activities.customers import refresh_all, touch
from activities.tiering import record_transactions
from config import Settings
from db.engine import transaction
from domain.customers import DORMANT_AFTER, lifecycle
from domain.tiering import TransactionIn
from tests.api.test_cases_api import INQUIRY, open_step
from tests.workflows.helpers import eventually, rows
from workflows import registry
from workflows.lifecycle import RECURRING, LifecycleRefreshStart, LifecycleRefreshWorkflow

ID_CARD = "110101199003074518"
BANK_CARD = "6222020200112233445"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def enterprise(**kw: Any) -> dict[str, Any]:
    return {
        "type": "enterprise",
        "name": unique("杭州某某电器有限公司"),
        "phone": "+86 136-0013-6000",
        "email": "Purchasing@Example.com",
        "contacts": [
            {"name": "周经理", "role": "contact", "phone": "13600136001", "email": "zhou@example.com"},
            {"name": "王总", "role": "decision_maker", "phone": "13600136002"},
        ],
        "industry": "家电制造",
        "region": "浙江杭州",
        "scale": "200-500 人",
        "needs": {
            "core_need": "全国网点报修派单",
            "budget_range": "50-100 万",
            "product_preference": "私有化部署",
        },
        "first_contact": "exhibition",
        "preferred_channel": "wechat",
        "expected_response_hours": 4,
        "anniversary": "2012-06-18",
        "contract_end": "2027-03-31",
        "owner": "am_li",
        "tags": ["高频购买", "技术支持需求"],
        "potential": "high",
        **kw,
    }


def count(settings: Settings) -> int:
    return rows(settings, "SELECT count(*) AS n FROM customers")[0]["n"]


async def test_c1_create_enterprise_with_decision_chain(http, settings):
    r = await http.post("/api/v1/customers", json=enterprise(id_card=ID_CARD, bank_card=BANK_CARD))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["type"] == "enterprise" and body["phone"] == "13600136000"  # normalised (C-3)
    assert body["email"] == "purchasing@example.com"
    assert [(c["name"], c["role"]) for c in body["contacts"]] == [
        ("周经理", "contact"),
        ("王总", "decision_maker"),
    ]
    assert body["needs"]["core_need"] == "全国网点报修派单" and body["first_contact"] == "exhibition"
    assert body["owner"] == "am_li" and body["tags"] == ["高频购买", "技术支持需求"]
    assert body["anniversary"] == "2012-06-18" and body["expected_response_hours"] == 4
    # New records start unverified and active (C-3, C-5).
    assert body["verified_at"] is None and body["lifecycle"] == "active" and body["tier"] == "normal"
    # SEC-3: only the last 4 digits leave the API, and the numbers are not stored in clear.
    assert body["id_card_last4"] == "4518" and body["bank_card_last4"] == "3445"
    assert "hash" not in r.text and ID_CARD not in r.text and BANK_CARD not in r.text
    stored = rows(settings, "SELECT * FROM customers WHERE id=%s", body["id"])[0]
    assert stored["id_card_hash"] and ID_CARD not in str(stored) and BANK_CARD not in str(stored)
    got = await http.get(f"/api/v1/customers/{body['id']}")
    assert got.status_code == 200 and got.json() == body and "hash" not in got.text


async def test_c2_upsert_by_external_id_is_idempotent(http, settings):
    order_id = unique("TB")
    url = f"/api/v1/customers/external/ecommerce/{order_id}"
    profile = {"name": "刘女士", "phone": "13700137000", "first_contact": "ecommerce", "tags": ["价格敏感"]}
    first = await http.put(url, json=profile)
    assert first.status_code == 201, first.text
    created = first.json()
    assert created["source"] == "ecommerce" and created["external_id"] == order_id
    # Staff add what the shop does not know; a resend of the shop's record keeps it.
    await http.patch(f"/api/v1/customers/{created['id']}", json={"owner": "am_zhao"})
    before = rows(settings, "SELECT updated_at FROM customers WHERE id=%s", created["id"])[0]["updated_at"]
    again = await http.put(url, json=profile)
    assert again.status_code == 200 and again.json()["id"] == created["id"]
    assert again.json()["owner"] == "am_zhao"
    assert (
        rows(settings, "SELECT updated_at FROM customers WHERE id=%s", created["id"])[0]["updated_at"]
        == before
    )
    # A changed field is an update of the same record.
    changed = await http.put(url, json={**profile, "email": "liu@example.com"})
    assert changed.status_code == 200 and changed.json()["email"] == "liu@example.com"
    assert changed.json()["owner"] == "am_zhao" and changed.json()["tags"] == ["价格敏感"]
    matching = "SELECT count(*) AS n FROM customers WHERE source='ecommerce' AND external_id=%s"
    assert rows(settings, matching, order_id)[0]["n"] == 1
    # The same external id from another system is another record.
    other = await http.put(f"/api/v1/customers/external/website/{order_id}", json=profile)
    assert other.status_code == 201 and other.json()["id"] != created["id"]
    # Bad input changes nothing.
    n = count(settings)
    bad = await http.put(f"/api/v1/customers/external/web site/{order_id}", json=profile)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["path", "source"]
    bad = await http.put(url, json={**profile, "phone": "12345"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "phone"]
    assert (
        count(settings) == n
        and (await http.get(f"/api/v1/customers/{created['id']}")).json()["phone"] == "13700137000"
    )


async def test_c3_bad_phone_is_422_and_changes_nothing(http, settings):
    n = count(settings)
    r = await http.post("/api/v1/customers", json=enterprise(phone="0571-1234"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "phone"]
    assert "手机号格式不正确" in r.json()["detail"][0]["msg"]
    r = await http.post("/api/v1/customers", json=enterprise(email="not-an-email"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "email"]
    # No phone, no email, no contact with one: the whole-record rule still names a field.
    r = await http.post("/api/v1/customers", json={"name": "无联系方式客户"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "phone"]
    r = await http.post("/api/v1/customers", json=enterprise(first_contact="pigeon"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "first_contact"]
    r = await http.post("/api/v1/customers", json=enterprise(id_card="1234"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "id_card"]
    assert count(settings) == n

    made = (await http.post("/api/v1/customers", json={"name": "赵先生", "phone": "13800138111"})).json()
    one = f"/api/v1/customers/{made['id']}"
    for patch, field in (
        ({"phone": "999"}, "phone"),
        ({"name": None}, "name"),
        ({"phone": None}, "phone"),  # the record would have no way to reach the customer
        ({"expected_response_hours": 0}, "expected_response_hours"),
    ):
        r = await http.patch(one, json=patch)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", field], (patch, r.text)
    assert (await http.get(one)).json() == made
    assert (await http.get("/api/v1/customers/987654321")).status_code == 404
    assert (await http.patch("/api/v1/customers/987654321", json={"owner": "x"})).status_code == 404


async def test_c1_patch_changes_only_the_fields_sent(http, settings):
    made = (await http.post("/api/v1/customers", json=enterprise())).json()
    r = await http.patch(
        f"/api/v1/customers/{made['id']}",
        json={"email": None, "tags": ["有升级需求"], "notes": "偏好上午联系", "id_card": ID_CARD},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["email"] is None and body["tags"] == ["有升级需求"] and body["notes"] == "偏好上午联系"
    assert (
        body["phone"] == made["phone"]
        and body["contacts"] == made["contacts"]
        and body["id_card_last4"] == "4518"
    )
    assert (await http.patch(f"/api/v1/customers/{made['id']}", json={"notes": None})).json()["notes"] == ""


async def test_merged_record_answers_with_merged_into(http, settings):
    kept = (await http.post("/api/v1/customers", json=enterprise())).json()
    gone = (await http.post("/api/v1/customers", json=enterprise())).json()
    rows(settings, "UPDATE customers SET merged_into=%s WHERE id=%s RETURNING id", kept["id"], gone["id"])
    r = await http.get(f"/api/v1/customers/{gone['id']}")
    assert r.status_code == 200 and r.json()["merged_into"] == kept["id"]
    found = (await http.get("/api/v1/customers", params={"q": gone["name"]})).json()
    assert found["total"] == 0  # search lists records on file, not merged ones


async def test_c4_search_by_tag(http, settings):
    tag = unique("关注售后保障")
    a = (await http.post("/api/v1/customers", json=enterprise(tags=[tag, "高活跃度"], owner="am_q"))).json()
    b = (
        await http.post(
            "/api/v1/customers", json={"name": unique("孙女士"), "email": "sun@example.com", "tags": [tag]}
        )
    ).json()
    (await http.post("/api/v1/customers", json=enterprise(tags=["价格敏感"]))).json()

    def ids(page: dict[str, Any]) -> list[int]:
        return [c["id"] for c in page["items"]]

    by_tag = (await http.get("/api/v1/customers", params={"tag": tag})).json()
    assert by_tag["total"] == 2 and ids(by_tag) == [b["id"], a["id"]]  # newest first
    both = (await http.get("/api/v1/customers", params={"tag": tag, "owner": "am_q"})).json()
    assert ids(both) == [a["id"]]
    assert ids((await http.get("/api/v1/customers", params={"tag": tag, "type": "individual"})).json()) == [
        b["id"]
    ]
    assert (await http.get("/api/v1/customers", params={"tag": tag, "verified": True})).json()["total"] == 0
    assert (
        await http.get("/api/v1/customers", params={"tag": tag, "lifecycle": "active", "tier": "normal"})
    ).json()["total"] == 2
    # q: the record's name, phone or email, or a contact's (the decision maker by name).
    assert b["id"] in ids((await http.get("/api/v1/customers", params={"q": b["name"]})).json())
    by_contact = (await http.get("/api/v1/customers", params={"q": "王总", "tag": tag})).json()
    assert ids(by_contact) == [a["id"]]
    by_email = (await http.get("/api/v1/customers", params={"q": "SUN@example", "tag": tag})).json()
    assert ids(by_email) == [b["id"]]
    assert (await http.get("/api/v1/customers", params={"q": "100%_", "tag": tag})).json()["total"] == 0
    paged = (await http.get("/api/v1/customers", params={"tag": tag, "page_size": 1, "page": 2})).json()
    assert paged["total"] == 2 and ids(paged) == [a["id"]]
    bad = await http.get("/api/v1/customers", params={"lifecycle": "asleep"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "lifecycle"]


async def _customer_at(settings: Settings, created: datetime, last: datetime | None = None) -> int:
    return rows(
        settings,
        "INSERT INTO customers (type, name, phone, contacts, tier, created_at, last_interaction_at)"
        " VALUES ('individual', %s, '13900139001', '[]', 'normal', %s, %s) RETURNING id",
        unique("生命周期客户"),
        created,
        last,
    )[0]["id"]


def _status(settings: Settings, customer_id: int) -> dict[str, Any]:
    return rows(settings, "SELECT lifecycle, last_interaction_at FROM customers WHERE id=%s", customer_id)[0]


async def test_c5_lifecycle_dormant_after_90_days(settings, client, worker):
    now = datetime.now(UTC)
    url = settings.sqlalchemy_url()
    quiet = await _customer_at(settings, now - timedelta(days=200), now - DORMANT_AFTER - timedelta(days=1))
    recent = await _customer_at(settings, now - timedelta(days=200), now - DORMANT_AFTER + timedelta(days=1))
    never = await _customer_at(settings, now - timedelta(days=400))
    async with transaction(url) as db:
        counts = await refresh_all(db, now)
    assert counts.changed >= 2 and counts.dormant >= 1 and counts.churned >= 1
    assert _status(settings, quiet)["lifecycle"] == "dormant"
    assert _status(settings, recent)["lifecycle"] == "active"
    assert _status(settings, never)["lifecycle"] == "churned"
    # The SQL pass and domain.customers.lifecycle agree.
    for cid in (quiet, recent, never):
        row = rows(
            settings, "SELECT created_at, last_interaction_at, lifecycle FROM customers WHERE id=%s", cid
        )[0]
        assert row["lifecycle"] == lifecycle(row["last_interaction_at"], row["created_at"], now)
    # An interaction makes the customer active again at once; an older one never moves the date back.
    async with transaction(url) as db:
        assert await touch(db, quiet, now) == "active"
        await touch(db, quiet, now - timedelta(days=300))
    assert _status(settings, quiet) == {"lifecycle": "active", "last_interaction_at": now}
    # An order recorded for a churned customer is an interaction (C-7 → C-5).
    async with transaction(url) as db:
        order = TransactionIn(
            customer_id=never, amount=Decimal("880.00"), occurred_at=now, external_id=unique("ERP")
        )
        assert await record_transactions(db, [order]) == 1
    assert _status(settings, never) == {"lifecycle": "active", "last_interaction_at": now}
    # The quarterly workflow runs the same pass (a year on, everyone here is dormant or churned).
    await client.execute_workflow(
        LifecycleRefreshWorkflow.run,
        LifecycleRefreshStart(at=now + timedelta(days=120)),
        id=unique("lifecycle-test"),
        task_queue=settings.task_queue,
    )
    assert _status(settings, recent)["lifecycle"] == "dormant"
    # Put this database back as of today for the tests after this one.
    async with transaction(url) as db:
        await refresh_all(db, now)
    assert _status(settings, quiet)["lifecycle"] == "active"


def test_c5_lifecycle_is_refreshed_every_quarter():
    (item,) = RECURRING
    assert item in registry.RECURRING and LifecycleRefreshWorkflow in registry.WORKFLOWS
    assert item.cron == "0 2 1 1,4,7,10 *"


async def _close(http: httpx.AsyncClient, number: str) -> None:
    await http.post(f"/api/v1/cases/{number}/actions/close", json={"actor": "tests", "reason": "test over"})


async def test_c6_timeline_lists_cases_orders_surveys_pushes(http, settings):
    tag = unique("高活跃度")
    cid = (await http.post("/api/v1/customers", json=enterprise(tags=[tag], preferred_channel=None))).json()[
        "id"
    ]
    inquiry = {k: v for k, v in INQUIRY.items() if k != "customer"}
    number = (await http.post("/api/v1/cases/presales", json={**inquiry, "customer_id": cid})).json()[
        "number"
    ]
    await open_step(http, number, "first_response")
    # C-5: the case opening counted as an interaction.
    assert _status(settings, cid)["last_interaction_at"] is not None
    r = await http.post(
        f"/api/v1/cases/{number}/actions/respond", json={"actor": "小李", "note": "已电话联系周经理"}
    )
    assert r.status_code == 200, r.text
    async with transaction(settings.sqlalchemy_url()) as db:
        first, second = datetime(2026, 1, 5, 10, tzinfo=UTC), datetime(2026, 2, 9, 15, tzinfo=UTC)
        await record_transactions(
            db,
            [
                TransactionIn(
                    customer_id=cid, amount=Decimal(12000), occurred_at=first, external_id=unique("ERP")
                ),
                TransactionIn(
                    customer_id=cid, amount=Decimal("3500.5"), occurred_at=second, external_id=unique("ERP")
                ),
            ],
        )
    answered = datetime.now(UTC)
    rows(
        settings,
        "INSERT INTO surveys (key, kind, case_number, process, step, customer_id, issued_at, expires_at,"
        " answered_at, score, comment, answered_via) VALUES (%s, 'csat', %s, 'presales', NULL, %s, %s, %s, %s,"
        " 4, '响应很快', 'link') RETURNING id",
        unique("survey"),
        number,
        cid,
        answered - timedelta(hours=1),
        answered + timedelta(days=7),
        answered,
    )
    push = await http.post(
        "/api/v1/pushes",
        json={
            "tag": tag,
            "service": "新功能教程",
            "link": "https://careflow.example.com/guide",
            "customer_ids": [cid],
        },
    )
    assert push.status_code == 201, push.text
    campaign = push.json()["number"]
    try:
        token = (
            await eventually(
                lambda: rows(settings, "SELECT token FROM push_deliveries WHERE case_number=%s", campaign),
                "push delivered",
            )
        )[0]["token"]
        assert (await http.get(f"/t/c/{token}")).status_code in (302, 307)

        r = await http.get(f"/api/v1/customers/{cid}/timeline")
        assert r.status_code == 200, r.text
        entries = r.json()
        kinds = [e["kind"] for e in entries]
        for kind in (
            "case_opened",
            "contact",
            "order",
            "repurchase",
            "survey_answered",
            "push_sent",
            "push_response",
        ):
            assert kind in kinds, (kind, kinds)
        assert [e["at"] for e in entries] == sorted((e["at"] for e in entries), reverse=True)
        by_kind = {e["kind"]: e for e in entries}
        assert (
            by_kind["case_opened"]["link"] == f"/cases/{number}"
            and "售前咨询" in by_kind["case_opened"]["title"]
        )
        assert (
            by_kind["contact"]["detail"] == "已电话联系周经理"
            and by_kind["contact"]["link"] == f"/cases/{number}"
        )
        assert (
            by_kind["order"]["title"] == "下单 · ¥12,000.00"
            and by_kind["repurchase"]["title"] == "复购 · ¥3,500.50"
        )
        assert (
            by_kind["survey_answered"]["title"].endswith("4/5")
            and by_kind["survey_answered"]["detail"] == "响应很快"
        )
        assert (
            by_kind["push_sent"]["link"] == f"/pushes/{campaign}"
            and "新功能教程" in by_kind["push_sent"]["detail"]
        )
        # A click counts as an open too (the link was seen).
        assert {e["title"] for e in entries if e["kind"] == "push_response"} == {"打开推送", "点击推送"}
        # Messages to the customer are there too, except a push's own (its delivery stands for it).
        sent = rows(
            settings,
            "SELECT n.id FROM notifications n LEFT JOIN cases c ON c.number = n.case_number"
            " WHERE n.recipient = %s AND n.status IN ('sent', 'pending') AND c.process IS DISTINCT FROM 'value_push'",
            f"customer:{cid}",
        )
        assert kinds.count("message") == len(sent)
        assert (await http.get("/api/v1/customers/987654321/timeline")).status_code == 404
    finally:
        await _close(http, number)
        await _close(http, campaign)
    # Closing the case is on the timeline too, once the workflow has recorded it.
    for _ in range(100):
        kinds = [e["kind"] for e in (await http.get(f"/api/v1/customers/{cid}/timeline")).json()]
        if "case_closed" in kinds:
            break
        await asyncio.sleep(0.05)
    assert "case_closed" in kinds
