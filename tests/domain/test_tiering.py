"""Tiering (T-1, T-2) without a database: the scales, the metrics' definitions, the models, the tiers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from domain.models import Tier
from domain.tiering import (
    DEFAULT_WEIGHTS,
    DIMENSIONS,
    FREQUENCY,
    MONETARY,
    RECENCY,
    Metrics,
    Potential,
    ScoringModel,
    TierModelSpec,
    metrics_from_orders,
    score,
    tier_for,
)

AS_OF = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def ago(days: float) -> datetime:
    return AS_OF - timedelta(days=days)


def test_t2_tier_thresholds() -> None:
    assert [tier_for(s) for s in (100, 90, 89.99, 70, 69.99, 50, 49.99, 0)] == [
        Tier.VIP,
        Tier.VIP,
        Tier.KEY,
        Tier.KEY,
        Tier.NORMAL,
        Tier.NORMAL,
        Tier.WATCH,
        Tier.WATCH,
    ]


def test_t2_spend_guide_floors_score_their_tier_floors() -> None:
    # 002 表1: VIP ≥ 500k a year, key 200k–500k, normal 50k–200k, watch < 50k.
    assert [MONETARY(x) for x in (500_000, 200_000, 50_000)] == [90, 70, 50]
    assert MONETARY(0) == 0 and MONETARY(5_000_000) == 100
    spends = [0, 10_000, 49_999, 50_000, 120_000, 199_999, 200_000, 499_999, 500_000, 2_000_000]
    assert [tier_for(MONETARY(x)) for x in spends] == [Tier.WATCH] * 3 + [Tier.NORMAL] * 3 + [
        Tier.KEY
    ] * 2 + [Tier.VIP] * 2


def test_t1_scales_are_monotone_and_bounded() -> None:
    for scale, xs in ((RECENCY, range(400)), (FREQUENCY, range(30)), (MONETARY, range(0, 1_200_000, 997))):
        ys = [scale(x) for x in xs]
        assert all(0 <= y <= 100 for y in ys)
        assert ys == sorted(ys, reverse=scale is RECENCY)


def test_t1_default_model_scores_the_worked_examples_from_metrics() -> None:
    """002 表2 through the pure scorer, from the metrics as the table gives them."""
    examples = [
        (Metrics(30, 12, Decimal(800_000), 0.85, potential=Potential.HIGH), 92, Tier.VIP),
        (Metrics(60, 6, Decimal(300_000), 0.60, potential=Potential.MEDIUM), 75, Tier.KEY),
        (Metrics(120, 2, Decimal(80_000), 0.30, potential=Potential.LOW), 45, Tier.WATCH),
    ]
    for metrics, expected, tier in examples:
        got = score(metrics)
        assert (round(got.score), got.tier) == (expected, tier)
        assert set(got.dimensions) == set(DIMENSIONS[ScoringModel.RFM])


def test_t1_metrics_from_orders_windows_and_repurchase_rate() -> None:
    orders = [
        (ago(400), Decimal("10.00")),  # the year before: previous order; followed by the next within 90 d
        (ago(320), Decimal("20.00")),  # in the year; followed 100 d later: not within 90 d
        (ago(220), Decimal("30.00")),  # followed 90 d later exactly: within
        (ago(130), Decimal("40.00")),  # followed 80 d later, by an order too young to be judged itself
        (ago(50), Decimal("50.00")),
        (ago(-3), Decimal("999.00")),  # after as_of: ignored
    ]
    m = metrics_from_orders(orders, AS_OF, complaints=1)
    assert (m.recency_days, m.frequency, m.monetary, m.previous_orders) == (50, 4, Decimal("140.00"), 1)
    assert m.repurchase_rate == 3 / 4  # judged: 400, 320, 220, 130 d old; followed: all but 320
    assert (m.order_value, m.order_growth, m.complaint_rate) == (35.0, 3.0, 0.25)


def test_t1_customer_without_orders_is_watch() -> None:
    m = metrics_from_orders([], AS_OF)
    assert (m.recency_days, m.frequency, m.monetary, m.repurchase_rate) == (None, 0, Decimal(0), 0.0)
    got = score(m)
    assert got.dimensions["recency"] == 0 and got.tier is Tier.WATCH
    assert m.order_growth == -1.0 and score(m, ScoringModel.VPL).tier is Tier.WATCH


def test_t1_alternative_model_weighs_value_potential_and_loyalty() -> None:
    base = Metrics(30, 12, Decimal(600_000), 0.9, previous_orders=12, potential=Potential.HIGH)
    got = score(base, ScoringModel.VPL)
    assert set(got.dimensions) == {"value", "potential", "loyalty"}
    assert got.score == pytest.approx(
        sum(DEFAULT_WEIGHTS[ScoringModel.VPL][d] * got.dimensions[d] for d in got.dimensions) / 100
    )
    # Referrals and new needs raise the score, complaints lower it; the default model ignores all three.
    richer = Metrics(30, 12, Decimal(600_000), 0.9, 12, new_needs=2, referrals=2, potential=Potential.HIGH)
    worse = Metrics(30, 12, Decimal(600_000), 0.9, 12, complaints=3, potential=Potential.HIGH)
    assert score(richer, ScoringModel.VPL).score > got.score > score(worse, ScoringModel.VPL).score
    assert score(richer).score == score(base).score == score(worse).score


def test_t1_weights_edit_changes_the_score() -> None:
    m = Metrics(30, 12, Decimal(80_000), 0.85, potential=Potential.HIGH)
    spend_heavy = score(m).score
    frequency_heavy = score(
        m, weights={"recency": 30, "frequency": 40, "monetary": 10, "potential": 10, "loyalty": 10}
    ).score
    assert frequency_heavy > spend_heavy


def test_t1_weights_must_sum_to_100_and_name_the_models_dimensions() -> None:
    ok = TierModelSpec(
        industry="制造业", model=ScoringModel.VPL, weights={"value": 40, "potential": 40, "loyalty": 20}
    )
    assert ok.weights["potential"] == 40
    with pytest.raises(ValidationError, match="sum to 100"):
        TierModelSpec(model=ScoringModel.VPL, weights={"value": 50, "potential": 30, "loyalty": 30})
    with pytest.raises(ValidationError, match="exactly"):
        TierModelSpec(model=ScoringModel.RFM, weights={"value": 50, "potential": 30, "loyalty": 20})
    with pytest.raises(ValidationError):
        TierModelSpec(model=ScoringModel.VPL, weights={"value": 120, "potential": -40, "loyalty": 20})
    for model, weights in DEFAULT_WEIGHTS.items():
        TierModelSpec(model=model, weights=weights)


def test_t4_spend_drop_is_two_months_at_most_half_the_usual() -> None:
    from domain.tiering import is_spend_drop

    usual = [Decimal(100)] * 6

    def drop(*recent: int) -> bool:
        return is_spend_drop([*usual, *(Decimal(r) for r in recent)])

    assert drop(50, 50)  # halved and stayed: month over month the second month is flat, still a drop
    assert drop(40, 0)
    assert not drop(30, 51)  # one slow month is not two
    assert not drop(51, 10)
    assert not is_spend_drop([Decimal(0)] * 6 + [Decimal(0), Decimal(0)])  # nothing to drop from
    # Lumpy buyers: the six-month average is the usual level (two orders of 300 = 100 a month).
    assert is_spend_drop([Decimal(x) for x in (0, 300, 0, 0, 300, 0, 50, 0)])
    with pytest.raises(ValueError):
        is_spend_drop(usual)
