"""Effect tracking (R-5) and the touch cap (R-6) through the real app, worker, Temporal test server and Postgres:
the monthly effect report and page, tracked responses, the reactivation survey of long non-responders, and
the admin-editable cap."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from temporalio.testing import ActivityEnvironment

from activities.touches import TouchActivities
from config import Settings
from domain import interaction_plans as d
from domain.interaction_plans import DEFAULT_CAP
from domain.models import Role
from tests.signin import login_as
from tests.workflows.helpers import rows
from tests.workflows.test_interaction_plans import customer, ledger, plan, push_batch

CST = timezone(timedelta(hours=8))


async def touch(settings: Settings, customer_id: int, at: datetime) -> int:
    """A touch of another workflow (a journey's message), reserved as that workflow would; its id."""
    key = f"journey:{uuid.uuid4().hex}"
    acts = TouchActivities(settings.sqlalchemy_url())
    assert await ActivityEnvironment().run(acts.reserve_touch, customer_id, "news", "journey", key, at)
    return rows(settings, "SELECT id FROM customer_touches WHERE key=%s", key)[0]["id"]


def bought(settings: Settings, customer_id: int, at: datetime) -> None:
    rows(
        settings,
        "INSERT INTO transactions (customer_id, amount, occurred_at, external_id, source)"
        " VALUES (%s, 1000, %s, %s, 'erp') RETURNING id",
        customer_id,
        at,
        f"T-{uuid.uuid4().hex}",
    )


def row(report: dict[str, Any], tier: str | None, kind: str | None = None) -> dict[str, Any]:
    found = report["tiers"] if kind is None else report["rows"]
    if tier is None:
        return report["total"]
    return next(r for r in found if r["tier"] == tier and r["kind"] == kind)


async def test_r5_response_and_conversion_rates(http, env, settings):
    at = datetime(2025, 8, 10, 10, tzinfo=CST)
    tag = f"t_{uuid.uuid4().hex[:8]}"
    pushed = customer(settings, tier="vip", tags=[tag])
    rebuys, refers, silent = (customer(settings) for _ in range(3))
    replies = customer(settings, tier="key")
    prospect = customer(settings, potential="high")

    # A value-added push, clicked: the delivery's touch is stamped (the same tracked link as before).
    number, sent = await push_batch(settings, tag, at)
    assert sent.delivered == 1
    [delivery] = rows(settings, "SELECT * FROM push_deliveries WHERE case_number=%s", number)
    assert delivery["customer_id"] == pushed
    token = delivery["token"]
    assert (await http.get(f"/t/c/{token}")).status_code == 302
    # The month's plan sends the prospect a case study with a tracked link; the open pixel is loaded.
    result = await plan(env.client, settings, at, prospect)
    assert (result.reserved, result.messages) == (1, 1)
    [study] = ledger(settings, prospect)
    assert (await http.get(f"/t/o/{study['token']}.gif")).status_code == 200
    # Other touches: one followed by a purchase, one by a referral, one the owner records a reply for, one by
    # a purchase too late (40 days) to count.
    for person in (rebuys, refers, silent):
        await touch(settings, person, at)
    bought(settings, rebuys, at + timedelta(days=10))
    bought(settings, silent, at + timedelta(days=40))
    rows(
        settings,
        "INSERT INTO customers (type, name, contacts, tier, referred_by, created_at)"
        " VALUES ('individual', '被推荐客户', '[]', 'normal', %s, %s) RETURNING id",
        refers,
        at + timedelta(days=5),
    )
    answered = await touch(settings, replies, at)
    r = await http.post(
        f"/api/v1/care/touches/{answered}/response", json={"response": "replied", "actor": "经理"}
    )
    assert r.status_code == 200 and r.json()["response"] == "replied" and r.json()["responded_at"]
    assert rows(
        settings, "SELECT 1 FROM audit_log WHERE action='touch.response' AND target=%s", f"touch:{answered}"
    )
    # A weaker response later does not replace a stronger one.
    r = await http.post(f"/api/v1/care/touches/{answered}/response", json={"response": "opened"})
    assert r.json()["response"] == "replied"

    report = (await http.get("/api/v1/care/effect", params={"month": "2025-08"})).json()
    total = report["total"]
    assert (total["touches"], total["responded"], total["replied"]) == (6, 3, 1)
    assert (total["repurchases"], total["referrals"], total["converted"]) == (1, 1, 2)
    assert total["response_rate"] == 0.5 and total["conversion_rate"] == round(2 / 6, 4)
    assert row(report, "vip")["response_rate"] == 1.0 and row(report, "vip", "push")["touches"] == 1
    assert row(report, "key", "news")["replied"] == 1
    normal = row(report, "normal")
    assert (normal["touches"], normal["responded"], normal["converted"]) == (4, 1, 2)
    assert row(report, "normal", "case_study")["opened"] == 1
    assert [t["tier"] for t in report["tiers"]] == ["vip", "key", "normal"]
    assert report["cap"] == DEFAULT_CAP

    page = await http.get("/care/effect", params={"month": "2025-08"})
    assert page.status_code == 200 and "50.0%" in page.text and "客户维护效果" in page.text
    assert 'name="csrf_token"' in page.text


async def test_r5_bad_input_is_422_or_404_and_changes_nothing(http, settings):
    r = await http.get("/api/v1/care/effect", params={"month": "2025-13"})
    assert r.status_code == 422 and "month" in r.json()["detail"][0]["loc"]
    assert (await http.get("/care/effect", params={"month": "august"})).status_code == 422
    assert (
        await http.post("/api/v1/care/touches/987654321/response", json={"response": "replied"})
    ).status_code == 404
    person = customer(settings)
    touch_id = await touch(settings, person, datetime.now(UTC))
    r = await http.post(f"/api/v1/care/touches/{touch_id}/response", json={"response": "liked"})
    assert r.status_code == 422 and "response" in r.json()["detail"][0]["loc"]
    assert ledger(settings, person)[0]["response"] is None
    listed = (await http.get("/api/v1/care/touches", params={"customer_id": person})).json()
    assert [t["id"] for t in listed["items"]] == [touch_id] and listed["total"] == 1


async def test_r5_long_non_responder_gets_reactivation_survey(http, env, settings):
    now = datetime.now(UTC)
    ignored, answered, new = (customer(settings, tier="watch") for _ in range(3))
    for days in (150, 90, 20):
        await touch(settings, ignored, now - timedelta(days=days))
        await touch(settings, answered, now - timedelta(days=days))
    await touch(settings, new, now - timedelta(days=20))
    await touch(settings, new, now - timedelta(days=10))
    one = ledger(settings, answered)[1]["id"]
    await http.post(f"/api/v1/care/touches/{one}/response", json={"response": "replied"})
    before = (await http.get("/api/v1/care/effect")).json()["non_responders"]

    result = await plan(env.client, settings, now, ignored, answered, new)
    assert (result.reactivation, result.messages) == (1, 1)
    month = d.month_label(d.month_of(now))
    [survey] = rows(
        settings, "SELECT * FROM surveys WHERE customer_id IN (%s, %s, %s)", ignored, answered, new
    )
    assert (survey["customer_id"], survey["key"], survey["round"], survey["kind"]) == (
        ignored,
        f"reactivation:{month}:{ignored}",
        f"reactivation-{month}",
        "csat",
    )
    touch_row = ledger(settings, ignored)[-1]
    assert (touch_row["kind"], touch_row["plan"], touch_row["key"]) == (
        "survey",
        "reactivation",
        f"survey:{survey['key']}",
    )
    [message] = rows(
        settings,
        "SELECT * FROM notifications WHERE purpose='reactivation' AND recipient=%s",
        f"customer:{ignored}",
    )
    link = re.search(r"/s/([\w.-]+)", message["body"])
    assert link, message["body"]
    assert (await http.get("/api/v1/care/effect")).json()["non_responders"] == before - 1

    # The customer answers on the link: the survey touch counts as a reply.
    r = await http.post(f"/api/v1/surveys/{link[1]}/answer", json={"score": 4, "comment": "最近比较忙"})
    assert r.status_code == 200
    assert (
        ledger(settings, ignored)[-1]["response"],
        ledger(settings, ignored)[-1]["responded_at"] is not None,
    ) == (
        "replied",
        True,
    )
    # Not again within six months.
    again = await plan(env.client, settings, now, ignored, answered, new)
    assert again.reactivation == 0


async def test_r6_touch_cap_is_admin_editable(http, settings):
    assert (await http.get("/api/v1/care/touch-policy")).json()["max_per_month"] == DEFAULT_CAP
    try:
        r = await http.put("/api/v1/care/touch-policy", json={"max_per_month": 0})
        assert r.status_code == 422 and "max_per_month" in r.json()["detail"][0]["loc"]
        assert (await http.get("/api/v1/care/touch-policy")).json()["max_per_month"] == DEFAULT_CAP
        r = await http.put("/api/v1/care/touch-policy", json={"max_per_month": 1, "actor": "管理员"})
        assert r.status_code == 200 and r.json()["updated_by"] == "管理员"
        person = customer(settings)
        acts = TouchActivities(settings.sqlalchemy_url())
        run = ActivityEnvironment()
        assert await run.run(acts.reserve_touch, person, "greeting", "journey", "k1-" + uuid.uuid4().hex)
        assert not await run.run(acts.reserve_touch, person, "greeting", "journey", "k2-" + uuid.uuid4().hex)
        audit = rows(settings, "SELECT * FROM audit_log WHERE action='touch_policy.update' ORDER BY id DESC")
        assert audit and audit[0]["detail"]["max_per_month"] == [DEFAULT_CAP, 1]
        # The page's form (with its CSRF field) edits the same value — for admins only.
        r = await http.post("/care/touch-policy", data={"max_per_month": "5", "month": "2026-01"})
        assert r.status_code == 403
        login_as(http, Role.ADMIN)
        r = await http.post("/care/touch-policy", data={"max_per_month": "x", "month": "2026-01"})
        assert r.status_code == 422 and "max_per_month" in r.text
        r = await http.post("/care/touch-policy", data={"max_per_month": "5", "month": "2026-01"})
        assert r.status_code == 303 and r.headers["location"] == "/care/effect?month=2026-01"
        assert (await http.get("/api/v1/care/touch-policy")).json()["max_per_month"] == 5
    finally:
        await http.put("/api/v1/care/touch-policy", json={"max_per_month": DEFAULT_CAP, "actor": "tests"})
