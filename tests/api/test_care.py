"""Care tasks through the app (R-2): an order starts the customer's journey, the callback task is a case with
its page and actions, and the customer page shows the journey and the tasks."""

from __future__ import annotations

import uuid
from datetime import timedelta

from tests.workflows.helpers import eventually, rows

TASKS = "SELECT c.number, c.current_step FROM cases c WHERE c.customer_id=%s AND c.process='care' ORDER BY c.number"


async def test_r2_an_order_starts_the_journey_and_the_callback_task_is_a_case(env, settings, http):
    cid = rows(
        settings,
        "INSERT INTO customers (type, name, email, contacts, tier, owner) VALUES"
        " ('enterprise', %s, 'a@example.com', '[]', 'key', 'am_li') RETURNING id",
        f"关怀客户-{uuid.uuid4().hex[:6]}",
    )[0]["id"]
    started = await http.post(
        "/api/v1/cases/order_followup",
        json={
            "customer_id": cid,
            "channel": "api",
            "order_no": f"DD{uuid.uuid4().hex[:10]}",
            "amount": "5600.00",
            "model": "V3.0标准版",
            "quantity": 1,
            "payment_status": "paid",
            "address": "上海市浦东新区世纪大道 1 号",
            "contact": "李经理",
        },
    )
    assert started.status_code == 201, started.text
    [task] = await eventually(
        lambda: [t for t in rows(settings, TASKS, cid) if t["current_step"] == "welcome_callback"], "callback"
    )
    number = task["number"]
    assert rows(settings, "SELECT purpose FROM notifications WHERE recipient=%s", f"customer:{cid}") == [
        {"purpose": "welcome"}
    ]

    page = await http.get(f"/cases/{number}")
    assert page.status_code == 200 and "首次交易回访" in page.text and "客户关怀任务记录表" in page.text
    detail = (await http.get(f"/api/v1/cases/{number}")).json()
    assert detail["record"]["kind"] == "welcome_callback" and detail["live"]["owner"] == "am_li"
    processes = {p["process"]: p for p in (await http.get("/api/v1/processes")).json()}
    assert processes["care"]["prefix"] == "CR"
    form = await http.get("/cases/new/care")
    assert form.status_code == 200 and "任务类型" in form.text and "流失挽留" in form.text

    # Bad input names the field and changes nothing; a finished task refuses further actions.
    past = (await env.get_current_time()) - timedelta(hours=1)
    bad = await http.post(
        f"/api/v1/cases/{number}/actions/reschedule", json={"actor": "小李", "retry_at": past.isoformat()}
    )
    assert bad.status_code == 422 and "retry_at" in bad.text
    done = await http.post(
        f"/api/v1/cases/{number}/actions/complete",
        json={"actor": "小李", "result": "completed", "note": "已回访，客户满意"},
    )
    assert done.status_code == 200 and done.json()["state"] == "closed"
    again = await http.post(
        f"/api/v1/cases/{number}/actions/complete", json={"actor": "小李", "note": "再次"}
    )
    assert again.status_code == 409

    export = await http.get("/api/v1/records/care")
    assert export.status_code == 200, export.text
    header, *lines = export.text.lstrip("\ufeff").splitlines()
    assert header.startswith("任务编号,客户名称/姓名,任务类型,触发原因")
    assert any(number in line and "首次交易回访" in line and "已完成" in line for line in lines)

    customer = await http.get(f"/customers/{cid}")
    assert customer.status_code == 200
    assert "客户旅程" in customer.text and number in customer.text and "已回访，客户满意" in customer.text
