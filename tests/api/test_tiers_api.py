"""T-3 review and approval, T-4 before/after history, T-5 the approved tier's targets on the next case, and
the tier pages — through the real app, signed in as real staff, on the real worker and Postgres."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from activities.policy import policy_in_force
from api.auth import CSRF_HEADER
from db.engine import sessionmaker_for, transaction
from domain.customers import TIER_BENEFITS
from domain.models import Tier
from domain.sla import resolve
from tests.signin import staff_browsers
from tests.workflows.helpers import close_case, rows, rows_eventually
from tests.workflows.test_aftersales import start_aftersales, target, to_resolution

Browser = Callable[[str], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def staff(env, settings, worker) -> AsyncIterator[Browser]:
    """``await staff(role)``: a signed-in browser of a new staff member with that role."""
    async with staff_browsers(env, settings) as open_browser:

        async def as_role(role: str) -> httpx.AsyncClient:
            username = f"{role[:8]}.{uuid.uuid4().hex[:6]}"
            return await open_browser(username, role, f"{role}-{username[-6:]}")

        yield as_role


def new_customer(settings, tier: str = "normal", email: str | None = None) -> int:
    return rows(
        settings,
        "INSERT INTO customers (type, name, contacts, tier, email) VALUES ('enterprise', %s, '[]', %s, %s) RETURNING id",
        f"分级客户{uuid.uuid4().hex[:6]}",
        tier,
        email,
    )[0]["id"]


def tier_of(settings, customer_id: int) -> str:
    return rows(settings, "SELECT tier FROM customers WHERE id=%s", customer_id)[0]["tier"]


async def proposed(
    manager: httpx.AsyncClient, customer_id: int, tier: str, reason: str = "行业头部客户"
) -> dict[str, Any]:
    r = await manager.post(
        "/api/v1/tiers/reviews", json={"customer_id": customer_id, "proposed_tier": tier, "reason": reason}
    )
    assert r.status_code == 201, r.text
    return r.json()


async def test_t3_adjust_needs_reason(settings, staff) -> None:
    manager = await staff("account_manager")
    customer = new_customer(settings)
    review = await proposed(manager, customer, "key")
    url = f"/api/v1/tiers/reviews/{review['id']}/adjust"
    for body in ({"proposed_tier": "vip"}, {"proposed_tier": "vip", "reason": "   "}):
        r = await manager.post(url, json=body)
        assert r.status_code == 422
        assert [e["loc"][-1] for e in r.json()["detail"]] == ["reason"]
    r = await manager.post(url, json={"proposed_tier": "platinum", "reason": "x"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "proposed_tier"
    # Nothing changed by the refusals.
    after = rows(settings, "SELECT proposed_tier, reason FROM tier_reviews WHERE id=%s", review["id"])[0]
    assert after == {"proposed_tier": "key", "reason": "行业头部客户"}
    # A proposal needs a reason too.
    r = await manager.post("/api/v1/tiers/reviews", json={"customer_id": customer, "proposed_tier": "vip"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "reason"
    r = await manager.post(url, json={"proposed_tier": "vip", "reason": "年采购额预计超 60 万"})
    assert r.status_code == 200, r.text
    assert (r.json()["proposed_tier"], r.json()["reason"], r.json()["proposed_by"]) == (
        "vip",
        "年采购额预计超 60 万",
        manager.name,  # type: ignore[attr-defined]
    )
    assert tier_of(settings, customer) == "normal"


async def test_t3_only_approved_tier_takes_effect(settings, staff) -> None:
    manager, supervisor = await staff("account_manager"), await staff("sales_supervisor")
    customer = new_customer(settings)
    first = await proposed(manager, customer, "key")
    assert tier_of(settings, customer) == "normal"  # pending: nothing yet
    body = (await supervisor.get(f"/api/v1/customers/{customer}/tier")).json()
    assert body["tier"] == "normal" and body["pending"]["id"] == first["id"] and body["history"] == []
    # The account manager may not decide.
    r = await manager.post(f"/api/v1/tiers/reviews/{first['id']}/approve", json={})
    assert r.status_code == 403 and tier_of(settings, customer) == "normal"
    r = await supervisor.post(f"/api/v1/tiers/reviews/{first['id']}/reject", json={"note": "消费未达标"})
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert tier_of(settings, customer) == "normal"
    assert rows(settings, "SELECT 1 FROM tier_changes WHERE customer_id=%s", customer) == []
    second = await proposed(manager, customer, "key")
    r = await supervisor.post(f"/api/v1/tiers/reviews/{second['id']}/approve", json={"note": "同意"})
    assert r.status_code == 200, r.text
    approved = r.json()
    assert approved["review"]["status"] == "approved"
    assert approved["review"]["decided_by"] == supervisor.name  # type: ignore[attr-defined]
    assert tier_of(settings, customer) == "key"
    queue = (await supervisor.get("/api/v1/tiers/reviews", params={"status": "pending"})).json()
    assert second["id"] not in [i["id"] for i in queue["items"]]


async def test_t4_change_recorded_before_after(settings, staff) -> None:
    manager, supervisor = await staff("account_manager"), await staff("sales_supervisor")
    customer = new_customer(settings, "key")
    for tier in ("vip", "watch"):  # an upgrade, then a downgrade
        review = await proposed(manager, customer, tier)
        r = await supervisor.post(f"/api/v1/tiers/reviews/{review['id']}/approve", json={})
        assert r.status_code == 200
        assert (r.json()["change"]["before"], r.json()["change"]["after"]) == (
            "key" if tier == "vip" else "vip",
            tier,
        )
    body = (await manager.get(f"/api/v1/customers/{customer}/tier")).json()
    assert body["tier"] == "watch" and body["pending"] is None
    assert [(c["before"], c["after"]) for c in body["history"]] == [("vip", "watch"), ("key", "vip")]
    assert {c["changed_by"] for c in body["history"]} == {supervisor.name}  # type: ignore[attr-defined]
    # Keeping the tier: adjusted back to the current tier, approval changes and records nothing.
    review = await proposed(manager, customer, "normal")
    await manager.post(
        f"/api/v1/tiers/reviews/{review['id']}/adjust", json={"proposed_tier": "watch", "reason": "维持观察"}
    )
    r = await supervisor.post(f"/api/v1/tiers/reviews/{review['id']}/approve", json={})
    assert r.status_code == 200 and r.json()["change"] is None
    assert len(rows(settings, "SELECT 1 FROM tier_changes WHERE customer_id=%s", customer)) == 2


async def test_t3_customer_told_tier_and_benefits(settings, staff) -> None:
    manager, supervisor = await staff("account_manager"), await staff("sales_supervisor")
    customer = new_customer(settings, "key", email=f"{uuid.uuid4().hex[:8]}@example.com")
    review = await proposed(manager, customer, "vip")
    r = await supervisor.post(f"/api/v1/tiers/reviews/{review['id']}/approve", json={})
    assert r.status_code == 200
    told = await rows_eventually(
        settings,
        "SELECT channel, recipient, subject, body FROM notifications WHERE purpose='tier_changed' AND recipient=%s",
        f"customer:{customer}",
    )
    assert [t["channel"] for t in told] == ["email"]
    assert "VIP客户" in told[0]["subject"]
    assert "重点客户" in told[0]["body"] and TIER_BENEFITS[Tier.VIP] in told[0]["body"]
    # A rejected review tells nobody (no workflow is started for it).
    other = new_customer(settings, "normal", email=f"{uuid.uuid4().hex[:8]}@example.com")
    rejected = await proposed(manager, other, "vip")
    await supervisor.post(f"/api/v1/tiers/reviews/{rejected['id']}/reject", json={})
    assert rows(settings, "SELECT 1 FROM notifications WHERE recipient=%s", f"customer:{other}") == []


async def test_t3_api_404_409_422_change_nothing(settings, staff) -> None:
    manager, supervisor = await staff("account_manager"), await staff("sales_supervisor")
    customer = new_customer(settings)
    assert (
        await manager.post(
            "/api/v1/tiers/reviews/99999999/adjust", json={"proposed_tier": "vip", "reason": "x"}
        )
    ).status_code == 404
    assert (await supervisor.post("/api/v1/tiers/reviews/99999999/approve", json={})).status_code == 404
    assert (await supervisor.post("/api/v1/tiers/reviews/99999999/reject", json={})).status_code == 404
    assert (await manager.get("/api/v1/customers/99999999/tier")).status_code == 404
    r = await manager.post(
        "/api/v1/tiers/reviews", json={"customer_id": 99999999, "proposed_tier": "vip", "reason": "x"}
    )
    assert r.status_code == 404
    # Proposing the tier the customer has: nothing to review.
    r = await manager.post(
        "/api/v1/tiers/reviews", json={"customer_id": customer, "proposed_tier": "normal", "reason": "x"}
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "proposed_tier"
    review = await proposed(manager, customer, "key")
    # One pending review per customer.
    r = await manager.post(
        "/api/v1/tiers/reviews", json={"customer_id": customer, "proposed_tier": "vip", "reason": "x"}
    )
    assert r.status_code == 409
    assert (
        await supervisor.post(f"/api/v1/tiers/reviews/{review['id']}/approve", json={})
    ).status_code == 200
    # Decided: every further decision or adjustment is 409 and changes nothing.
    for path, body in (
        ("approve", {}),
        ("reject", {}),
        ("adjust", {"proposed_tier": "watch", "reason": "x"}),
    ):
        who = manager if path == "adjust" else supervisor
        assert (await who.post(f"/api/v1/tiers/reviews/{review['id']}/{path}", json=body)).status_code == 409
    assert tier_of(settings, customer) == "key"
    assert len(rows(settings, "SELECT 1 FROM tier_changes WHERE customer_id=%s", customer)) == 1
    assert rows(settings, "SELECT status FROM tier_reviews WHERE id=%s", review["id"]) == [
        {"status": "approved"}
    ]


async def test_t1_models_put_validates_weights_and_the_breakdown_uses_them(settings, staff) -> None:
    manager, supervisor = await staff("account_manager"), await staff("sales_supervisor")
    industry = f"测试行业{uuid.uuid4().hex[:6]}"
    bad = {"industry": industry, "model": "vpl", "weights": {"value": 50, "potential": 30, "loyalty": 30}}
    r = await supervisor.put("/api/v1/tiers/models", json=bad)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "weights"
    assert "sum to 100" in r.json()["detail"][0]["msg"]
    good = {"industry": industry, "model": "vpl", "weights": {"value": 40, "potential": 40, "loyalty": 20}}
    assert (await manager.put("/api/v1/tiers/models", json=good)).status_code == 403
    r = await supervisor.put("/api/v1/tiers/models", json=good)
    assert r.status_code == 200
    listed = {m["industry"]: m for m in (await manager.get("/api/v1/tiers/models")).json()}
    assert listed[industry]["weights"] == good["weights"] and "*" in listed
    customer = rows(
        settings,
        "INSERT INTO customers (type, name, contacts, tier, industry) VALUES ('enterprise', '行业客户', '[]', 'normal', %s)"
        " RETURNING id",
        industry,
    )[0]["id"]
    r = await supervisor.post("/api/v1/tiers/evaluate", json={"tiers": ["normal"]})
    assert r.status_code == 200 and r.json()["scored"] >= 1
    body = (await manager.get(f"/api/v1/customers/{customer}/tier")).json()
    score = body["score"]
    assert score["model"] == "vpl" and [d["name"] for d in score["dimensions"]] == [
        "value",
        "potential",
        "loyalty",
    ]
    assert [d["weight"] for d in score["dimensions"]] == [40, 40, 20]
    assert sum(d["points"] for d in score["dimensions"]) == pytest.approx(score["score"])
    # Never bought: computed watch, so the evaluation opened a review (normal → watch).
    assert (body["pending"]["current_tier"], body["pending"]["proposed_tier"], body["pending"]["cause"]) == (
        "normal",
        "watch",
        "manual",
    )
    assert body["tier"] == "normal"
    rows(settings, "DELETE FROM tier_models WHERE industry=%s RETURNING industry", industry)


async def test_t5_approved_vip_gets_vip_targets_on_next_case(env, settings, staff) -> None:
    """A case keeps the tier it opened with; only an approved change reaches the next case's targets."""
    manager, supervisor = await staff("account_manager"), await staff("sales_supervisor")
    customer = new_customer(settings, "normal")
    async with transaction(settings.sqlalchemy_url()) as db:
        rules = (await policy_in_force(db)).rules
    # A fault (000 §(三) 故障类): 48 h to resolve, VIP 4 h.
    normal_rule = resolve(rules, process="aftersales", step="resolution", tier="normal", variant="fault")
    vip_rule = resolve(rules, process="aftersales", step="resolution", tier="vip", variant="fault")
    assert vip_rule.target is not None and normal_rule.target is not None
    assert vip_rule.target < normal_rule.target and "T-5" in vip_rule.source

    async def resolution_target() -> tuple[Any, timedelta]:
        handle = await start_aftersales(env.client, settings, customer_id=customer, issue_type="fault")
        return handle, target(await to_resolution(handle))

    before, before_target = await resolution_target()
    assert before_target == normal_rule.target
    # Proposed VIP, pending: the SLA does not move.
    review = await proposed(manager, customer, "vip", reason="年消费超 50 万")
    pending, pending_target = await resolution_target()
    assert pending_target == normal_rule.target
    r = await supervisor.post(f"/api/v1/tiers/reviews/{review['id']}/approve", json={})
    assert r.status_code == 200
    after, after_target = await resolution_target()
    # 4 h, or 2 h when the step opens on a non-working day (002 §二(二) 非工作日2小时).
    assert after_target in {vip_rule.target, vip_rule.off_hours_target}
    assert after_target < before_target
    tiers = rows(
        settings,
        "SELECT number, tier_at_open FROM cases WHERE number = ANY(%s)",
        [before.id, pending.id, after.id],
    )
    assert {r["number"]: r["tier_at_open"] for r in tiers} == {
        before.id: "normal",
        pending.id: "normal",
        after.id: "vip",
    }
    for handle in (before, pending, after):
        await close_case(handle)


