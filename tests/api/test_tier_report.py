"""T-6 tiered-service report (REP-1): the monthly 《客户服务分级执行报告》 per tier and the quarterly review.

One test runs real cases through the API and the worker and compares the report before and after them
(other tests' cases share the month). The others build rows directly in periods of 2014–2015 that no
workflow of the test session reaches, so their figures are exact, and delete them afterwards.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from db.engine import transaction
from db.models import Case, CaseEvent, CaseStep, Customer
from db.surveys import Survey
from db.tiering import Transaction
from domain.tier_report import month_of
from tests.api.test_aftersales_api import ISSUE
from tests.api.test_cases_api import INQUIRY, open_step
from tests.api.test_records_export import web  # noqa: F401 (fixture)
from tests.workflows.helpers import rows

SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass
class Built:
    """Customers, cases (with steps and events), surveys and orders, written directly."""

    url: str
    customers: list[int] = field(default_factory=list)
    cases: list[str] = field(default_factory=list)

    async def customer(self, tier: str, **kw: Any) -> int:
        async with transaction(self.url) as db:
            # Verified (C-3): fixtures of these reports, not records waiting in the review queue.
            row = Customer(
                name=f"分级客户{uuid.uuid4().hex[:6]}",
                tier=tier,
                contacts=[],
                verified_at=datetime.now(UTC),
                verified_by="tests",
                **kw,
            )
            db.add(row)
            await db.flush()
            self.customers.append(row.id)
            return row.id

    async def case(
        self,
        tier: str,
        opened_at: datetime,
        *,
        process: str = "aftersales",
        closed_at: datetime | None = None,
        outcome: str | None = None,
        steps: list[dict[str, Any]] = (),  # type: ignore[assignment]
        events: list[str] = (),  # type: ignore[assignment]
        customer: int | None = None,
    ) -> str:
        customer = customer or await self.customer(tier)
        number = f"T6-{uuid.uuid4().hex[:10]}"
        self.cases.append(number)
        async with transaction(self.url) as db:
            db.add(
                Case(
                    number=number,
                    process=process,
                    customer_id=customer,
                    tier_at_open=tier,
                    state="closed" if closed_at else "open",
                    outcome=outcome,
                    policy_version="1",
                    opened_at=opened_at,
                    closed_at=closed_at,
                )
            )
            await db.flush()
            for i, step in enumerate(steps):
                db.add(
                    CaseStep(
                        case_number=number,
                        owner_role="agent",
                        opened_at=opened_at + timedelta(minutes=i),
                        target_seconds=3600,
                        **{"seq": 1, **step},
                    )
                )
            for kind in events:
                db.add(
                    CaseEvent(
                        key=f"{number}:{kind}",
                        case_number=number,
                        at=opened_at,
                        actor="t",
                        kind=kind,
                        payload={},
                    )
                )
        return number

    async def survey(
        self,
        score: int | None,
        at: datetime,
        *,
        case: str | None = None,
        tier: str = "normal",
        kind: str = "csat",
    ) -> None:
        customer = await self.customer(tier)
        async with transaction(self.url) as db:
            db.add(
                Survey(
                    key=f"t6:{uuid.uuid4().hex}",
                    kind=kind,
                    case_number=case,
                    process="aftersales" if case else None,
                    customer_id=customer,
                    issued_at=at,
                    expires_at=at + timedelta(days=7),
                    answered_at=at if score is not None else None,
                    score=score,
                )
            )

    async def order(self, customer: int, amount: str, at: datetime) -> None:
        async with transaction(self.url) as db:
            db.add(
                Transaction(
                    customer_id=customer,
                    amount=Decimal(amount),
                    occurred_at=at,
                    external_id=f"t6-{uuid.uuid4().hex}",
                    source="manual",
                )
            )


@pytest.fixture
def built(settings) -> Built:
    """Rows stay: case_events is append-only, each period here is this file's own, and the session's
    database is dropped at the end."""
    return Built(settings.sqlalchemy_url())


def at(day: str, hhmm: str = "10:00") -> datetime:
    """A local (Asia/Shanghai) instant."""
    return datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=SHANGHAI)


def by_tier(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["tier"]: row for row in [*report["tiers"], report["total"]]}


# -- the monthly report on real cases ---------------------------------------------------------------------------


async def act(http, number: str, action: str, **payload: Any) -> dict[str, Any]:
    r = await http.post(f"/api/v1/cases/{number}/actions/{action}", json={"actor": "小王", **payload})
    assert r.status_code == 200, r.text
    return r.json()


async def start(http, process: str, customer_id: int) -> str:
    body = {k: v for k, v in (ISSUE if process == "aftersales" else INQUIRY).items() if k != "customer"}
    r = await http.post(f"/api/v1/cases/{process}", json={**body, "customer_id": customer_id})
    assert r.status_code == 201, r.text
    return r.json()["number"]


async def answered_and_rated(http, customer_id: int, score: int) -> str:
    """An after-sales question the agent answers at once; the customer rates it on the callback."""
    number = await start(http, "aftersales", customer_id)
    await open_step(http, number, "issue_response")
    await act(http, number, "respond", note="已告知操作步骤", route="answer")
    await open_step(http, number, "satisfaction_callback")
    view = await act(http, number, "record_satisfaction", score=score)
    assert (view["state"], view["outcome"]) == ("closed", "resolved")
    return number


def delta(before: dict[str, Any], after: dict[str, Any], tier: str) -> dict[str, int]:
    b, a = before[tier], after[tier]
    return {
        "opened": a["opened"] - b["opened"],
        "on_time": a["on_time_response"]["numerator"] - b["on_time_response"]["numerator"],
        "measured": a["on_time_response"]["denominator"] - b["on_time_response"]["denominator"],
        "pending": a["pending_response"] - b["pending_response"],
        "resolved": a["resolution"]["numerator"] - b["resolution"]["numerator"],
        "answered": a["satisfaction"]["answered"] - b["satisfaction"]["answered"],
        "satisfied": a["satisfaction"]["satisfied"]["numerator"]
        - b["satisfaction"]["satisfied"]["numerator"],
    }


async def test_t6_monthly_report_per_tier(http, env, settings, built):
    """Real cases of a VIP, a key and a watch customer move the month's figures of their tier only."""
    month = month_of((await env.get_current_time()).astimezone(SHANGHAI).date())

    async def report() -> dict[str, dict[str, Any]]:
        r = await http.get("/api/v1/reports/tiers", params={"month": month})
        assert r.status_code == 200, r.text
        return by_tier(r.json())

    before = await report()
    vip, key, watch = [await built.customer(t) for t in ("vip", "key", "watch")]
    vip_case = await answered_and_rated(http, vip, 5)
    key_case = await answered_and_rated(http, key, 4)
    # A key customer's inquiry answered in time, then closed by staff: responded, but not resolved.
    key_inquiry = await start(http, "presales", key)
    await open_step(http, key_inquiry, "first_response")
    await act(http, key_inquiry, "respond", note="已电话联系，了解需求")
    await open_step(http, key_inquiry, "needs_analysis")
    assert (await act(http, key_inquiry, "close", reason="客户暂不考虑"))["state"] == "closed"
    # A watch customer's inquiry closed before anyone answered: its first response is never measured.
    watch_inquiry = await start(http, "presales", watch)
    await open_step(http, watch_inquiry, "first_response")
    assert (await act(http, watch_inquiry, "close", reason="重复咨询"))["state"] == "closed"

    found = rows(
        settings,
        "SELECT number, tier_at_open, outcome FROM cases WHERE number = ANY(%s) ORDER BY opened_at",
        [vip_case, key_case, key_inquiry, watch_inquiry],
    )
    assert [(r["tier_at_open"], r["outcome"]) for r in found] == [
        ("vip", "resolved"),
        ("key", "resolved"),
        ("key", "closed_by_staff"),
        ("watch", "closed_by_staff"),
    ]
    after = await report()
    assert delta(before, after, "vip") == {
        "opened": 1, "on_time": 1, "measured": 1, "pending": 0, "resolved": 1, "answered": 1, "satisfied": 1,
    }  # fmt: skip
    assert delta(before, after, "key") == {
        "opened": 2, "on_time": 2, "measured": 2, "pending": 0, "resolved": 1, "answered": 1, "satisfied": 1,
    }  # fmt: skip
    assert delta(before, after, "watch") == {
        "opened": 1, "on_time": 0, "measured": 0, "pending": 1, "resolved": 0, "answered": 0, "satisfied": 0,
    }  # fmt: skip
    assert delta(before, after, "all")["opened"] == 4 + delta(before, after, "normal")["opened"]
    vip_row = after["vip"]
    assert vip_row["resolution"]["rate"] == round(
        vip_row["resolution"]["numerator"] / vip_row["resolution"]["denominator"], 4
    )


