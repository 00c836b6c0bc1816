"""C-3 duplicates, merge and the review step, through REST and the staff pages, against the real stack."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.api.test_customer_import import csv_bytes, upload
from tests.signin import staff_client
from tests.workflows.helpers import close_case, rows, rows_eventually


@pytest.fixture
async def ops(env, settings, worker) -> AsyncIterator[httpx.AsyncClient]:
    """A customer-operations specialist: may import, verify and merge (C-2, C-3)."""
    async with staff_client(
        env, settings, username="h2.ops", role="customer_ops", display_name="运营小李"
    ) as c:
        yield c


def mobile() -> str:
    return "137" + "".join(random.choices("0123456789", k=8))


async def imported(ops: httpx.AsyncClient, header: list[str], *lines: list[str]) -> dict[str, Any]:
    job = (await upload(ops, "quality.csv", csv_bytes([header, *lines]), wait="true")).json()
    assert job["status"] == "done" and job["skipped"] == 0, job
    return job


def ids(settings: Any, *names: str) -> list[int]:
    found = {
        r["name"]: r["id"]
        for r in rows(settings, "SELECT id, name FROM customers WHERE name = ANY(%s)", list(names))
    }
    return [found[n] for n in names]


async def test_c3_duplicates_found_by_phone_email_company(ops, settings):
    tag = uuid.uuid4().hex[:6]
    number, email = mobile(), f"dup.{tag}@example.com"
    job = await imported(
        ops,
        ["客户名称", "类型", "手机", "邮箱"],
        [f"甲{tag}", "个人", number, ""],
        [f"乙{tag}", "个人", f"+86 {number[:3]} {number[3:7]} {number[7:]}", ""],
        [f"丙{tag}", "个人", "", email],
        [f"丁{tag}", "个人", "", email.upper()],
        [f"{tag}数码科技有限公司", "企业", "", f"a.{tag}@example.com"],
        [f"{tag}数码科技（上海）股份有限公司", "企业", "", f"b.{tag}@example.com"],
        [f"{tag}数码科技集团", "个人", "", f"c.{tag}@example.com"],  # a person: never a company match
    )
    a, b, c, d, e, f, person = ids(
        settings,
        f"甲{tag}",
        f"乙{tag}",
        f"丙{tag}",
        f"丁{tag}",
        f"{tag}数码科技有限公司",
        f"{tag}数码科技（上海）股份有限公司",
        f"{tag}数码科技集团",
    )
    # The import flagged each later row against the earlier one, and still imported it.
    flagged = {d["customer_id"]: d["matches"] for d in job["duplicates"]}
    assert flagged[b] == [{"id": a, "name": f"甲{tag}", "reasons": ["phone"]}]
    assert flagged[d][0]["id"] == c and flagged[d][0]["reasons"] == ["email"]
    assert flagged[f][0]["id"] == e and flagged[f][0]["reasons"] == ["company"]

    groups = (await ops.get("/api/v1/customers/duplicates")).json()
    mine = {tuple(m["id"] for m in g["customers"]): g["reasons"] for g in groups}
    assert mine[(a, b)] == [{"kind": "phone", "key": f"{number[:3]}****{number[-4:]}"}]
    assert mine[(c, d)] == [{"kind": "email", "key": "d***@example.com"}]
    assert mine[(e, f)] == [{"kind": "company", "key": f"{tag}数码科技"}]
    assert not any(person in members for members in mine)

    page = await ops.get("/customers/duplicates")
    assert page.status_code == 200
    assert f'action="/customers/{a}/merge"' in page.text and 'name="csrf_token"' in page.text
    assert "手机号相同" in page.text and "企业名称相同" in page.text


async def test_c3_merge_keeps_every_history(ops, settings, client):
    tag = uuid.uuid4().hex[:6]
    await imported(
        ops,
        ["客户名称", "手机", "邮箱", "标签", "地区", "行业"],
        [f"陈先生{tag}", mobile(), "", "高频购买", "杭州", ""],
        [f"陈先生（旧档）{tag}", mobile(), f"chen.{tag}@example.com", "价格敏感；高频购买", "", "零售"],
    )
    survivor, duplicate = ids(settings, f"陈先生{tag}", f"陈先生（旧档）{tag}")
    dup_phone = rows(settings, "SELECT phone FROM customers WHERE id=%s", duplicate)[0]["phone"]

    # The duplicate's history: a real order follow-up case (its order record) and a transaction.
    order_no = f"DD{tag}"
    started = await ops.post(
        "/api/v1/cases/order_followup",
        json={
            "customer_id": duplicate,
            "channel": "api",
            "order_no": order_no,
            "amount": "3200.00",
            "model": "V3.0标准版",
            "quantity": 1,
            "payment_status": "paid",
            "address": "杭州市西湖区文三路 1 号",
            "contact": "陈先生",
        },
    )
    assert started.status_code == 201, started.text
    number = started.json()["number"]
    await rows_eventually(settings, "SELECT 1 FROM order_records WHERE case_number=%s", number)
    rows(
        settings,
        "INSERT INTO transactions (customer_id, amount, occurred_at, external_id, source) "
        "VALUES (%s, 880.00, now(), %s, 'erp') RETURNING id",
        duplicate,
        f"T-{tag}",
    )

    merged = await ops.post(f"/api/v1/customers/{survivor}/merge", json={"duplicate_id": duplicate})
    assert merged.status_code == 200, merged.text
    entry = merged.json()
    assert entry["survivor_id"] == survivor and entry["duplicate_id"] == duplicate
    assert entry["merged_by"] == "运营小李"
    # The order case, and the journey's welcome-callback care case once it has opened.
    assert entry["moved"]["cases.customer_id"] >= 1 and entry["moved"]["order_records.customer_id"] == 1
    assert entry["moved"]["transactions.customer_id"] == 1
    assert {"email", "industry", "tags", "contacts"} <= set(entry["filled"])

    # Every row of the duplicate's history is the survivor's now.
    assert rows(settings, "SELECT customer_id FROM cases WHERE number=%s", number) == [
        {"customer_id": survivor}
    ]
    assert rows(settings, "SELECT customer_id FROM order_records WHERE order_no=%s", order_no) == [
        {"customer_id": survivor}
    ]
    assert rows(
        settings, "SELECT customer_id, amount FROM transactions WHERE external_id=%s", f"T-{tag}"
    ) == [{"customer_id": survivor, "amount": Decimal("880.00")}]
    case = (await ops.get(f"/api/v1/cases/{number}")).json()
    assert case["case"]["customer_id"] == survivor and case["record"]["customer_id"] == survivor

    got = rows(settings, "SELECT * FROM customers WHERE id = ANY(%s) ORDER BY id", [survivor, duplicate])
    kept, gone = (got[0], got[1]) if got[0]["id"] == survivor else (got[1], got[0])
    assert kept["tags"] == ["高频购买", "价格敏感"]  # union, survivor's first
    assert kept["email"] == f"chen.{tag}@example.com" and kept["industry"] == "零售"  # empty fields filled
    assert kept["region"] == "杭州"  # the survivor's own value stays
    assert {"name": f"陈先生（旧档）{tag}", "role": "contact", "phone": dup_phone, "email": None} in kept[
        "contacts"
    ]
    assert gone["merged_into"] == survivor and gone["name"] == f"陈先生（旧档）{tag}"  # kept, marked

    merges = (await ops.get(f"/api/v1/customers/{survivor}/merges")).json()
    assert [m["duplicate_id"] for m in merges] == [duplicate]
    audit = rows(
        settings,
        "SELECT actor, detail FROM audit_log WHERE action='customer.merge' AND target=%s",
        f"customer:{survivor}",
    )
    assert audit and audit[-1]["actor"] == "运营小李" and audit[-1]["detail"]["duplicate_id"] == duplicate

    # Refused, changing nothing: into itself, an already-merged record either way round, unknown records.
    assert (
        await ops.post(f"/api/v1/customers/{survivor}/merge", json={"duplicate_id": survivor})
    ).status_code == 409
    again = await ops.post(f"/api/v1/customers/{survivor}/merge", json={"duplicate_id": duplicate})
    assert again.status_code == 409 and "already merged" in again.json()["detail"]
    assert (
        await ops.post(f"/api/v1/customers/{duplicate}/merge", json={"duplicate_id": survivor})
    ).status_code == 409
    assert (
        await ops.post("/api/v1/customers/999999999/merge", json={"duplicate_id": survivor})
    ).status_code == 404
    assert (await ops.post(f"/api/v1/customers/{survivor}/merge", json={})).status_code == 422
    assert len((await ops.get(f"/api/v1/customers/{survivor}/merges")).json()) == 1

    await close_case(client.get_workflow_handle(number))


async def test_c3_merge_with_the_web_form_and_a_unique_row_that_stays(ops, settings):
    tag = uuid.uuid4().hex[:6]
    await imported(ops, ["客户名称", "手机"], [f"留{tag}", mobile()], [f"并{tag}", mobile()])
    survivor, duplicate = ids(settings, f"留{tag}", f"并{tag}")
    # Both have a computed score (customer_scores: one row per customer): the survivor keeps its own.
    for customer in (survivor, duplicate):
        rows(
            settings,
            "INSERT INTO customer_scores (customer_id, model, score, tier, recency_days, frequency, monetary, "
            "repurchase_rate, previous_orders, new_needs, referrals, complaints, potential, as_of) "
            "VALUES (%s, 'rfm', 50, 'normal', 10, 1, 100, 0, 0, 0, 0, 0, NULL, now()) RETURNING customer_id",
            customer,
        )
    r = await ops.post(
        f"/customers/{survivor}/merge",
        data={
            "csrf_token": ops.csrf,
            "duplicate_id": str(duplicate),
            "next": "/customers/duplicates?merged=1",
        },
        headers={"X-CSRF-Token": ""},
    )
    assert r.status_code == 303 and r.headers["location"] == "/customers/duplicates?merged=1"
    entry = rows(settings, "SELECT kept FROM customer_merges WHERE duplicate_id=%s", duplicate)[0]
    assert entry["kept"] == [
        {"table": "customer_scores", "column": "customer_id", "key": {"customer_id": str(duplicate)}}
    ]
    assert rows(settings, "SELECT merged_into FROM customers WHERE id=%s", duplicate) == [
        {"merged_into": survivor}
    ]
    bad = await ops.post(
        f"/customers/{survivor}/merge",
        data={"csrf_token": ops.csrf, "duplicate_id": ""},
        headers={"X-CSRF-Token": ""},
    )
    assert bad.status_code == 422 and "请选择要并入的重复记录" in bad.text


async def test_c3_verify_review_step(ops, env, settings):
    # The queue is oldest first: records other tests left unverified would push these two off its first
    # page, so this test starts from a reviewed backlog.
    rows(
        settings,
        "UPDATE customers SET verified_at = now(), verified_by = 'tests' WHERE verified_at IS NULL RETURNING id",
    )
    tag = uuid.uuid4().hex[:6]
    number = mobile()
    await imported(ops, ["客户名称", "手机"], [f"待审{tag}", number], [f"待审重复{tag}", number])
    first, second = ids(settings, f"待审{tag}", f"待审重复{tag}")

    queue = (await ops.get("/api/v1/customers/review", params={"page_size": 100})).json()
    waiting = {item["customer"]["id"]: item for item in queue["items"]}
    assert first in waiting and second in waiting
    assert waiting[second]["duplicates"] == [{"id": first, "name": f"待审{tag}", "reasons": ["phone"]}]
    assert waiting[first]["customer"]["phone"] == f"{number[:3]}****{number[-4:]}"  # masked (SEC-1)
    order = [item["customer"]["id"] for item in queue["items"]]
    assert order.index(first) < order.index(second)  # oldest first

    page = await ops.get("/customers/review", params={"page": 1})
    assert f'action="/customers/{first}/verify"' in page.text and "待审重复" in page.text

    # An agent can see the queue but not verify.
    async with staff_client(
        env, settings, username="h2.agent2", role="agent", display_name="客服小王"
    ) as agent:
        assert (await agent.post(f"/api/v1/customers/{first}/verify")).status_code == 403
        assert f'action="/customers/{first}/verify"' not in (await agent.get("/customers/review")).text

    done = await ops.post(f"/api/v1/customers/{first}/verify")
    assert done.status_code == 200 and done.json()["verified_by"] == "运营小李"
    assert done.json()["verified_at"] is not None
    assert (await ops.post(f"/api/v1/customers/{first}/verify")).status_code == 409
    assert (await ops.post("/api/v1/customers/999999999/verify")).status_code == 404
    row = rows(settings, "SELECT verified_by FROM customers WHERE id=%s", first)[0]
    assert row["verified_by"] == "运营小李"  # the refused second call changed nothing

    # The web form verifies the other one and goes back to the queue.
    r = await ops.post(
        f"/customers/{second}/verify",
        data={"csrf_token": ops.csrf, "next": "/customers/review?page=1"},
        headers={"X-CSRF-Token": ""},
    )
    assert r.status_code == 303 and r.headers["location"] == "/customers/review?page=1"
    queue = (await ops.get("/api/v1/customers/review", params={"page_size": 100})).json()
    assert not {first, second} & {item["customer"]["id"] for item in queue["items"]}
    again = await ops.post(
        f"/customers/{second}/verify", data={"csrf_token": ops.csrf}, headers={"X-CSRF-Token": ""}
    )
    assert again.status_code == 409


async def test_c3_review_panel_on_the_customer_page(ops, settings):
    tag = uuid.uuid4().hex[:6]
    email = f"panel.{tag}@example.com"
    await imported(ops, ["客户名称", "邮箱"], [f"面板{tag}", email], [f"面板重复{tag}", email])
    first, second = ids(settings, f"面板{tag}", f"面板重复{tag}")
    page = await ops.get(f"/customers/{first}")
    assert page.status_code == 200
    assert 'id="customer-review-panel"' in page.text and "待审核" in page.text
    assert f'action="/customers/{first}/verify"' in page.text and f"#{second} 面板重复{tag}" in page.text

    await ops.post(f"/api/v1/customers/{first}/merge", json={"duplicate_id": second})
    merged_page = (await ops.get(f"/customers/{first}")).text
    assert "合并记录" in merged_page and f"面板重复{tag}" in merged_page
    gone = (await ops.get(f"/customers/{second}")).text
    assert f'已并入 <a href="/customers/{first}">' in gone
