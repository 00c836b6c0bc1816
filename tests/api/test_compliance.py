"""T-7 compliance sampling: a month's 10% of service records drawn once, reproducibly; the review verdicts.

The cases are built directly, closed in months of 2013 that no workflow of the test session reaches.
"""

from __future__ import annotations

import hashlib
import math
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from domain.models import Role
from tests.api.test_records_export import web  # noqa: F401 (fixture)
from tests.api.test_tier_report import Built, at, built, step  # noqa: F401 (fixture)
from tests.signin import Logins, login_as
from tests.workflows.helpers import rows

SUPERVISOR = Logins.display_name(Role.SUPERVISOR)  # who the signed-in reviewer is recorded as


async def closed_in(b: Built, month: str, n: int, tier: str = "normal") -> list[str]:
    """``n`` customer cases closed in ``month`` (local), each with a first step answered in 20 minutes."""
    made = []
    customer = await b.customer(tier)
    for i in range(n):
        opened = at(f"{month}-{1 + i % 27:02d}", "09:00")
        done = at(f"{month}-{1 + i % 27:02d}", "09:20")
        made.append(
            await b.case(
                tier,
                opened,
                closed_at=done,
                outcome="resolved",
                steps=[step(done_at=done)],
                customer=customer,
            )
        )
    return made


def csrf(html: str) -> str:
    """The page's CSRF token (SEC-4), as a browser would submit it with the form."""
    found = re.search(r'name="csrf_token" value="([^"]*)"', html)
    assert found, "the form has no csrf_token field"
    return found[1]


def expected_sample(numbers: list[str], month: str) -> list[str]:
    size = math.ceil(len(numbers) / 10)
    return sorted(numbers, key=lambda n: (hashlib.md5(f"{n}:{month}".encode()).hexdigest(), n))[:size]


async def test_t7_ten_percent_sample_is_drawn_once_per_month(web, built, settings):  # noqa: F811
    login_as(web, Role.SUPERVISOR)  # drawing and reviewing are staff work, not an API token's
    month = "2013-03"
    numbers = await closed_in(built, month, 21)
    # Not service records of March: still open, closed on 1 April at 00:10 local (31 March in UTC),
    # closed on 1 March at 00:10 local (28 February in UTC) counts, and a push campaign has no customer.
    await built.case("normal", at("2013-03-05"))
    await built.case("vip", at("2013-03-30"), closed_at=at("2013-04-01", "00:10"), outcome="resolved")
    numbers.append(
        await built.case("vip", at("2013-02-27"), closed_at=at("2013-03-01", "00:10"), outcome="resolved")
    )
    r = await web.post("/api/v1/compliance/samples", params={"month": month})
    assert r.status_code == 201, r.text
    first = r.json()
    assert (first["month"], first["population"], first["size"], first["created"]) == (month, 22, 3, True)
    assert sorted(first["cases"]) == sorted(expected_sample(numbers, month))

    # Drawn again (on demand, or the schedule after a manual draw): the same sample, nothing added.
    await closed_in(built, month, 9)  # more records closed since would change a fresh draw
    again = await web.post("/api/v1/compliance/samples", params={"month": month})
    assert again.status_code == 200 and again.json()["created"] is False
    assert again.json()["cases"] == first["cases"] and again.json()["population"] == 22
    assert len(rows(settings, "SELECT 1 FROM compliance_samples WHERE month = %s", month)) == 3

    listed = (await web.get("/api/v1/compliance/samples", params={"month": month})).json()
    assert [s["case_number"] for s in listed["samples"]] == first["cases"]
    assert listed["summary"] == {
        "month": month,
        "drawn": True,
        "drawn_at": listed["summary"]["drawn_at"],
        "drawn_by": SUPERVISOR,
        "population": 22,
        "sampled": 3,
        "reviewed": 0,
        "issues": 0,
        "issue_rate": None,
    }
    sample = listed["samples"][0]
    assert (sample["promised_seconds"], sample["actual_seconds"], sample["first_breached"]) == (
        3600,
        1200,
        False,
    )
    assert sample["tier"] in ("normal", "vip") and sample["verdict"] is None