# -- the monthly report's definitions, exactly, on rows of May 2014 ---------------------------------------------


def step(name: str = "issue_response", **kw: Any) -> dict[str, Any]:
    return {"step": name, **kw}


async def may_2014(b: Built) -> None:
    done = {"done_at": at("2014-05-01", "00:40")}
    v1 = await b.case(  # 00:30 on 1 May in Shanghai is still 30 April in UTC
        "vip", at("2014-05-01", "00:30"), closed_at=at("2014-05-02"), outcome="resolved", steps=[step(**done)]
    )
    v2 = await b.case(
        "vip",
        at("2014-05-10"),
        closed_at=at("2014-05-12"),
        outcome="closed_by_staff",
        steps=[step(breached_at=at("2014-05-10", "11:00"), done_at=at("2014-05-10", "12:00"))],
    )
    await b.case("vip", at("2014-04-30", "23:30"), steps=[step(**done)])  # April
    await b.case("vip", at("2014-05-31", "23:59"), steps=[step()])  # open within its target: pending
    k1 = await b.case("key", at("2014-05-05"), steps=[step(breached_at=at("2014-05-05", "11:00"))])
    k2 = await b.case(
        "key",
        at("2014-05-06"),
        closed_at=at("2014-05-08"),
        outcome="resolved",
        steps=[step(done_at=at("2014-05-06", "10:30")), step("resolution", breached_at=at("2014-05-07"))],
    )
    await b.case("watch", at("2014-06-01", "00:00"), steps=[step(**done)])  # June
    w2 = await b.case("watch", at("2014-05-20"))  # no step yet: pending
    await b.survey(5, at("2014-05-02"), case=v1)
    await b.survey(3, at("2014-05-12"), case=v2)
    await b.survey(4, at("2014-05-31", "23:30"), case=k2)
    await b.survey(2, at("2014-06-01", "00:10"), case=k1)  # answered in June
    await b.survey(None, at("2014-05-21"), case=w2)  # never answered
    await b.survey(5, at("2014-05-15"), tier="vip")  # a periodic round's answer: no case, not in the month
    await b.survey(9, at("2014-05-15"), tier="vip", kind="nps")


