"""Order follow-up through REST and the staff web forms, against a real worker (OF-1..OF-4)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.api.test_cases_api import open_step
from tests.workflows.helpers import eventually, rows

FACTS_OK = {f: True for f in ("customer_ok", "model_ok", "quantity_ok", "payment_ok", "address_ok")}


def order(**kw: Any) -> dict[str, Any]:
    return {
        "customer": {"name": "苏州某某机电有限公司", "type": "enterprise", "email": "buy@example.com"},
        "channel": "api",
        "order_no": f"DD{uuid.uuid4().hex[:12]}",
        "amount": "128000.50",
        "model": "V3.0标准版",
        "quantity": 3,
        "payment_status": "partial",
        "address": "苏州工业园区星湖街 8 号",
        "contact": "陈经理 13700137000",
        **kw,
    }


async def act(http: httpx.AsyncClient, number: str, action: str, **payload: Any) -> dict[str, Any]:
    r = await http.post(f"/api/v1/cases/{number}/actions/{action}", json={"actor": "订单专员小周", **payload})
    assert r.status_code == 200, r.text
    return r.json()


async def post_event(http: httpx.AsyncClient, order_no: str, **body: Any) -> httpx.Response:
    return await http.post(f"/api/v1/orders/{order_no}/events", json={"event_id": uuid.uuid4().hex, **body})


def kinds(settings: Any, number: str) -> list[str]:
    return [
        r["kind"]
        for r in rows(settings, "SELECT kind FROM case_events WHERE case_number=%s ORDER BY id", number)
    ]


async def test_of1_one_case_per_order_a_keyed_resend_returns_it_an_unkeyed_start_is_409(http, settings):
    body = order()
    first = await http.post("/api/v1/cases/order_followup", json={**body, "external_ref": body["order_no"]})
    assert first.status_code == 201, first.text
    number = first.json()["number"]
    assert number.startswith("OF-")
    again = await http.post("/api/v1/cases/order_followup", json={**body, "external_ref": body["order_no"]})
    assert again.status_code == 200 and again.json()["number"] == number and again.json()["created"] is False
    keyed = await http.post("/api/v1/cases/order_followup", json=body, headers={"Idempotency-Key": "retry-1"})
    assert keyed.status_code == 200 and keyed.json()["number"] == number
    other = await http.post("/api/v1/cases/order_followup", json={**body, "model": "V5.0旗舰版"})
    assert other.status_code == 409 and other.json()["case"] == number
    assert body["order_no"] in other.json()["detail"]
    await open_step(http, number, "order_confirmation")
    on_file = rows(
        settings, "SELECT case_number, model FROM order_records WHERE order_no=%s", body["order_no"]
    )
    assert on_file == [{"case_number": number, "model": "V3.0标准版"}]


async def test_of1_bad_intake_is_422_naming_the_field(http, settings):
    r = await http.post("/api/v1/cases/order_followup", json=order(payment_status="maybe"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "payment_status"]
    r = await http.post("/api/v1/cases/order_followup", json=order(planned="ship on monday"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "planned"]
    r = await http.post("/api/v1/cases/order_followup", json=order(quantity=0))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "quantity"]


async def test_of2_events_api_errors_404_422_409_and_a_resend_is_a_no_op(http, settings):
    body = order()
    number = (await http.post("/api/v1/cases/order_followup", json=body)).json()["number"]
    await open_step(http, number, "order_confirmation")
    no = body["order_no"]

    r = await post_event(http, "DD-NOT-ON-FILE", type="shipped")
    assert r.status_code == 404 and "DD-NOT-ON-FILE" in r.json()["detail"]
    r = await post_event(http, no, type="scheduled", milestone="ship")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "planned_at"]
    r = await post_event(http, no, type="teleported")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "type"]
    r = await post_event(http, no, type="exception", kind="stock_out")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "detail"]
    assert rows(settings, "SELECT count(*) AS n FROM order_events WHERE order_no=%s", no)[0]["n"] == 0

    event = {"event_id": f"erp-{uuid.uuid4().hex[:8]}", "type": "production_started"}
    r = await http.post(f"/api/v1/orders/{no}/events", json=event, headers={"X-Careflow-Source": "erp"})
    assert r.status_code == 202 and r.json() == {
        "event_id": event["event_id"],
        "order_no": no,
        "case_number": number,
        "duplicate": False,
    }
    r = await http.post(f"/api/v1/orders/{no}/events", json=event)
    assert r.status_code == 200 and r.json()["duplicate"] is True
    r = await http.post(f"/api/v1/orders/DD-other-{uuid.uuid4().hex[:6]}/events", json=event)
    assert r.status_code == 404

    await act(http, number, "confirm_order", **FACTS_OK)
    await eventually(lambda: "order_production_started" in kinds(settings, number))
    detail = (await http.get(f"/api/v1/orders/{no}")).json()
    assert detail["case_number"] == number and detail["case_state"] == "open"
    assert detail["record"]["order_status"] == "in_production"
    assert [(e["event_id"], e["source"]) for e in detail["events"]] == [(event["event_id"], "erp")]
    assert kinds(settings, number).count("order_production_started") == 1
    assert (await http.get("/api/v1/orders/DD-NOT-ON-FILE")).status_code == 404

    await act(http, number, "close", reason="订单取消")
    r = await post_event(http, no, type="shipped")
    assert r.status_code == 409 and "closed" in r.json()["detail"]
    assert rows(settings, "SELECT count(*) AS n FROM order_events WHERE order_no=%s", no)[0]["n"] == 1


async def test_of1_to_of4_rest_run_from_intake_to_close(http, settings):
    ship = datetime.now(UTC) + timedelta(days=20)
    body = order(planned=[{"milestone": "ship", "planned_at": ship.isoformat()}])
    number = (await http.post("/api/v1/cases/order_followup", json=body)).json()["number"]
    no = body["order_no"]
    await open_step(http, number, "order_confirmation")
    r = await http.post(
        f"/api/v1/cases/{number}/actions/confirm_order", json={"actor": "小周", "model_ok": True}
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "doubt"]
    r = await http.post(f"/api/v1/cases/{number}/actions/warn_delay", json={"actor": "小周"})
    assert r.status_code == 422
    r = await http.post(
        f"/api/v1/cases/{number}/actions/acknowledge_exception", json={"actor": "小周", "note": "x"}
    )
    assert r.status_code == 409 and "order_confirmation" in r.json()["detail"]

    view = await act(http, number, "confirm_order", **FACTS_OK)
    assert view["open_step"] is None and view["state"] == "open"
    for event in (
        {"type": "production_started"},
        {"type": "shipped"},
        {"type": "exception", "kind": "wrong_address", "detail": "收货地址门牌号错误"},
        {"type": "delivered"},
    ):
        assert (await post_event(http, no, **event)).status_code == 202
    await open_step(http, number, "exception_response")
    await act(http, number, "acknowledge_exception", note="已联系客户核实地址")
    await act(
        http,
        number,
        "resolve_exception",
        resolution="new_address",
        detail="改送园区北门",
        new_address="苏州工业园区星湖街 8 号北门",
    )
    body_now = await open_step(http, number, "delivery_satisfaction")
    assert body_now["record"]["order_status"] == "delivered"
    await act(http, number, "record_satisfaction", score=4, comment="送货准时")

    detail = await eventually(
        lambda: (
            (r := rows(settings, "SELECT state FROM cases WHERE number=%s", number))
            and r[0]["state"] == "closed"
        )
    )
    assert detail
    order_view = (await http.get(f"/api/v1/orders/{no}")).json()
    record = order_view["record"]
    assert order_view["case_state"] == "closed" and record["satisfaction"] == 4
    assert record["address"].endswith("北门") and "地址错误" in record["exception"]
    assert record["confirmed_at"] is not None and record["milestones"]["ship"]["done_at"] is not None
    assert [e["type"] for e in order_view["events"]] == [
        "production_started",
        "shipped",
        "exception",
        "delivered",
    ]
    case = (await http.get(f"/api/v1/cases/{number}")).json()
    assert case["case"]["outcome"] == "fulfilled"
    purposes = {
        r["purpose"] for r in rows(settings, "SELECT purpose FROM notifications WHERE case_number=%s", number)
    }
    assert {"order_confirmation", "order_exception", "exception_resolved", "survey"} <= purposes


WEB_ORDER = {
    "customer.type": "enterprise",
    "customer.name": "宁波某某家电有限公司",
    "customer.email": "buyer@example.com",
    "channel": "web_form",
    "amount": "36000",
    "model": "V2.0基础版",
    "quantity": "1",
    "payment_status": "paid",
    "address": "宁波市鄞州区天童南路 1 号",
    "contact": "林女士 13500135000",
    "actor": "订单专员小周",
}


async def test_of1_to_of4_through_the_web_forms(http, settings):
    no = f"DD{uuid.uuid4().hex[:10]}"
    form = {**WEB_ORDER, "order_no": no, "planned": "ship=2031-03-01 10:00; install=2031-03-03 14:00"}
    page = await http.get("/cases/new/order_followup")
    assert page.status_code == 200 and "订单编号" in page.text and "计划节点" in page.text
    r = await http.post(
        "/cases/new/order_followup", data={**form, "planned": "ship tomorrow", "idempotency_key": "of-w0"}
    )
    assert r.status_code == 422 and "milestone=date" in r.text
    r = await http.post("/cases/new/order_followup", data={**form, "idempotency_key": f"of-{no}"})
    assert r.status_code == 303, r.text
    number = r.headers["location"].rsplit("/", 1)[1]
    body = await open_step(http, number, "order_confirmation")
    # A date typed without an offset is Beijing time.
    assert body["record"]["milestones"]["install"]["planned_at"] == "2031-03-03T14:00:00+08:00"
    html = (await http.get(f"/cases/{number}")).text
    assert "核对并确认订单" in html and "登记订单事件" in html

    r = await http.post(f"/cases/{number}/actions/confirm_order", data={"actor": "小周", "customer_ok": "on"})
    assert r.status_code == 422 and "doubt" in r.text
    checks = {f: "on" for f in FACTS_OK}
    r = await http.post(f"/cases/{number}/actions/confirm_order", data={"actor": "小周", **checks})
    assert r.status_code == 303
    for event in ("delivered", "installed"):
        r = await http.post(
            f"/cases/{number}/actions/record_order_event", data={"actor": "客服小李", "type": event}
        )
        assert r.status_code == 303, r.text
    await open_step(http, number, "delivery_satisfaction")
    html = (await http.get(f"/cases/{number}")).text
    assert "记录满意度回访" in html and "已签收" in html
    r = await http.post(
        f"/cases/{number}/actions/record_satisfaction",
        data={"actor": "客服小李", "score": "5", "comment": "很好"},
    )
    assert r.status_code == 303
    await eventually(
        lambda: rows(settings, "SELECT outcome FROM cases WHERE number=%s", number)[0]["outcome"]
    )
    case = rows(settings, "SELECT outcome FROM cases WHERE number=%s", number)[0]
    assert case["outcome"] == "fulfilled"
    assert (
        rows(settings, "SELECT satisfaction FROM order_records WHERE case_number=%s", number)[0][
            "satisfaction"
        ]
        == 5
    )


async def test_of2_event_id_reused_on_another_order_is_409_and_changes_nothing(http, settings):
    first, second = order(), order()
    numbers = []
    for body in (first, second):
        r = await http.post("/api/v1/cases/order_followup", json=body)
        assert r.status_code == 201
        numbers.append(r.json()["number"])
        await open_step(http, numbers[-1], "order_confirmation")
    number = numbers[1]
    event = {"event_id": f"erp-{uuid.uuid4().hex[:8]}", "type": "production_started"}
    r = await http.post(f"/api/v1/orders/{first['order_no']}/events", json=event)
    assert r.status_code == 202

    r = await http.post(f"/api/v1/orders/{second['order_no']}/events", json=event)
    assert r.status_code == 409 and first["order_no"] in r.json()["detail"]
    assert (await http.get(f"/api/v1/orders/{second['order_no']}")).json()["events"] == []
    stored = rows(settings, "SELECT order_no FROM order_events WHERE event_id=%s", event["event_id"])
    assert stored == [{"order_no": first["order_no"]}]
    # The second case never got it: the next event it handles is the first one it was sent.
    await act(http, number, "confirm_order", **FACTS_OK)
    assert (await post_event(http, second["order_no"], type="shipped")).status_code == 202
    await eventually(lambda: "order_shipped" in kinds(settings, number))
    assert "order_production_started" not in kinds(settings, number)
    for case in numbers:
        await act(http, case, "close", reason="测试结束")


async def test_of4_customer_answers_the_delivery_survey_on_the_link(http, settings):
    body = order()
    number = (await http.post("/api/v1/cases/order_followup", json=body)).json()["number"]
    await open_step(http, number, "order_confirmation")
    await act(http, number, "confirm_order", **FACTS_OK)
    assert (await post_event(http, body["order_no"], type="delivered")).status_code == 202
    await open_step(http, number, "delivery_satisfaction")
    # The customer opens the link in the survey email and answers it; no staff callback.
    [mail] = await eventually(
        lambda: rows(
            settings,
            "SELECT body FROM notifications WHERE case_number=%s AND purpose='survey' AND channel='email'",
            number,
        )
    )
    link = "/s/" + re.search(r"/s/(\S+)", mail["body"]).group(1)
    assert (await http.get(link)).status_code == 200
    r = await http.post(link, data={"score": "3", "comment": "外包装有破损"})
    assert r.status_code == 200 and "感谢您的反馈" in r.text

    await eventually(
        lambda: rows(settings, "SELECT outcome FROM cases WHERE number=%s", number)[0]["outcome"]
    )
    case = (await http.get(f"/api/v1/cases/{number}")).json()["case"]
    assert case["state"] == "closed" and case["outcome"] == "fulfilled"
    assert (await http.get(f"/api/v1/orders/{body['order_no']}")).json()["record"]["satisfaction"] == 3
    [survey] = rows(settings, "SELECT * FROM surveys WHERE case_number=%s", number)
    assert (survey["score"], survey["answered_via"], survey["step"]) == (3, "link", "delivery_satisfaction")
    [step] = rows(
        settings, "SELECT * FROM case_steps WHERE case_number=%s AND step='delivery_satisfaction'", number
    )
    assert step["done_at"] is not None and step["outcome"]["score"] == 3
    [task] = rows(settings, "SELECT * FROM improvement_tasks WHERE survey_id=%s", survey["id"])
    assert task["case_number"] == number and task["status"] == "open"  # SAT-1: below 4
    r = await http.post(
        f"/api/v1/cases/{number}/actions/record_satisfaction", json={"actor": "客服小李", "score": 5}
    )
    assert r.status_code == 409  # answered and closed: a later callback changes nothing
