"""The complaint report (CP-4): satisfaction ≥ 90% and a second callback on every major complaint.

The report reads tables, so the tests build its rows (cases, complaint records, steps, surveys) in periods
of 2017–2018 that no workflow of the test session reaches, and delete them afterwards.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api.test_records_export import Rows, built, web  # noqa: F401 (fixtures)

MARCH = {"from": "2018-03-01", "to": "2018-03-31"}
APRIL = {"from": "2018-04-01", "to": "2018-04-30"}
IN_MARCH = datetime(2018, 3, 10, 2, 0, tzinfo=UTC)
# 17:00 UTC on 31 March is 01:00 on 1 April in Shanghai: an April complaint, whatever its UTC date.
LAST_NIGHT_OF_MARCH = datetime(2018, 3, 31, 17, 0, tzinfo=UTC)


def complaint(grade: str | None) -> dict[str, Any]:
    return {"contact": "赵女士", "channel": "phone", "content": "物流延迟3天", "grade": grade}


def callback(closed: datetime, *, late: bool = False, done: bool = True) -> list[dict[str, Any]]:
    """The second-callback step, done on time, done late, or never done."""
    due = closed + timedelta(days=3)
    done_at = (due + timedelta(hours=5) if late else due - timedelta(days=1)) if done else None
    return [{"step": "second_callback", "due_at": due, "done_at": done_at}]


async def march_and_april(rows: Rows) -> None:
    async def case(grade: str | None, closed: datetime | None, steps: list[dict[str, Any]] = ()) -> None:  # type: ignore[assignment]
        opened = datetime(2018, 3, 1, 1, 0, tzinfo=UTC)
        await rows.case("complaint", complaint(grade), opened_at=opened, closed_at=closed, steps=steps)

    for grade in ("general", "general", "serious", None):
        await case(grade, IN_MARCH)
    await case("major", IN_MARCH, callback(IN_MARCH))
    await case("major", IN_MARCH, callback(IN_MARCH, late=True))
    await case("major", IN_MARCH, callback(IN_MARCH, done=False))
    await case("major", None, callback(IN_MARCH))  # still open: not a closed major complaint
    await case("major", LAST_NIGHT_OF_MARCH, callback(LAST_NIGHT_OF_MARCH))
    # March answers: 5, 4, 3, and a 4 given at 00:30 on 1 March local (28 February in UTC).
    for score in (5, 4, 3):
        await rows.survey("complaint", score, IN_MARCH)
    await rows.survey("complaint", 4, datetime(2018, 2, 28, 16, 30, tzinfo=UTC))
    await rows.survey("complaint", None, IN_MARCH)  # sent, never answered
    await rows.survey("presales", 2, IN_MARCH)
    await rows.survey("presales", 5, IN_MARCH)
    await rows.survey(None, 9, IN_MARCH, kind="nps")
    # April: nine satisfied answers and one unsatisfied (given on 1 April local) make exactly 90%.
    await rows.survey("complaint", 1, datetime(2018, 3, 31, 16, 30, tzinfo=UTC))
    for _ in range(9):
        await rows.survey("complaint", 4, datetime(2018, 4, 12, 3, 0, tzinfo=UTC))


async def test_cp4_complaint_report_counts_closed_by_grade_and_misses_both_targets(web, built):  # noqa: F811
    await march_and_april(built)
    r = await web.get("/api/v1/reports/complaints", params=MARCH)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["closed"] == 7
    assert report["closed_by_grade"] == {"general": 2, "serious": 1, "major": 3, "ungraded": 1}
    assert report["satisfaction"] == {
        "numerator": 3,
        "denominator": 4,
        "rate": 0.75,
        "target": 0.9,
        "met": False,
    }
    callbacks = report["major_callback"]
    assert (callbacks["numerator"], callbacks["denominator"], callbacks["on_time"]) == (2, 3, 1)
    assert callbacks["rate"] == pytest.approx(2 / 3) and callbacks["target"] == 1.0
    assert callbacks["met"] is False
    assert report["satisfaction_by_process"] == [
        {"process": "complaint", "answered": 4, "average": 4.0, "satisfied": 3},
        {"process": "presales", "answered": 2, "average": 3.5, "satisfied": 1},
    ]


async def test_cp4_complaint_report_meets_both_targets_at_exactly_90_and_100_percent(web, built):  # noqa: F811
    await march_and_april(built)
    report = (await web.get("/api/v1/reports/complaints", params=APRIL)).json()
    assert report["closed_by_grade"] == {"general": 0, "serious": 0, "major": 1}
    assert report["satisfaction"]["numerator"] == 9 and report["satisfaction"]["denominator"] == 10
    assert report["satisfaction"]["met"] is True
    callbacks = report["major_callback"]
    assert (callbacks["numerator"], callbacks["denominator"], callbacks["on_time"]) == (1, 1, 1)
    assert callbacks["rate"] == 1.0 and callbacks["met"] is True


async def test_cp4_complaint_report_without_data_has_no_rate_and_no_verdict(web):  # noqa: F811
    report = (
        await web.get("/api/v1/reports/complaints", params={"from": "2017-01-01", "to": "2017-01-31"})
    ).json()
    assert report["closed"] == 0 and report["satisfaction_by_process"] == []
    for figure in ("satisfaction", "major_callback"):
        assert report[figure]["rate"] is None and report[figure]["met"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2018-03-31", "to": "2018-03-01"}, "to"),
        ({"from": "March"}, "from"),
        ({"to": "2018-02-30"}, "to"),
    ],
)
async def test_cp4_complaint_report_bad_period_is_422_naming_the_field(web, params, field):  # noqa: F811
    r = await web.get("/api/v1/reports/complaints", params=params)
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["detail"]] == [["query", field]]


async def test_cp4_complaint_report_page_shows_the_figures_against_their_targets(web, built):  # noqa: F811
    await march_and_april(built)
    page = await web.get("/reports/complaints", params=MARCH)
    assert page.status_code == 200
    html = page.text
    for words in (
        "75.0%",
        "目标 ≥ 90.0%",
        "66.7%",
        "目标 100.0%",
        "未达标",
        "在截止时间前完成 1 件",
        "重大投诉",
    ):
        assert words in html, words
    assert "达标</span>" not in html.replace("未达标</span>", "")
    assert "售前咨询" in html and "3.50" in html  # per-process satisfaction
    april = (await web.get("/reports/complaints", params=APRIL)).text
    assert april.count(">达标</span>") == 2 and "未达标" not in april
    bad = await web.get("/reports/complaints", params={"from": "2018-03-31", "to": "2018-03-01"})
    assert bad.status_code == 422 and "结束日期早于开始日期" in bad.text