@pytest.fixture(scope="session")
async def may(settings) -> None:
    """The May 2014 rows, built once for the session (they stay, see ``built``)."""
    await may_2014(Built(settings.sqlalchemy_url()))


async def test_t6_monthly_figures_follow_their_definitions_in_shanghai_months(web, may):  # noqa: F811
    r = await web.get("/api/v1/reports/tiers", params={"month": "2014-05"})
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["month"], report["timezone"]) == ("2014-05", "Asia/Shanghai")
    assert [t["tier"] for t in report["tiers"]] == ["vip", "key", "normal", "watch"]
    tiers = by_tier(report)
    assert tiers["vip"] == {
        "tier": "vip",
        "opened": 3,
        "on_time_response": {"numerator": 1, "denominator": 2, "rate": 0.5},
        "pending_response": 1,
        "satisfaction": {
            "answered": 2,
            "average": 4.0,
            "satisfied": {"numerator": 1, "denominator": 2, "rate": 0.5},
        },
        "resolution": {"numerator": 1, "denominator": 3, "rate": 0.3333},
    }
    key = tiers["key"]
    assert (key["opened"], key["on_time_response"]["rate"], key["pending_response"]) == (2, 0.5, 0)
    assert key["satisfaction"] == {
        "answered": 1,
        "average": 4.0,
        "satisfied": {"numerator": 1, "denominator": 1, "rate": 1.0},
    }
    assert key["resolution"]["rate"] == 0.5
    normal = tiers["normal"]
    assert normal["opened"] == 0 and normal["on_time_response"]["rate"] is None
    assert normal["satisfaction"]["average"] is None and normal["resolution"]["rate"] is None
    watch = tiers["watch"]
    assert (watch["opened"], watch["pending_response"], watch["on_time_response"]["rate"]) == (1, 1, None)
    assert watch["resolution"] == {"numerator": 0, "denominator": 1, "rate": 0.0}
    total = tiers["all"]
    assert (total["opened"], total["pending_response"]) == (6, 2)
    assert total["on_time_response"] == {"numerator": 2, "denominator": 4, "rate": 0.5}
    assert total["satisfaction"]["answered"] == 3 and total["satisfaction"]["average"] == 4.0
    assert total["resolution"] == {"numerator": 2, "denominator": 6, "rate": 0.3333}