# -- pages --------------------------------------------------------------------------------------------------


def form(browser: httpx.AsyncClient, **fields: str) -> dict[str, str]:
    return {"csrf_token": browser.csrf, **fields}  # type: ignore[attr-defined]


async def test_t3_review_queue_page_adjust_approve_reject(settings, staff) -> None:
    manager, supervisor = await staff("account_manager"), await staff("sales_supervisor")
    # The queue pages the pending reviews oldest first: those other tests' re-evaluations left open would
    # push this one off the first page, so this test starts from a decided backlog.
    rows(settings, "UPDATE tier_reviews SET status = 'rejected' WHERE status = 'pending' RETURNING id")
    customer = new_customer(settings)
    review = await proposed(manager, customer, "key")
    page = await manager.get("/tiers/reviews")
    assert page.status_code == 200 and "客户分级审核" in page.text
    card = page.text[page.text.index(f'id="review-{review["id"]}"') :]
    assert "普通客户" in card and "重点客户" in card and "客户经理调整" in card
    assert "审批通过" not in card.split("</li>")[0]  # the account manager cannot approve
    assert f'name="csrf_token" value="{manager.csrf}"' in page.text  # type: ignore[attr-defined]
    # Adjust without a reason: 422, the error at the field, nothing saved.
    r = await manager.post(
        f"/tiers/reviews/{review['id']}/adjust",
        data=form(manager, action="adjust", proposed_tier="vip", reason=""),
    )
    assert r.status_code == 422 and "必填" in r.text
    assert (
        rows(settings, "SELECT proposed_tier FROM tier_reviews WHERE id=%s", review["id"])[0]["proposed_tier"]
        == "key"
    )
    r = await manager.post(
        f"/tiers/reviews/{review['id']}/adjust",
        data=form(manager, action="adjust", proposed_tier="vip", reason="战略合作伙伴"),
    )
    assert r.status_code == 303
    page = await supervisor.get("/tiers/reviews")
    assert "战略合作伙伴" in page.text and "审批通过" in page.text
    r = await supervisor.post(
        f"/tiers/reviews/{review['id']}/approve", data=form(supervisor, action="approve")
    )
    assert r.status_code == 303 and tier_of(settings, customer) == "vip"
    # Deciding again: the 409 error page.
    r = await supervisor.post(f"/tiers/reviews/{review['id']}/reject", data=form(supervisor, action="reject"))
    assert r.status_code == 409
    done = await supervisor.get("/tiers/reviews", params={"status": "approved"})
    assert f'id="review-{review["id"]}"' in done.text
    # A form without the CSRF token is refused.
    other = await proposed(manager, new_customer(settings), "key")
    r = await supervisor.post(
        f"/tiers/reviews/{other['id']}/approve", data={"action": "approve"}, headers={CSRF_HEADER: ""}
    )
    assert r.status_code == 403


