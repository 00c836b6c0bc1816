"""After-sales through the REST API and through the staff web forms, intake to close (AS-1..AS-4, KB-1)."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.api.test_cases_api import open_step
from tests.workflows.helpers import rows

ISSUE: dict[str, Any] = {
    "customer": {"name": "宁波某某模具有限公司", "type": "enterprise", "phone": "13500135000"},
    "channel": "phone",
    "contact": "林工 13500135000",
    "description": "打印机驱动安装后无法打印质检单",
    "environment": "Windows 10, 驱动 5.2",
    "occurred_at": "2026-03-02T09:30:00+08:00",
    "issue_type": "fault",
    "urgency": "routine",
}


@pytest.fixture
async def faq(http: httpx.AsyncClient) -> AsyncIterator[dict[str, Any]]:
    """A library entry like the issue, so the intake has something to suggest; removed afterwards."""
    title = f"质检单无法打印 {uuid.uuid4().hex[:6]}"
    r = await http.post(
        "/api/v1/library",
        json={
            "title": title,
            "symptom": "安装新驱动后无法打印质检单",
            "cause": "驱动版本与打印机固件不兼容",
            "remedy": "卸载 5.2 驱动，安装官网 5.1 版驱动后重启打印服务",
            "category": "fault",
        },
    )
    assert r.status_code == 201, r.text
    yield r.json()
    await http.delete(f"/api/v1/library/{r.json()['id']}")


async def test_as1_to_as4_through_the_rest_api_from_intake_to_an_archived_close(http, settings, faq):
    r = await http.post("/api/v1/cases/aftersales", json=ISSUE)
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    assert number.startswith("AS-")
    body = await open_step(http, number, "issue_response")
    assert body["record"]["category"] == "fault" and body["record"]["urgency"] == "routine"
    assert body["live"]["severity"] == "routine" and body["live"]["open_step"]["target_seconds"] == 300
    # AS-2 / KB-1: the suggestions the agent was offered are part of the case history.
    offered = next(e for e in body["timeline"] if e["kind"] == "kb_suggested")["payload"]["suggestions"]
    assert faq["id"] in [s["id"] for s in offered]

    async def act(action: str, **payload: Any) -> dict[str, Any]:
        r = await http.post(f"/api/v1/cases/{number}/actions/{action}", json={"actor": "小周", **payload})
        assert r.status_code == 200, r.text
        return r.json()

    view = await act("respond", note="已记录，派技术支持", route="dispatch", library_entry=faq["id"])
    assert view["open_step"]["step"] == "dispatch"
    view = await act("dispatch", assignee="tech.sun", note="客户产线等着打印")
    assert view["owner"] == "tech.sun" and view["open_step"]["step"] == "tech_contact"
    view = await act("contact_customer", diagnosis="驱动版本不兼容")
    assert view["open_step"]["step"] == "resolution"
    assert view["open_step"]["target_seconds"] == 48 * 3600  # 000 §(三): a fault is resolved within 48 h
    r = await http.post(
        f"/api/v1/cases/{number}/actions/customer_decision", json={"actor": "小周", "approved": True}
    )
    assert r.status_code == 409 and "no remedy proposal" in r.json()["detail"]
    r = await http.post(
        f"/api/v1/cases/{number}/actions/propose_remedy",
        json={"actor": "小周", "kind": "teleport", "plan": "x"},
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "kind"]
    await act("propose_remedy", kind="remote", plan=faq["remedy"])
    await act("customer_decision", approved=True, note="同意远程处理")
    view = await act(
        "resolve", remedy="远程回退至 5.1 版驱动", cause="驱动版本不兼容", customer_confirmed=True
    )
    assert view["open_step"]["step"] == "satisfaction_callback"
    assert view["actions"][0] == "record_satisfaction"
    view = await act("record_satisfaction", score=5, comment="解决得很快")
    assert view["state"] == "closed" and view["outcome"] == "resolved"

    detail = (await http.get(f"/api/v1/cases/{number}")).json()
    record = detail["record"]
    assert (record["owner"], record["remedy"], record["customer_confirmed"], record["satisfaction"]) == (
        "tech.sun",
        "远程回退至 5.1 版驱动",
        True,
        5,
    )
    assert record["solved_at"] is not None
    kinds = [e["kind"] for e in detail["timeline"]]
    assert kinds[-2:] == ["archived", "closed_event"]
    found = (await http.get("/api/v1/library", params={"q": "无法打印质检单"})).json()["items"]
    assert number in [e["case_number"] for e in found]


async def test_as2_urgent_issue_is_not_answered_directly_422_names_the_field(http, settings):
    number = (await http.post("/api/v1/cases/aftersales", json={**ISSUE, "urgency": "urgent"})).json()[
        "number"
    ]
    await open_step(http, number, "issue_response")
    r = await http.post(
        f"/api/v1/cases/{number}/actions/respond", json={"actor": "a", "note": "重启即可", "route": "answer"}
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "route"]
    r = await http.post("/api/v1/cases/aftersales", json={**ISSUE, "issue_type": "rumour"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "issue_type"]
    await http.post(f"/api/v1/cases/{number}/actions/close", json={"actor": "a", "reason": "test done"})


async def test_as1_blank_symptom_or_answer_is_422_and_changes_nothing(http, settings):
    """Blanks alone are no symptom (the case library's title is its first line) and no answer."""
    before = rows(settings, "SELECT count(*) AS n FROM cases")[0]["n"]
    r = await http.post("/api/v1/cases/aftersales", json={**ISSUE, "description": " \n\t "})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "description"]
    assert rows(settings, "SELECT count(*) AS n FROM cases")[0]["n"] == before
    number = (await http.post("/api/v1/cases/aftersales", json=ISSUE)).json()["number"]
    timeline = (await open_step(http, number, "issue_response"))["timeline"]
    r = await http.post(
        f"/api/v1/cases/{number}/actions/respond", json={"actor": "a", "note": "   ", "route": "answer"}
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "note"]
    body = await open_step(http, number, "issue_response")
    assert body["timeline"] == timeline and body["record"]["remedy"] is None
    await http.post(f"/api/v1/cases/{number}/actions/close", json={"actor": "a", "reason": "test done"})


