"""The staff web forms (zh-CN): new inquiry, inline validation, actions on the case page."""

from __future__ import annotations

from tests.api.test_cases_api import open_step

FORM = {
    "customer.type": "enterprise",
    "customer.name": "杭州某某电器有限公司",
    "customer.phone": "13600136000",
    "channel": "phone",
    "contact": "周经理 13600136000",
    "product": "售后工单系统",
    "need": "全国 40 个网点的报修派单",
}


async def test_ps1_new_inquiry_form_files_a_case_and_shows_its_page(http):
    r = await http.post("/cases/new/presales", data={**FORM, "idempotency_key": "form-1"})
    assert r.status_code == 303
    number = r.headers["location"].rsplit("/", 1)[1]
    await open_step(http, number, "first_response")
    page = await http.get(f"/cases/{number}")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    html = page.text
    assert "当前步骤：首次响应" in html and "售后工单系统" in html and "记录首次响应" in html
    assert "创建案件" in html  # the timeline
    # A double submit of the same form (same hidden key) does not file a second case.
    again = await http.post("/cases/new/presales", data={**FORM, "idempotency_key": "form-1"})
    assert again.headers["location"] == r.headers["location"]


async def test_new_inquiry_errors_show_inline_and_file_nothing(http, settings):
    from tests.workflows.helpers import rows

    before = rows(settings, "SELECT count(*) AS n FROM case_keys")[0]["n"]
    r = await http.post(
        "/cases/new/presales", data={**FORM, "product": "", "customer.name": "", "idempotency_key": "x-2"}
    )
    assert r.status_code == 422
    assert r.text.count('class="error"') >= 2 and "必填" in r.text
    assert 'name="actor"' not in r.text  # the signed-in user is the actor: nobody types a name
    assert 'value="13600136000"' in r.text  # what was typed is kept
    assert rows(settings, "SELECT count(*) AS n FROM case_keys")[0]["n"] == before


async def test_case_page_action_runs_the_update_and_wrong_step_shows_409_inline(http):
    r = await http.post("/cases/new/presales", data={**FORM, "idempotency_key": "form-3"})
    number = r.headers["location"].rsplit("/", 1)[1]
    await open_step(http, number, "first_response")
    r = await http.post(f"/cases/{number}/actions/respond", data={"note": ""})
    assert r.status_code == 422 and "必填" in r.text
    r = await http.post(f"/cases/{number}/actions/respond", data={"note": "已回电"})
    assert r.status_code == 303
    page = (await http.get(f"/cases/{number}")).text
    assert "当前步骤：需求分析与分级" in page and "已回电" in page
    assert "测试主管" in page  # the timeline names the signed-in staff member
    r = await http.post(f"/cases/{number}/actions/respond", data={"note": "再次"})
    assert r.status_code == 409 and "first_response" in r.text


async def test_unknown_case_page_is_404(http):
    r = await http.get("/cases/PS-424242424")
    assert r.status_code == 404 and "PS-424242424" in r.text


async def test_new_case_page_offers_every_process_and_campaigns_use_their_own_form(http):
    page = (await http.get("/cases/new")).text
    for name in ("售前咨询", "售中订单跟进", "售后问题", "客户投诉", "增值服务推送"):
        assert name in page
    assert 'href="/cases/new/complaint"' in page and 'href="/pushes/new"' in page
    r = await http.get("/cases/new/value_push")
    assert r.status_code == 303 and r.headers["location"] == "/pushes/new"


async def test_new_case_form_takes_a_customer_on_file(http, settings):
    from tests.workflows.helpers import rows

    customer = rows(
        settings,
        "INSERT INTO customers (type, name, tier, contacts) VALUES ('enterprise', 'B公司（云途软件）', 'key', '[]') "
        "RETURNING id",
    )[0]["id"]
    form = {k: v for k, v in FORM.items() if not k.startswith("customer.")}
    r = await http.post(
        "/cases/new/presales", data={**form, "customer_id": str(customer), "idempotency_key": "form-on-file"}
    )
    assert r.status_code == 303
    number = r.headers["location"].rsplit("/", 1)[1]
    await open_step(http, number, "first_response")
    case = rows(settings, "SELECT customer_id, tier_at_open FROM cases WHERE number=%s", number)
    assert case == [{"customer_id": customer, "tier_at_open": "key"}]
    r = await http.post(
        "/cases/new/presales", data={**form, "customer_id": "999999", "idempotency_key": "x9"}
    )
    assert r.status_code == 422 and "999999" in r.text