async def test_t1_models_page_edits_weights(settings, staff) -> None:
    supervisor = await staff("sales_supervisor")
    page = await supervisor.get("/tiers/models")
    assert page.status_code == 200 and "所有行业（默认）" in page.text and "最近消费（R）" in page.text
    industry = f"页面行业{uuid.uuid4().hex[:6]}"
    weights = {"weight_value": "50", "weight_potential": "30", "weight_loyalty": "30"}
    r = await supervisor.post(
        "/tiers/models", data=form(supervisor, industry=industry, model="vpl", **weights)
    )
    assert r.status_code == 422 and "合计为 100（当前合计 110）" in r.text
    assert rows(settings, "SELECT 1 FROM tier_models WHERE industry=%s", industry) == []
    weights["weight_loyalty"] = "20"
    r = await supervisor.post(
        "/tiers/models", data=form(supervisor, industry=industry, model="vpl", **weights)
    )
    assert r.status_code == 303
    saved = rows(settings, "SELECT model, weights, updated_by FROM tier_models WHERE industry=%s", industry)
    assert saved == [
        {
            "model": "vpl",
            "weights": {"value": 50, "potential": 30, "loyalty": 20},
            "updated_by": supervisor.name,
        }
    ]  # type: ignore[attr-defined]
    page = await supervisor.get("/tiers/models", params={"saved": industry})
    assert f"已保存行业“{industry}”" in page.text
    rows(settings, "DELETE FROM tier_models WHERE industry=%s RETURNING industry", industry)