FORM = {
    "customer.type": "individual",
    "customer.name": "赵女士",
    "customer.phone": "13400134000",
    "channel": "online_chat",
    "contact": "赵女士 13400134000",
    "description": "安装新驱动后质检单无法打印",
    "issue_type": "how_to",
    "urgency": "routine",
    "actor": "小周",
}


async def test_as1_to_as4_through_the_web_forms_with_the_survey_answered_on_the_link(http, settings, faq):
    form_page = (await http.get("/cases/new/aftersales")).text
    assert "问题类型" in form_page and "操作咨询" in form_page and "发生时间" in form_page
    r = await http.post("/cases/new/aftersales", data={**FORM, "idempotency_key": uuid.uuid4().hex})
    assert r.status_code == 303, r.text
    number = r.headers["location"].rsplit("/", 1)[1]
    await open_step(http, number, "issue_response")
    page = (await http.get(f"/cases/{number}")).text
    assert "当前步骤：售后问题响应" in page and "知识库推荐案例" in page and faq["title"] in page

    async def post(action: str, **form: str) -> httpx.Response:
        return await http.post(f"/cases/{number}/actions/{action}", data={"actor": "小周", **form})

    assert (await post("respond", note="转技术支持", route="dispatch")).status_code == 303
    assert (await post("dispatch", assignee="tech.sun")).status_code == 303
    assert (await post("contact_customer", diagnosis="驱动不兼容")).status_code == 303
    # AS-3: the page offers a proposal first, not the decision or the resolution the workflow would refuse.
    page = (await http.get(f"/cases/{number}")).text
    assert 'id="action-propose_remedy"' in page
    assert 'id="action-customer_decision"' not in page and 'id="action-resolve"' not in page
    r = await post("resolve", remedy="r", customer_confirmed="on")
    assert r.status_code == 409 and "not approved" in r.text
    assert (await post("propose_remedy", kind="remote", plan="远程回退驱动")).status_code == 303
    page = (await http.get(f"/cases/{number}")).text
    assert 'id="action-customer_decision"' in page
    assert 'id="action-propose_remedy"' not in page and 'id="action-resolve"' not in page
    assert (await post("customer_decision", approved="on")).status_code == 303
    r = await post("resolve", remedy="远程回退驱动", cause="驱动不兼容", customer_confirmed="on")
    assert r.status_code == 303
    page = (await http.get(f"/cases/{number}")).text
    assert "当前步骤：满意度回访" in page and "驱动不兼容" in page  # the diagnosis in the timeline

    # SAT-1 / AS-4: the customer answers on the signed link without logging in.
    sent = rows(settings, "SELECT body FROM notifications WHERE case_number=%s AND purpose='survey'", number)[
        0
    ]["body"]
    token = re.search(r"/s/([\w.\-]+)", sent).group(1)  # type: ignore[union-attr]
    r = await http.post(f"/s/{token}", data={"score": "4", "comment": ""})
    assert r.status_code == 200, r.text
    for _ in range(100):
        detail = (await http.get(f"/api/v1/cases/{number}")).json()
        if detail["case"]["state"] == "closed":
            break
        await asyncio.sleep(0.05)
    assert detail["case"]["outcome"] == "resolved" and detail["record"]["satisfaction"] == 4
    page = (await http.get(f"/cases/{number}")).text
    assert "案件已关闭" in page and "已解决" in page
