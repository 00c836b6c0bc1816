"""REST /api/v1 against a real worker: starts, actions, reads, lists, and every error changes nothing."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from tests.workflows.helpers import rows

INQUIRY: dict[str, Any] = {
    "customer": {"name": "上海某某科技有限公司", "type": "enterprise", "phone": "13900139000"},
    "channel": "email",
    "contact": "张经理 13900139000",
    "product": "工单系统",
    "need": "替换现有工单系统，300 坐席",
    "budget": "100万",
}


async def open_step(http: httpx.AsyncClient, number: str, step: str | None) -> dict[str, Any]:
    for _ in range(100):
        body = (await http.get(f"/api/v1/cases/{number}")).json()
        live = body.get("live") or {}
        if (live.get("open_step") or {}).get("step") == step and body.get("case"):
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"{number} never reached {step}: {body}")


async def test_ps1_start_case_returns_number_and_opens_first_response(http, settings):
    r = await http.post("/api/v1/cases/presales", json=INQUIRY)
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    assert number.startswith("PS-") and r.json()["created"] is True
    body = await open_step(http, number, "first_response")
    assert body["case"]["process"] == "presales" and body["record"]["product"] == "工单系统"
    assert body["live"]["actions"] == ["respond", "assign", "pause_clock", "hand_off", "close"]
    assert [e["kind"] for e in body["timeline"]][:2] == ["opened", "step_opened"]


async def test_idempotent_start_returns_the_same_case(http, settings):
    key = uuid.uuid4().hex
    first = await http.post("/api/v1/cases/presales", json=INQUIRY, headers={"Idempotency-Key": key})
    second = await http.post("/api/v1/cases/presales", json=INQUIRY, headers={"Idempotency-Key": key})
    assert first.status_code == 201 and second.status_code == 200
    assert first.json()["number"] == second.json()["number"]
    ref = f"shop-{uuid.uuid4().hex[:6]}"
    a = await http.post("/api/v1/cases/presales", json={**INQUIRY, "external_ref": ref})
    b = await http.post("/api/v1/cases/presales", json={**INQUIRY, "external_ref": ref})
    assert a.json()["number"] == b.json()["number"] and b.json()["created"] is False
    await open_step(http, first.json()["number"], "first_response")
    assert len(rows(settings, "SELECT 1 FROM cases WHERE number=%s", first.json()["number"])) == 1


async def test_start_with_bad_input_is_422_naming_the_field(http, settings):
    before = rows(settings, "SELECT count(*) AS n FROM case_keys")[0]["n"]
    r = await http.post("/api/v1/cases/presales", json={**INQUIRY, "product": ""})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "product"]
    r = await http.post("/api/v1/cases/presales", json={**INQUIRY, "channel": "pigeon"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "channel"]
    r = await http.post(
        "/api/v1/cases/presales",
        json={**{k: v for k, v in INQUIRY.items() if k != "customer"}, "customer_id": 999999},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "customer_id"]
    assert rows(settings, "SELECT count(*) AS n FROM case_keys")[0]["n"] == before


async def test_action_errors_404_409_422_change_nothing(http, settings):
    number = (await http.post("/api/v1/cases/presales", json=INQUIRY)).json()["number"]
    await open_step(http, number, "first_response")
    events_before = rows(settings, "SELECT count(*) AS n FROM case_events WHERE case_number=%s", number)[0][
        "n"
    ]

    r = await http.post("/api/v1/cases/PS-999999999/actions/respond", json={"actor": "a", "note": "n"})
    assert r.status_code == 404
    r = await http.post(f"/api/v1/cases/{number}/actions/fly", json={"actor": "a"})
    assert r.status_code == 404
    r = await http.post(
        f"/api/v1/cases/{number}/actions/send_proposal",
        json={"actor": "a", "summary": "s", "quote": "1", "timeline": "t"},
    )
    assert r.status_code == 409 and "first_response" in r.json()["detail"]
    r = await http.post(f"/api/v1/cases/{number}/actions/respond", json={"actor": "a"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "note"]
    r = await http.post(f"/api/v1/cases/{number}/actions/resume_clock", json={"actor": "a"})
    assert r.status_code == 409 and "not paused" in r.json()["detail"]

    after = rows(settings, "SELECT count(*) AS n FROM case_events WHERE case_number=%s", number)[0]["n"]
    assert after == events_before
    assert (await http.get(f"/api/v1/cases/{number}")).json()["live"]["open_step"]["step"] == "first_response"


async def test_ps2_ps3_ps4_through_the_api_to_lead_pool_and_back(http, settings):
    number = (await http.post("/api/v1/cases/presales", json=INQUIRY)).json()["number"]
    await open_step(http, number, "first_response")

    async def act(action: str, **payload: Any) -> dict[str, Any]:
        r = await http.post(f"/api/v1/cases/{number}/actions/{action}", json={"actor": "小王", **payload})
        assert r.status_code == 200, r.text
        return r.json()

    view = await act("respond", note="已电话联系")
    assert view["open_step"]["step"] == "needs_analysis"
    view = await act("grade", urgency="non_urgent", value="normal", analysis="标准需求")
    assert view["severity"] == "nonurgent_normal" and view["open_step"]["step"] == "proposal"
    view = await act("send_proposal", summary="标准版", quote="80万", timeline="4周", channel="email")
    assert view["open_step"]["step"] == "follow_up"
    r = await http.post(
        f"/api/v1/cases/{number}/actions/record_follow_up", json={"actor": "小王", "intent": "interested"}
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "next_step"]
    view = await act("record_follow_up", intent="not_interested", note="预算不足")
    assert view["state"] == "lead_pool" and view["actions"] == ["reactivate", "close"]
    listed = (await http.get("/api/v1/cases", params={"state": "lead_pool", "process": "presales"})).json()
    assert number in [c["number"] for c in listed["items"]]
    view = await act("reactivate", note="客户预算已批")
    assert view["state"] == "open" and view["open_step"]["step"] == "needs_analysis"
    view = await act("close", reason="客户选择了其他供应商")
    assert view["state"] == "closed" and view["outcome"] == "closed_by_staff"
    r = await http.post(f"/api/v1/cases/{number}/actions/close", json={"actor": "a", "reason": "again"})
    assert r.status_code == 409
    detail = (await http.get(f"/api/v1/cases/{number}")).json()
    assert detail["case"]["state"] == "closed" and detail["record"]["intent"] == "not_interested"
    kinds = [e["kind"] for e in detail["timeline"]]
    assert "entered_lead_pool" in kinds and "reactivated" in kinds and kinds[-1] == "closed_event"


async def test_list_cases_filters_and_paginates(http, settings):
    for _ in range(3):
        await http.post("/api/v1/cases/presales", json=INQUIRY)
    await asyncio.sleep(0.5)
    page = (await http.get("/api/v1/cases", params={"process": "presales", "page_size": 2})).json()
    assert page["page_size"] == 2 and len(page["items"]) == 2 and page["total"] >= 3
    r = await http.get("/api/v1/cases", params={"sla_state": "sideways"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "sla_state"]


async def test_openapi_documents_the_case_routes(http):
    spec = (await http.get("/openapi.json")).json()
    assert {"/api/v1/cases/presales", "/api/v1/cases/{number}", "/api/v1/cases"} <= set(spec["paths"])
    processes = (await http.get("/api/v1/processes")).json()
    assert "grade" in [a["name"] for a in processes[0]["actions"]]
