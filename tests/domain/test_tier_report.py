"""T-6 / T-7 arithmetic without a database: periods, shares, growth, the 10% sample size."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from domain.compliance import sample_size
from domain.tier_report import (
    MonthCounts,
    QuarterCounts,
    Share,
    growth,
    month_days,
    monthly,
    previous_month,
    previous_quarter,
    quarter_days,
    quarterly,
)


def test_t6_periods_are_calendar_months_and_quarters() -> None:
    assert month_days("2024-02") == (date(2024, 2, 1), date(2024, 2, 29))
    assert month_days("2026-12") == (date(2026, 12, 1), date(2026, 12, 31))
    assert quarter_days("2026Q4") == (date(2026, 10, 1), date(2026, 12, 31))
    assert quarter_days("2026Q1") == (date(2026, 1, 1), date(2026, 3, 31))
    assert previous_quarter("2026Q1") == "2025Q4" and previous_month(date(2026, 1, 15)) == "2025-12"
    for bad in ("2026-13", "2026-1", "26-01", "2026-00"):
        with pytest.raises(ValueError):
            month_days(bad)
    for bad in ("2026Q0", "2026Q5", "2026-Q1", "Q1"):
        with pytest.raises(ValueError):
            quarter_days(bad)


def test_t6_shares_and_growth_have_no_value_without_a_base() -> None:
    assert Share.of(1, 3).rate == 0.3333 and Share.of(0, 0).rate is None
    assert growth(Decimal("150.00"), Decimal("100.00")) == 0.5
    assert growth(Decimal(50), Decimal(0)) is None and growth(None, Decimal(1)) is None


def test_t6_monthly_lists_every_tier_in_order_and_sums_the_total() -> None:
    report = monthly(
        "2026-10",
        "Asia/Shanghai",
        {
            "vip": MonthCounts(
                opened=2, measured=2, on_time=1, resolved=2, answered=1, score_sum=5, satisfied=1
            )
        },
    )
    assert [t.tier for t in report.tiers] == ["vip", "key", "normal", "watch"]
    assert report.tiers[0].on_time_response.rate == 0.5 and report.tiers[0].satisfaction.average == 5.0
    assert report.tiers[1].opened == 0 and report.tiers[1].resolution.rate is None
    assert report.total.opened == 2 and report.total.resolution.rate == 1.0


def test_t6_quarterly_names_cost_and_roi_as_not_measured() -> None:
    report = quarterly(
        "2026Q4",
        "Asia/Shanghai",
        {"key": QuarterCounts(nps_issued=4, nps_answered=4, nps_sum=29, nps_promoters=2, nps_detractors=1)},
    )
    assert report.previous_quarter == "2026Q3" and report.not_measured == ["cost_per_customer", "roi"]
    assert report.tiers[1].nps.nps == 25.0 and report.tiers[1].csat.csat is None


@pytest.mark.parametrize(
    ("population", "size"), [(0, 0), (1, 1), (9, 1), (10, 1), (11, 2), (20, 2), (21, 3), (100, 10), (101, 11)]
)
def test_t7_sample_is_ten_percent_rounded_up(population: int, size: int) -> None:
    assert sample_size(population) == size