# -- the quarterly review, on rows of 2015 ------------------------------------------------------------------------


async def quarter_2015q2(b: Built) -> None:
    a, vb, c = [await b.customer("vip") for _ in range(3)]
    await b.order(a, "100", at("2015-02-10"))
    await b.order(a, "200", at("2015-04-10"))
    await b.order(a, "300", at("2015-05-10"))
    await b.order(vb, "400", at("2015-03-10"))  # not back in Q2: not retained
    await b.order(c, "600", at("2015-06-10"))  # new in Q2, one order, referred a customer who joined in Q2
    await b.customer("normal", referred_by=c, created_at=at("2015-05-01"))
    await b.customer("normal", referred_by=a, created_at=at("2015-03-01"))  # joined in Q1: not this quarter
    f = await b.customer("key")
    await b.order(f, "100", at("2015-03-31", "23:30"))  # Q1 in Shanghai
    await b.order(f, "50", at("2015-04-01", "00:30"))  # Q2 in Shanghai, 31 March in UTC
    await b.order(f, "999", at("2015-07-01", "00:10"))  # Q3
    # First-contact resolution: cases closed by their process in Q2.
    closed = {"closed_at": at("2015-05-20"), "outcome": "resolved"}
    one = [step()]
    await b.case("vip", at("2015-05-19"), steps=one, **closed)  # handled in one go
    await b.case("vip", at("2015-05-19"), steps=[step(), step(seq=2)], **closed)  # reopened
    await b.case("vip", at("2015-05-19"), steps=[step(), step("dispatch")], **closed)  # went to tech support
    await b.case("vip", at("2015-05-19"), steps=one, events=["handed_off"], **closed)  # another department
    await b.case("vip", at("2015-05-19"), steps=one, closed_at=at("2015-05-20"), outcome="closed_by_staff")
    await b.case("vip", at("2015-06-30"), steps=one, closed_at=at("2015-07-01", "00:30"), outcome="resolved")
    y1 = await b.case("watch", at("2015-05-19"), steps=one, **closed)
    # CSAT and NPS: surveys issued in Q2 (an after-case survey counts for the case's tier).
    for score in (5, 4, 2, None):
        await b.survey(score, at("2015-05-05"), tier="vip")
    await b.survey(3, at("2015-05-21"), case=y1, tier="normal")
    for score in (10, 9, 7, 3):
        await b.survey(score, at("2015-06-15"), tier="key", kind="nps")
    await b.survey(0, at("2015-03-31"), tier="key", kind="nps")  # Q1


@pytest.fixture(scope="session")
async def q2(settings) -> None:
    """The 2015 rows, built once for the session."""
    await quarter_2015q2(Built(settings.sqlalchemy_url()))


