"""A complaint from intake to close through the REST API and through the staff web forms (CP-1..CP-4)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.test_cases_api import open_step
from tests.workflows.helpers import rows

COMPLAINT: dict[str, Any] = {
    "customer": {"name": "苏州某某贸易有限公司", "type": "enterprise", "phone": "13500135000"},
    "channel": "phone",
    "contact": "孙经理 13500135000",
    "content": "安装工程师爽约两次，无人解释",
    "demand": "尽快安装并道歉",
    "emotion": "angry",
    "scope": "single",
}


async def test_cp1_to_cp4_complaint_through_the_rest_api(http: httpx.AsyncClient, settings):
    r = await http.post("/api/v1/cases/complaint", json={**COMPLAINT, "scope": "everyone"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "scope"]
    r = await http.post("/api/v1/cases/complaint", json={**COMPLAINT, "related_case": "nonsense"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "related_case"]
    r = await http.post("/api/v1/cases/complaint", json={**COMPLAINT, "related_case": "AS-77"})
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    assert number.startswith("CP-")
    body = await open_step(http, number, "complaint_contact")
    live = body["live"]
    assert live["actions"][:2] == ["contact_complainant", "grade_complaint"]
    assert live["record"]["suggested_grade"] == "general"
    assert live["open_step"]["target_seconds"] == 180  # a phoned-in complaint: 3 minutes
    assert body["record"]["related_case"] == "AS-77" and body["record"]["suggested_grade"] == "general"

    async def act(action: str, **payload: Any) -> dict[str, Any]:
        r = await http.post(f"/api/v1/cases/{number}/actions/{action}", json={"actor": "小周", **payload})
        assert r.status_code == 200, r.text
        return r.json()

    async def refused(action: str, status: int, **payload: Any) -> dict[str, Any]:
        r = await http.post(f"/api/v1/cases/{number}/actions/{action}", json={"actor": "小周", **payload})
        assert r.status_code == status, r.text
        return r.json()

    events_before = rows(settings, "SELECT count(*) AS n FROM case_events WHERE case_number=%s", number)
    assert (
        "investigation"
        in (await refused("report_findings", 409, findings="x", responsible_party="y"))["detail"]
    )
    error = await refused("grade_complaint", 422, level="major")
    assert error["detail"][0]["loc"] == ["body", "reason"]
    error = await refused("contact_complainant", 422, apology="抱歉", demand="x", emotion="furious")
    assert error["detail"][0]["loc"] == ["body", "emotion"]
    assert (
        rows(settings, "SELECT count(*) AS n FROM case_events WHERE case_number=%s", number) == events_before
    )

    view = await act("contact_complainant", apology="已致歉并记录", demand="本周内安装", emotion="upset")
    assert view["actions"][0] == "grade_complaint"
    view = await act("grade_complaint", level="serious", reason="客户已两次被爽约")
    assert view["severity"] == "serious" and view["open_step"]["step"] == "calming_contact"
    view = await act("calm_customer", note="主管致电安抚", emotion="calm")
    assert view["open_step"]["step"] == "investigation" and view["open_step"]["owner_role"] == "supervisor"
    view = await act("hand_off", department="tech", note="核实工程师排班")
    view = await act("report_findings", findings="排班系统未同步", responsible_party="技术部")
    assert view["open_step"]["step"] == "remedy_plan"
    await refused("customer_decision", 409, accepted=True)
    error = await refused("propose_remedy", 422, plan="只说明，不含措施")
    assert error["detail"][0]["loc"] == ["body", "corrective_action"]
    await act("propose_remedy", plan="明日上门安装", apology=True, corrective_action="排班系统增加同步校验")
    error = await refused("customer_decision", 422, accepted=False)
    assert error["detail"][0]["loc"] == ["body", "note"]
    view = await act("customer_decision", accepted=True)
    assert view["open_step"]["step"] == "remedy_execution"
    view = await act("record_execution", note="已上门安装")
    assert view["open_step"]["step"] == "result_notice"
    view = await act("report_result", result="已上门安装完毕，排班校验已上线")
    assert view["state"] == "closed" and view["outcome"] == "resolved"

    detail = (await http.get(f"/api/v1/cases/{number}")).json()
    record = detail["record"]
    assert record["grade"] == "serious" and record["responsible_party"] == "技术部"
    assert record["departments"] == ["tech"] and record["executed_at"] is not None
    assert [s["step"] for s in detail["steps"]] == [
        "complaint_contact",
        "calming_contact",
        "investigation",
        "remedy_plan",
        "remedy_execution",
        "result_notice",
    ]
    kinds = [e["kind"] for e in detail["timeline"]]
    assert "survey_sent" in kinds and kinds[-2:] == ["archived", "closed_event"]
    purposes = {
        r["purpose"] for r in rows(settings, "SELECT purpose FROM notifications WHERE case_number=%s", number)
    }
    assert {
        "apology",
        "complaint_investigation",
        "handoff",
        "complaint_remedy",
        "complaint_result",
        "survey",
    } <= purposes


FORM = {
    "customer.type": "individual",
    "customer.name": "陈女士",
    "customer.phone": "13400134000",
    "channel": "web_form",
    "contact": "陈女士 13400134000",
    "content": "退款承诺一周到账，至今未到",
    "demand": "立即退款",
    "emotion": "upset",
    "scope": "single",
    "related_case": "",
    "actor": "小周",
}


async def test_cp1_to_cp4_complaint_through_the_web_forms(http: httpx.AsyncClient, settings):
    r = await http.post("/cases/new/complaint", data={**FORM, "content": "", "idempotency_key": "cp-form-0"})
    assert r.status_code == 422 and "必填" in r.text
    r = await http.post("/cases/new/complaint", data={**FORM, "idempotency_key": "cp-form-1"})
    assert r.status_code == 303, r.text
    number = r.headers["location"].rsplit("/", 1)[1]
    await open_step(http, number, "complaint_contact")
    page = (await http.get(f"/cases/{number}")).text
    assert "当前步骤：投诉受理与联系" in page and "联系客户致歉" in page and "投诉定级" in page
    # The record card is the complaint's own §7 table, with the graded suggestion kept beside it.
    assert "客户投诉处理跟踪表" in page and "建议等级" in page and "售前咨询记录" not in page

    async def post(action: str, **form: str) -> httpx.Response:
        return await http.post(f"/cases/{number}/actions/{action}", data={"actor": "小周", **form})

    r = await post("grade_complaint", level="major")
    assert r.status_code == 422 and "reason" in r.text
    assert (await post("grade_complaint", level="general")).status_code == 303
    assert (
        await post("contact_complainant", apology="已致歉", demand="立即退款", emotion="upset")
    ).status_code == 303
    page = (await http.get(f"/cases/{number}")).text
    assert "当前步骤：联系客户安抚情绪" in page and "安抚客户情绪" in page
    assert (await post("calm_customer", note="已安抚", emotion="calm")).status_code == 303
    r = await post(
        "report_findings", findings="财务漏审", responsible_party="财务部", departments="finance、sales"
    )
    assert r.status_code == 303
    assert (await post("customer_decision", accepted="on")).status_code == 409
    assert (
        await post("propose_remedy", plan="今日退款", apology="on", compensation="50元券")
    ).status_code == 303
    page = (await http.get(f"/cases/{number}")).text
    assert "记录客户是否接受方案" in page and 'id="action-propose_remedy"' not in page
    assert (await post("customer_decision", accepted="on", note="同意")).status_code == 303
    assert (await post("record_execution", executed_at="", note="已退款")).status_code == 303
    assert (await post("report_result", result="退款已到账", executed_at="")).status_code == 303
    await open_step(http, number, None)
    page = (await http.get(f"/cases/{number}")).text
    assert "案件已关闭" in page and "已解决" in page
    record = rows(
        settings, "SELECT grade, departments, result FROM complaint_records WHERE case_number=%s", number
    )
    assert record == [{"grade": "general", "departments": ["finance", "sales"], "result": "退款已到账"}]
