"""Value-added push through the REST API and the staff web pages, against the real worker (VP-1..VP-3)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from config import Settings
from tests.workflows.helpers import events, eventually, rows
from tests.workflows.test_value_push import WINDOW, publish_quick

LINK = "https://careflow.example.com/services/bundle-offers"


STARTED: list[str] = []


@pytest.fixture
async def quick(settings: Settings, restore_policy: None) -> None:
    await publish_quick(settings)


@pytest.fixture(autouse=True)
async def close_campaigns(http: httpx.AsyncClient, settings: Settings) -> Any:
    """Campaigns a test leaves open are closed, so later time skips do not run their steps."""
    yield
    numbers, STARTED[:] = list(STARTED), []
    for number in numbers:
        if rows(settings, "SELECT 1 FROM cases WHERE number=%s AND state <> 'closed'", number):
            close = {"actor": "test", "reason": "test over"}
            await http.post(f"/api/v1/cases/{number}/actions/close", json=close)


def customer(settings: Settings, tag: str, preferred: str | None = None) -> int:
    return rows(
        settings,
        "INSERT INTO customers (type, name, email, phone, contacts, tier, tags, preferred_channel)"
        " VALUES ('individual', %s, 'fan@example.com', '13900139000', '[]', 'normal', %s::jsonb, %s) RETURNING id",
        f"推送客户-{uuid.uuid4().hex[:6]}",
        f'["{tag}"]',
        preferred,
    )[0]["id"]


def a_tag() -> str:
    return f"t_{uuid.uuid4().hex[:8]}"


async def start(http: httpx.AsyncClient, settings: Settings, tag: str, **kw: Any) -> str:
    r = await http.post(
        "/api/v1/pushes", json={"tag": tag, "service": "套餐优惠", "link": LINK, "owner": "运营小E", **kw}
    )
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    STARTED.append(number)
    await pushed(settings, number)
    return number


async def pushed(settings: Settings, number: str) -> None:
    await eventually(lambda: "push_sent" in events(settings, number), f"{number} pushed")


def tokens(settings: Settings, number: str) -> dict[int, str]:
    found = rows(settings, "SELECT customer_id, token FROM push_deliveries WHERE case_number=%s", number)
    return {r["customer_id"]: r["token"] for r in found}


def delivery(settings: Settings, token: str) -> dict[str, Any]:
    return rows(settings, "SELECT * FROM push_deliveries WHERE token=%s", token)[0]


async def test_vp2_campaign_through_the_rest_api(http, settings):
    tag = a_tag()
    by_sms, by_email = customer(settings, tag, "sms"), customer(settings, tag)
    body = {"tag": tag, "service": "套餐优惠", "link": LINK, "tiers": ["normal"], "owner": "运营小E"}
    r = await http.post("/api/v1/pushes", json=body, headers={"Idempotency-Key": f"vp-{tag}"})
    assert r.status_code == 201 and r.json()["number"].startswith("VP-")
    number = r.json()["number"]
    STARTED.append(number)
    again = await http.post("/api/v1/pushes", json=body, headers={"Idempotency-Key": f"vp-{tag}"})
    assert again.status_code == 200 and again.json()["number"] == number
    await pushed(settings, number)
    campaign = (await http.get(f"/api/v1/pushes/{number}")).json()
    assert campaign["tag"] == tag and campaign["service"] == "套餐优惠" and campaign["tiers"] == ["normal"]
    assert campaign["metrics"]["delivered"] == 2 and campaign["channels"] == {"email": 1, "sms": 1}
    assert campaign["measured"] is False and campaign["response_target"] == 0.3
    assert campaign["current_step"] == "effect_window" and campaign["owner"] == "运营小E"
    assert set(tokens(settings, number)) == {by_sms, by_email}
    listed = (await http.get("/api/v1/pushes", params={"push_type": "monthly", "page_size": 200})).json()
    assert number in [c["number"] for c in listed["items"]]
    # The campaign is a case like any other: the case API and the case list show it.
    case = (await http.get(f"/api/v1/cases/{number}")).json()
    assert case["case"]["customer_id"] is None and case["record"]["tag"] == tag
    assert case["live"]["record"]["count"] == 2
    cases = (await http.get("/api/v1/cases", params={"process": "value_push", "page_size": 200})).json()
    assert number in [c["number"] for c in cases["items"]]
    # Campaigns start only here, where their audience is checked; the generic case route does not take them.
    generic = await http.post("/api/v1/cases/value_push", json={**body, "tag": a_tag()})
    assert generic.status_code in (404, 405)


async def test_vp2_bad_campaign_input_is_422_naming_the_field_and_starts_nothing(http, settings):
    count = "SELECT count(*) AS n FROM cases WHERE process='value_push'"
    before = rows(settings, count)[0]["n"]
    for body, field in (
        ({"tag": "x", "service": "s"}, "link"),
        ({"tag": "x", "service": "s", "link": "ftp://example.com"}, "link"),
        ({"tag": "x", "service": "s", "link": LINK, "tiers": ["gold"]}, "tiers"),
        ({"tag": "x", "service": "s", "link": LINK, "customer_ids": [987654321]}, "customer_ids"),
        ({"tag": "x", "service": "s", "link": LINK, "customer_id": 1}, "customer_id"),
    ):
        r = await http.post("/api/v1/pushes", json=body)
        assert r.status_code == 422, body
        assert field in [str(p) for p in r.json()["detail"][0]["loc"]], r.json()
    assert rows(settings, count)[0]["n"] == before
    assert (await http.get("/api/v1/pushes/VP-0")).status_code == 404


async def test_vp3_open_pixel_and_click_redirect_first_one_counts(http, settings):
    tag = a_tag()
    reader, clicker = customer(settings, tag), customer(settings, tag)
    number = await start(http, settings, tag)
    token = tokens(settings, number)
    r = await http.get(f"/t/o/{token[reader]}.gif")
    assert (
        r.status_code == 200 and r.headers["content-type"] == "image/gif" and r.content.startswith(b"GIF89a")
    )
    first_open = delivery(settings, token[reader])["opened_at"]
    await http.get(f"/t/o/{token[reader]}.gif")
    assert first_open is not None and delivery(settings, token[reader])["opened_at"] == first_open
    r = await http.get(f"/t/c/{token[clicker]}")
    assert r.status_code == 302 and r.headers["location"] == LINK
    clicked = delivery(settings, token[clicker])
    assert (
        clicked["clicked_at"] is not None and clicked["opened_at"] == clicked["clicked_at"]
    )  # a click is an open
    await http.get(f"/t/c/{token[clicker]}")
    assert delivery(settings, token[clicker])["clicked_at"] == clicked["clicked_at"]
    assert (await http.get("/t/o/not-a-token.gif")).status_code == 404
    assert (await http.get("/t/c/not-a-token")).status_code == 404
    metrics = (await http.get(f"/api/v1/pushes/{number}")).json()["metrics"]
    assert (metrics["opened"], metrics["clicked"], metrics["open_rate"], metrics["click_rate"]) == (
        2,
        1,
        1.0,
        0.5,
    )


async def test_vp3_inquiry_and_conversion_reports_count_within_the_window_only(
    env: WorkflowEnvironment, http, settings, quick
):
    tag = a_tag()
    asker, buyer, late = (customer(settings, tag) for _ in range(3))
    number = await start(http, settings, tag)
    token = tokens(settings, number)
    r = await http.post(f"/api/v1/pushes/{token[asker]}/inquiry")
    assert r.status_code == 200 and r.json()["inquired_at"] is not None and r.json()["number"] == number
    again = await http.post(f"/api/v1/pushes/{token[asker]}/inquiry")
    assert again.json()["inquired_at"] == r.json()["inquired_at"]
    assert (await http.post(f"/api/v1/pushes/{token[buyer]}/conversion")).status_code == 200
    assert (await http.post("/api/v1/pushes/not-a-token/inquiry")).status_code == 404
    await env.sleep(WINDOW + timedelta(minutes=1))
    for _ in range(200):
        case = (await http.get(f"/api/v1/cases/{number}")).json()
        if case["live"] and case["live"]["open_step"]:
            break
        await asyncio.sleep(0.05)
    assert case["live"]["open_step"]["step"] == "effect_analysis"
    r = await http.post(f"/api/v1/pushes/{token[late]}/inquiry")
    assert r.status_code == 409 and delivery(settings, token[late])["inquired_at"] is None
    campaign = (await http.get(f"/api/v1/pushes/{number}")).json()
    assert campaign["measured"] is True
    metrics = campaign["metrics"]
    assert (metrics["inquiries"], metrics["conversions"], metrics["respondents"]) == (1, 1, 2)
    assert metrics["response_rate"] == 0.6667 and metrics["meets_target"] is True
    # VP-3: the effect analysis through the generic action endpoint.
    path = f"/api/v1/cases/{number}/actions/record_analysis"
    r = await http.post(path, json={"actor": "运营小E", "decision": "keep"})
    assert r.status_code == 422 and "improvement_note" in r.json()["detail"][0]["loc"]
    r = await http.post(path, json={"actor": "运营小E", "decision": "keep", "improvement_note": "保持"})
    assert r.status_code == 200 and r.json()["state"] == "closed" and r.json()["outcome"] == "keep"
    record = (await http.get(f"/api/v1/pushes/{number}")).json()
    assert record["improvement_note"] == "保持" and record["decision"] == "keep"


async def test_vp2_web_form_starts_a_campaign_and_the_pages_show_it(http, settings):
    tag = a_tag()
    customer(settings, tag)
    form = {
        "push_type": "monthly",
        "tag": tag,
        "service": "免费检测服务",
        "link": LINK,
        "tiers": ["normal", "vip"],
        "channel": "",
        "owner": "运营小E",
        "actor": "运营小E",
        "idempotency_key": f"web-{tag}",
    }
    r = await http.post("/pushes/new", data=form)
    assert r.status_code == 303 and r.headers["location"].startswith("/pushes/VP-")
    number = r.headers["location"].rsplit("/", 1)[1]
    STARTED.append(number)
    twice = await http.post("/pushes/new", data=form)
    assert twice.headers["location"] == r.headers["location"]
    await pushed(settings, number)
    page = await http.get(f"/pushes/{number}")
    assert page.status_code == 200 and "免费检测服务" in page.text and "增值服务推送记录" in page.text
    assert "响应率" in page.text and "效果跟踪中" in page.text
    listing = await http.get("/pushes")
    assert number in listing.text and "打开率" in listing.text and "转化量" in listing.text
    case_page = await http.get(f"/cases/{number}")
    assert case_page.status_code == 200 and "增值服务已推送" in case_page.text  # the timeline
    record = rows(settings, "SELECT tiers FROM push_records WHERE case_number=%s", number)[0]
    assert record["tiers"] == ["normal", "vip"]
    # Inline errors; nothing is started.
    before = rows(settings, "SELECT count(*) AS n FROM cases WHERE process='value_push'")[0]["n"]
    bad = await http.post("/pushes/new", data={**form, "link": "", "idempotency_key": "x"})
    assert bad.status_code == 422 and "必填" in bad.text
    assert f'value="{tag}"' in bad.text
    assert rows(settings, "SELECT count(*) AS n FROM cases WHERE process='value_push'")[0]["n"] == before
    # The form can start from a row of the tag → service table.
    seeded = rows(settings, "SELECT id FROM push_services WHERE tag='high_activity'")[0]["id"]
    prefilled = await http.get(f"/pushes/new?service={seeded}")
    assert 'value="新功能教程"' in prefilled.text and 'value="high_activity"' in prefilled.text


async def test_vp2_tag_service_table_is_editable(http, settings):
    listed = (await http.get("/api/v1/push-services")).json()
    assert {(s["push_type"], s["tag"], s["service"]) for s in listed} >= {
        ("monthly", "high_activity", "新功能教程"),
        ("monthly", "upgrade_need", "套餐优惠"),
        ("monthly", "after_sales_care", "免费检测服务"),
    }
    tag = a_tag()
    body = {"push_type": "monthly", "tag": tag, "service": "案例解析", "link": LINK, "active": False}
    try:
        r = await http.post("/api/v1/push-services", json=body, headers={"X-Careflow-Actor": "ops.e"})
        assert r.status_code == 201 and r.json()["tag"] == tag
        row_id = r.json()["id"]
        assert (await http.post("/api/v1/push-services", json=body)).status_code == 409
        assert (await http.put("/api/v1/push-services/987654321", json=body)).status_code == 404
        bad = await http.put(f"/api/v1/push-services/{row_id}", json={**body, "link": "not a link"})
        assert bad.status_code == 422 and "link" in bad.json()["detail"][0]["loc"]
        r = await http.put(f"/api/v1/push-services/{row_id}", json={**body, "tiers": ["vip"]})
        assert r.status_code == 200 and r.json()["tiers"] == ["vip"]
        # The web table edits the same rows.
        page = await http.get("/pushes/services")
        assert page.status_code == 200 and "新功能教程" in page.text and "案例解析" in page.text
        form = {"push_type": "monthly", "tag": tag, "service": "案例解析视频", "link": LINK, "tiers": ["key"]}
        r = await http.post(f"/pushes/services/{row_id}", data={**form, "actor": "运营小E"})
        assert r.status_code == 303
        row = rows(settings, "SELECT * FROM push_services WHERE id=%s", row_id)[0]
        assert (row["service"], row["tiers"], row["active"], row["updated_by"]) == (
            "案例解析视频",
            ["key"],
            False,
            "测试主管",  # the signed-in user
        )
        r = await http.post(f"/pushes/services/{row_id}", data={**form, "service": ""})
        assert r.status_code == 422 and "必填" in r.text
    finally:
        rows(settings, "DELETE FROM push_services WHERE tag=%s RETURNING id", tag)