async def test_t6_quarterly_retention_repurchase_referral(web, q2):  # noqa: F811
    r = await web.get("/api/v1/reports/tiers/quarterly", params={"quarter": "2015Q2"})
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["quarter"], report["previous_quarter"]) == ("2015Q2", "2015Q1")
    assert report["not_measured"] == ["cost_per_customer", "roi"]
    tiers = by_tier(report)
    vip = tiers["vip"]
    assert vip["retention"] == {"numerator": 1, "denominator": 2, "rate": 0.5}
    assert vip["repurchase"] == {"numerator": 1, "denominator": 2, "rate": 0.5}
    assert (vip["average_order_value"], vip["previous_average_order_value"]) == ("366.67", "250.00")
    assert vip["order_value_growth"] == 0.4667
    assert vip["referral"] == {"numerator": 1, "denominator": 2, "rate": 0.5}
    assert vip["first_contact_resolution"] == {"numerator": 1, "denominator": 4, "rate": 0.25}
    assert vip["csat"] == {
        "issued": 4, "answered": 3, "response_rate": 75.0, "average": 3.67, "csat": 66.7, "nps": None,
    }  # fmt: skip
    key = tiers["key"]
    assert key["retention"]["rate"] == 1.0 and key["repurchase"]["rate"] == 0.0
    assert (key["average_order_value"], key["order_value_growth"]) == ("50.00", -0.5)
    assert key["nps"]["answered"] == 4 and key["nps"]["nps"] == 25.0
    watch = tiers["watch"]
    assert watch["first_contact_resolution"]["rate"] == 1.0
    assert (watch["csat"]["answered"], watch["csat"]["csat"]) == (1, 0.0)
    normal = tiers["normal"]
    assert normal["retention"]["rate"] is None and normal["csat"]["issued"] == 0
    total = tiers["all"]
    assert total["retention"] == {"numerator": 2, "denominator": 3, "rate": 0.6667}
    assert total["first_contact_resolution"] == {"numerator": 2, "denominator": 5, "rate": 0.4}


# -- files, bad input, the page ------------------------------------------------------------------------------------


async def test_t6_report_exports_csv_and_xlsx(web, may, q2):  # noqa: F811
    r = await web.get("/api/v1/reports/tiers", params={"month": "2014-05", "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "filename*=UTF-8''" in r.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert table[0][:5] == ["客户等级", "新建案件数", "响应及时数", "已计量首次响应数", "响应及时率"]
    assert [row[0] for row in table[1:]] == ["VIP客户", "重点客户", "普通客户", "观察客户", "合计"]
    assert table[1][1:5] == ["3", "1", "2", "50.0%"] and table[3][4] == ""
    r = await web.get("/api/v1/reports/tiers", params={"month": "2014-05", "format": "xlsx"})
    assert r.status_code == 200 and "spreadsheetml" in r.headers["content-type"]
    sheet = load_workbook(io.BytesIO(r.content)).active
    assert sheet.title == "客户服务分级执行报告 2014-05"
    assert [c.value for c in sheet[2]][:5] == ["VIP客户", 3, 1, 2, 0.5]
    assert sheet["E2"].number_format == "0.0%" and sheet["A1"].font.bold
    r = await web.get("/api/v1/reports/tiers/quarterly", params={"quarter": "2015Q2", "format": "xlsx"})
    quarter = load_workbook(io.BytesIO(r.content)).active
    assert [c.value for c in quarter[2]][:3] == ["VIP客户", 2, 0.5]


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/reports/tiers", {"month": "2014-13"}, "month"),
        ("/api/v1/reports/tiers", {"month": "May"}, "month"),
        ("/api/v1/reports/tiers", {"month": "2014-05", "format": "pdf"}, "format"),
        ("/api/v1/reports/tiers/quarterly", {"quarter": "2015Q5"}, "quarter"),
    ],
)
async def test_t6_bad_period_is_422_naming_the_field(web, path, params, field):  # noqa: F811
    r = await web.get(path, params=params)
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["detail"]] == [["query", field]]


async def test_t6_page_shows_each_tier_with_bars_and_no_invented_cost(web, may, q2):  # noqa: F811
    page = await web.get("/reports/tiers", params={"month": "2014-05", "quarter": "2015Q2"})
    assert page.status_code == 200
    html = page.text
    for words in (
        "客户服务分级执行报告",
        "VIP客户",
        "观察客户",
        "合计",
        "33.3%",
        "留存率",
        "问题一次性解决率",
        "25.0%",
    ):
        assert words in html, words
    assert 'class="bar bar-a" style="width: 50.0%"' in html  # VIP on-time response
    assert "投入产出比（ROI）" in html and "不计算" in html
    assert "/api/v1/reports/tiers?month=2014-05&amp;format=xlsx" in html
    bad = await web.get("/reports/tiers", params={"month": "2014-5"})
    assert bad.status_code == 422 and "统计月份" in bad.text
    records = await web.get("/records")
    assert 'href="/reports/tiers"' in records.text and 'href="/compliance"' in records.text