async def test_t7_a_month_with_one_record_draws_it_and_an_empty_month_draws_none(web, built):  # noqa: F811
    login_as(web, Role.SUPERVISOR)  # drawing and reviewing are staff work, not an API token's
    [only] = await closed_in(built, "2013-05", 1, tier="key")
    r = await web.post("/api/v1/compliance/samples", params={"month": "2013-05"})
    assert r.status_code == 201 and r.json()["cases"] == [only]
    r = await web.post("/api/v1/compliance/samples", params={"month": "2013-06"})
    assert r.status_code == 201 and (r.json()["population"], r.json()["cases"]) == (0, [])


@pytest.mark.parametrize("month", ["2013-13", "201303", "", "2999-01"])
async def test_t7_bad_or_unfinished_month_is_422_and_draws_nothing(web, settings, month):  # noqa: F811
    login_as(web, Role.SUPERVISOR)  # drawing and reviewing are staff work, not an API token's
    r = await web.post("/api/v1/compliance/samples", params={"month": month})
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["detail"]] == [["query", "month"]]
    assert rows(settings, "SELECT 1 FROM compliance_draws WHERE month = %s", month) == []


async def test_t7_this_month_is_not_drawn_before_it_is_over(web, settings):  # noqa: F811
    login_as(web, Role.SUPERVISOR)  # drawing and reviewing are staff work, not an API token's
    this_month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    r = await web.post("/api/v1/compliance/samples", params={"month": this_month})
    assert r.status_code == 422 and "not over" in r.json()["detail"][0]["msg"]
    assert rows(settings, "SELECT 1 FROM compliance_draws WHERE month = %s", this_month) == []


async def test_t7_verdict_recorded_and_409_when_repeated(web, built, settings):  # noqa: F811
    login_as(web, Role.SUPERVISOR)  # drawing and reviewing are staff work, not an API token's
    await closed_in(built, "2013-07", 15, tier="normal")
    samples = (await web.post("/api/v1/compliance/samples", params={"month": "2013-07"})).json()["cases"]
    assert len(samples) == 2
    listed = (await web.get("/api/v1/compliance/samples", params={"month": "2013-07"})).json()["samples"]
    first, second = (s["id"] for s in listed)
    url = f"/api/v1/compliance/samples/{first}/verdict"

    for body, field in (
        ({"verdict": "maybe"}, "verdict"),
        ({"verdict": "issue", "finding": "  "}, "finding"),
        ({}, "verdict"),
    ):
        r = await web.post(url, json=body)
        assert r.status_code == 422, body
        assert [e["loc"] for e in r.json()["detail"]] == [["body", field]]
    assert rows(settings, "SELECT verdict FROM compliance_samples WHERE id = %s", first) == [
        {"verdict": None}
    ]

    finding = "普通客户被承诺 VIP 权益（4 小时内上门）"
    r = await web.post(url, json={"verdict": "issue", "finding": finding})
    assert r.status_code == 200, r.text
    assert (r.json()["verdict"], r.json()["finding"], r.json()["reviewer"]) == ("issue", finding, SUPERVISOR)
    assert r.json()["reviewed_at"] is not None

    login_as(web, Role.DIRECTOR)
    repeated = await web.post(url, json={"verdict": "ok"})
    assert repeated.status_code == 409
    stored = rows(settings, "SELECT verdict, finding, reviewer FROM compliance_samples WHERE id = %s", first)
    assert stored == [{"verdict": "issue", "finding": finding, "reviewer": SUPERVISOR}]
    assert (
        await web.post("/api/v1/compliance/samples/999999999/verdict", json={"verdict": "ok"})
    ).status_code == 404

    # The verdict is on the case's timeline (C-6); the summary counts the issue share of reviewed samples.
    events = rows(
        settings,
        "SELECT kind, actor, payload FROM case_events WHERE case_number = %s AND kind = 'compliance_reviewed'",
        listed[0]["case_number"],
    )
    assert events == [
        {"kind": "compliance_reviewed", "actor": SUPERVISOR, "payload": {"verdict": "issue", "note": finding}}
    ]
    summary = (await web.get("/api/v1/compliance/samples", params={"month": "2013-07"})).json()["summary"]
    assert (summary["reviewed"], summary["issues"], summary["issue_rate"]) == (1, 1, 1.0)
    await web.post(f"/api/v1/compliance/samples/{second}/verdict", json={"verdict": "ok"})
    summary = (await web.get("/api/v1/compliance/samples", params={"month": "2013-07"})).json()["summary"]
    assert (summary["reviewed"], summary["issues"], summary["issue_rate"]) == (2, 1, 0.5)