async def test_t3_customer_tier_panel_shows_score_pending_and_history(settings, staff) -> None:
    from api.web.pages import templates
    from api.web.tiers import load_tier_panel

    manager, supervisor = await staff("account_manager"), await staff("sales_supervisor")
    customer = new_customer(settings)
    first = await proposed(manager, customer, "key")
    await supervisor.post(f"/api/v1/tiers/reviews/{first['id']}/approve", json={})
    await supervisor.post(
        "/api/v1/tiers/evaluate", json={"tiers": ["key"]}
    )  # scores it: never bought → watch
    async with sessionmaker_for(settings.sqlalchemy_url())() as db:
        context = await load_tier_panel(db, customer)
    html = templates.get_template("_customer_tier_panel.html").render(t=lambda k: k, **context)
    text = re.sub(r"\s+", " ", html)
    assert "客户分级" in text and "综合得分" in text
    assert "tier_dim_recency" in text  # one row per dimension
    assert "待审核：key → watch" in text
    assert "normal → <b>key</b>" in text
    # On the customer page, with the labels.
    page = await manager.get(f"/customers/{customer}")
    assert page.status_code == 200
    panel = re.sub(r"\s+", " ", page.text[page.text.index('id="tier"') :])
    assert "客户分级 · <strong>重点客户</strong>" in panel and "最近消费（R）" in panel
    assert "待审核：重点客户 → 观察客户" in panel and "普通客户 → <b>重点客户</b>" in panel