async def test_t7_review_page_shows_tier_promise_and_actual_and_records_a_verdict(web, built, settings):  # noqa: F811
    login_as(web, Role.SUPERVISOR)  # drawing and reviewing are staff work, not an API token's
    opened = at("2013-09-10", "09:00")
    number = await built.case(
        "normal",
        opened,
        closed_at=at("2013-09-12"),
        outcome="resolved",
        steps=[step(done_at=at("2013-09-10", "11:00"), breached_at=at("2013-09-10", "10:00"))],
    )
    page = await web.get("/compliance", params={"month": "2013-09"})
    assert page.status_code == 200 and "2013-09 尚未抽取" in page.text
    assert 'action="/compliance/draw"' in page.text
    drawn = await web.post("/compliance/draw", data={"month": "2013-09", "csrf_token": csrf(page.text)})
    assert drawn.status_code == 303 and drawn.headers["location"] == "/compliance?month=2013-09"

    html = (await web.get("/compliance", params={"month": "2013-09"})).text
    assert number in html and "普通客户" in html and "24 小时内响应" in html  # the tier and its standard
    assert "1.0 小时 / 2.0 小时" in html and "超时" in html  # promised vs actual first response
    form = html[html.index('action="/compliance/samples/') :]
    form = form[: form.index("</form>")]
    assert 'name="csrf_token"' in form and 'name="verdict" value="issue"' in form
    [sample] = rows(settings, "SELECT id FROM compliance_samples WHERE month = '2013-09'")
    token = csrf(html)

    bad = await web.post(
        f"/compliance/samples/{sample['id']}/verdict",
        data={
            "month": "2013-09",
            "verdict": "issue",
            "finding": "",
            "csrf_token": token,
        },
    )
    assert bad.status_code == 422 and "存在问题时请描述问题" in bad.text
    done = await web.post(
        f"/compliance/samples/{sample['id']}/verdict",
        data={
            "month": "2013-09",
            "verdict": "issue",
            "finding": "普通客户被承诺 VIP 权益",
            "csrf_token": token,
        },
    )
    assert done.status_code == 303
    html = (await web.get(done.headers["location"])).text
    assert "普通客户被承诺 VIP 权益" in html and "存在问题" in html and "问题率 <b>100.0%</b>" in html
    again = await web.post(
        f"/compliance/samples/{sample['id']}/verdict",
        data={"month": "2013-09", "verdict": "ok", "csrf_token": token},
    )
    assert again.status_code == 409 and "已复核过" in again.text


async def test_t7_only_reviewers_draw_and_judge_and_report_readers_see_the_sample(web, built):  # noqa: F811
    await closed_in(built, "2013-10", 3)
    # An API token (even with every scope) may read the sample but neither draw nor judge.
    r = await web.post("/api/v1/compliance/samples", params={"month": "2013-10"})
    assert r.status_code == 403
    assert (await web.get("/api/v1/compliance/samples", params={"month": "2013-10"})).status_code == 200
    login_as(web, Role.DIRECTOR)
    assert (await web.post("/api/v1/compliance/samples", params={"month": "2013-10"})).status_code == 201
    [sample] = (await web.get("/api/v1/compliance/samples", params={"month": "2013-10"})).json()["samples"]
    login_as(web, Role.DATA_ANALYST)  # reads figures, reviews nothing
    page = await web.get("/compliance", params={"month": "2013-10"})
    assert page.status_code == 200 and sample["case_number"] in page.text and "待复核" in page.text
    assert 'name="verdict"' not in page.text
    r = await web.post(f"/api/v1/compliance/samples/{sample['id']}/verdict", json={"verdict": "ok"})
    assert r.status_code == 403
    login_as(web, Role.AGENT)  # neither
    assert (await web.get("/compliance")).status_code == 403
    assert (await web.get("/api/v1/reports/tiers")).status_code == 403
