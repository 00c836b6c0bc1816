"""Customer tiering (T-1, T-2, seed 002): two scoring models, their scales, the tiers, and a pure scorer.

A customer's score (0–100) is a weighted sum of dimension scores, each 0–100. The weights of a model are
editable per industry (``tier_models``); the scales turning a metric into a dimension score are these
constants. ``activities/tiering.py`` computes the same scores for every customer in one SQL statement,
built from these scales; ``score`` here is the reference it must agree with, float for float: both do the
same IEEE double operations in the same order (``Scale.__call__`` and ``Scale`` in SQL).

The metrics come from the customer's transactions (C-7) at a moment ``as_of`` (see ``metrics_from_orders``):
- recency: whole days since the last order (None: no order yet);
- frequency and monetary: orders and spend in the 365 days up to ``as_of``;
- repurchase rate: of the customer's orders at least 90 days old, the share followed by the next order
  within 90 days (0 without such orders) — the customer's whole history, not a year: loyalty builds slowly;
- previous orders: orders in the 365 days before that (order growth, alternative model);
- new needs: pre-sales inquiries (cases) opened in the last 365 days; complaints: complaint cases opened
  in the last 365 days; referrals: customers this one referred (``customers.referred_by``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, Field, StringConstraints, ValidationInfo, field_validator

from domain.models import Model, Tier


class ScoringModel(StrEnum):
    RFM = "rfm"  # 002 表2: recency, frequency, monetary, industry potential, loyalty (the default)
    VPL = "vpl"  # 002 §二(一): value, potential, loyalty


class Potential(StrEnum):
    """Industry potential (002 表2 行业潜力): high (industry growing ~15%), medium (~8%), low (shrinking)."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


DEFAULT_INDUSTRY = "*"  # the tier_models row every industry without its own row uses

DIMENSIONS: dict[ScoringModel, tuple[str, ...]] = {
    ScoringModel.RFM: ("recency", "frequency", "monetary", "potential", "loyalty"),
    ScoringModel.VPL: ("value", "potential", "loyalty"),
}

# Percent; each model's weights sum to 100.
DEFAULT_WEIGHTS: dict[ScoringModel, dict[str, float]] = {
    ScoringModel.RFM: {"recency": 20, "frequency": 15, "monetary": 35, "potential": 15, "loyalty": 15},
    ScoringModel.VPL: {"value": 50, "potential": 30, "loyalty": 20},
}

# T-2: the lowest score of each tier, best first; below the last one: watch.
TIER_FLOORS: tuple[tuple[float, Tier], ...] = ((90, Tier.VIP), (70, Tier.KEY), (50, Tier.NORMAL))

# The windows of the metrics.
YEAR = timedelta(days=365)
REPURCHASE_WITHIN = timedelta(days=90)


@dataclass(frozen=True)
class Scale:
    """A piecewise-linear scale through ``points`` (x ascending), flat before the first and after the last."""

    points: tuple[tuple[float, float], ...]

    @property
    def slopes(self) -> tuple[float, ...]:
        return tuple((y1 - y0) / (x1 - x0) for (x0, y0), (x1, y1) in zip(self.points, self.points[1:]))

    def __call__(self, x: float) -> float:
        # The SQL twin (activities/tiering.py) evaluates exactly this, in this order.
        x = float(x)
        if x <= self.points[0][0]:
            return float(self.points[0][1])
        for (x0, y0), (x1, _), slope in zip(self.points, self.points[1:], self.slopes):
            if x <= x1:
                return y0 + (x - x0) * slope
        return float(self.points[-1][1])


# -- the default model's scales (chosen so 002 表2's three worked examples score 92, 75 and 45) --

# Days since the last order: a point every 3 days for two months, then faster: four months → 40, a year → 0.
RECENCY = Scale(((0, 100), (60, 80), (120, 40), (365, 0)))
# Orders in 12 months: the first two count most (25 each); every other month → 85; monthly → 95.
FREQUENCY = Scale(((0, 0), (2, 50), (6, 85), (12, 95), (24, 100)))
# Spend in 12 months (yuan), on 002 表1's spend guide: each tier's spend floor scores that tier's score
# floor (50k → 50, 200k → 70, 500k → 90); 1M and more → 100.
MONETARY = Scale(((0, 0), (50_000, 50), (200_000, 70), (500_000, 90), (1_000_000, 100)))
POTENTIAL: dict[Potential, float] = {Potential.HIGH: 90.0, Potential.MEDIUM: 70.0, Potential.LOW: 40.0}
# Repurchase rate (0–1) as a percentage.
LOYALTY = Scale(((0, 0), (1, 100)))

# -- the alternative model's sub-indicators (weights within a dimension, percent) and their scales --

# Value: 70% spend (MONETARY), 30% average order value.
VALUE_PARTS = (70, 30)
ORDER_VALUE = Scale(((0, 0), (5_000, 40), (20_000, 70), (50_000, 90), (100_000, 100)))
# Potential: 50% industry (POTENTIAL), 30% order growth, 20% new needs.
POTENTIAL_PARTS = (50, 30, 20)
ORDER_GROWTH = Scale(((-1, 0), (0, 50), (1, 100)))  # −100% → 0, flat → 50, doubled → 100
NEW_NEEDS = Scale(((0, 0), (1, 50), (3, 100)))
# Loyalty: 50% repurchase rate (LOYALTY), 20% referrals, 30% complaint rate.
LOYALTY_PARTS = (50, 20, 30)
REFERRALS = Scale(((0, 0), (1, 60), (3, 100)))
COMPLAINT_RATE = Scale(((0, 100), (0.1, 50), (0.3, 0)))  # complaints per order in 12 months


@dataclass(frozen=True)
class Metrics:
    """A customer's scoring inputs at ``as_of`` (see the module docstring)."""

    recency_days: int | None
    frequency: int
    monetary: Decimal
    repurchase_rate: float
    previous_orders: int = 0
    new_needs: int = 0
    referrals: int = 0
    complaints: int = 0
    potential: Potential | None = None  # not assessed: scored as medium

    @property
    def order_value(self) -> float:
        return float(self.monetary) / self.frequency if self.frequency > 0 else 0.0

    @property
    def order_growth(self) -> float:
        """Orders this year against the year before; none before: +100% with orders now, −100% without."""
        if self.previous_orders > 0:
            return (self.frequency - self.previous_orders) / self.previous_orders
        return 1.0 if self.frequency > 0 else -1.0

    @property
    def complaint_rate(self) -> float:
        """Complaints per order in 12 months; complaints without an order count as one per order."""
        if self.frequency > 0:
            return self.complaints / self.frequency
        return 1.0 if self.complaints > 0 else 0.0


@dataclass(frozen=True)
class Score:
    score: float
    tier: Tier
    dimensions: dict[str, float]


def metrics_from_orders(
    orders: Iterable[tuple[datetime, Decimal]],
    as_of: datetime,
    *,
    potential: Potential | None = None,
    new_needs: int = 0,
    referrals: int = 0,
    complaints: int = 0,
) -> Metrics:
    """The transaction metrics of one customer's orders ``(occurred_at, amount)``; later orders are ignored."""
    past = sorted(((at, amount) for at, amount in orders if at <= as_of), key=lambda o: o[0])
    times = [at for at, _ in past]
    year = [amount for at, amount in past if at > as_of - YEAR]
    previous = sum(1 for at in times if as_of - 2 * YEAR < at <= as_of - YEAR)
    # An order can be judged once REPURCHASE_WITHIN has passed; the next order may be a recent one.
    judged = [(at, nxt) for at, nxt in zip(times, [*times[1:], None]) if at <= as_of - REPURCHASE_WITHIN]
    followed = sum(1 for at, nxt in judged if nxt is not None and nxt - at <= REPURCHASE_WITHIN)
    return Metrics(
        recency_days=(as_of - times[-1]).days if times else None,
        frequency=len(year),
        monetary=sum(year, Decimal(0)),
        repurchase_rate=followed / len(judged) if judged else 0.0,
        previous_orders=previous,
        new_needs=new_needs,
        referrals=referrals,
        complaints=complaints,
        potential=potential,
    )


def dimension_scores(model: ScoringModel, m: Metrics) -> dict[str, float]:
    potential = POTENTIAL[m.potential or Potential.MEDIUM]
    loyalty = LOYALTY(m.repurchase_rate)
    if model is ScoringModel.RFM:
        return {
            "recency": RECENCY(m.recency_days) if m.recency_days is not None else 0.0,
            "frequency": FREQUENCY(m.frequency),
            "monetary": MONETARY(float(m.monetary)),
            "potential": potential,
            "loyalty": loyalty,
        }
    return {
        "value": weighted(VALUE_PARTS, (MONETARY(float(m.monetary)), ORDER_VALUE(m.order_value))),
        "potential": weighted(
            POTENTIAL_PARTS, (potential, ORDER_GROWTH(m.order_growth), NEW_NEEDS(m.new_needs))
        ),
        "loyalty": weighted(
            LOYALTY_PARTS, (loyalty, REFERRALS(m.referrals), COMPLAINT_RATE(m.complaint_rate))
        ),
    }


def weighted(weights: Iterable[float], scores: Iterable[float]) -> float:
    """Σ weight × score / 100, summed left to right (the SQL twin sums in the same order)."""
    total = 0.0
    for w, s in zip(weights, scores, strict=True):
        total = total + float(w) * s
    return total / 100


def tier_for(score: float) -> Tier:
    return next((tier for floor, tier in TIER_FLOORS if score >= floor), Tier.WATCH)


def score(
    m: Metrics, model: ScoringModel = ScoringModel.RFM, weights: Mapping[str, float] | None = None
) -> Score:
    """A customer's score and suggested tier under ``model`` with ``weights`` (default: the model's)."""
    weights = weights or DEFAULT_WEIGHTS[model]
    dims = dimension_scores(model, m)
    total = weighted((weights[d] for d in DIMENSIONS[model]), (dims[d] for d in DIMENSIONS[model]))
    return Score(total, tier_for(total), dims)


Industry = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class TierModelSpec(Model):
    """A scoring model and its weights for one industry (``*``: every industry without its own)."""

    industry: Industry = DEFAULT_INDUSTRY
    model: ScoringModel = ScoringModel.RFM
    weights: dict[str, Annotated[float, Field(ge=0, le=100)]]

    @field_validator("weights")
    @classmethod
    def _weights_fit_the_model(cls, weights: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        # A field validator, so the error names ``weights`` (422 at the API); ``model`` is validated first.
        model = info.data.get("model")
        if model is None:
            return weights
        expected = set(DIMENSIONS[model])
        if set(weights) != expected:
            raise ValueError(f"weights must name exactly {sorted(expected)}")
        if not math.isclose(sum(weights.values()), 100, abs_tol=1e-9):
            raise ValueError(f"weights must sum to 100, not {sum(weights.values()):g}")
        return weights


class TransactionIn(Model):
    """One order from a source system (C-7); ``external_id`` makes a resent order a no-op."""

    customer_id: int = Field(gt=0)
    amount: Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]
    occurred_at: AwareDatetime
    external_id: str = Field(min_length=1, max_length=100)
    source: str = Field(default="import", min_length=1, max_length=40)


# -- T-3 review and approval, T-4 re-evaluation ---------------------------------------------------------------


class ReviewCause(StrEnum):
    """Why a tier review was opened."""

    SCHEDULED = "scheduled"  # T-4: VIP quarterly, the other tiers half-yearly (Temporal Schedules)
    SPEND_DROP = "spend_drop"  # T-4: spend fell by half for two consecutive months (``is_spend_drop``)
    MANUAL = "manual"  # an account manager's proposal, or a re-evaluation a person ran


class ReviewStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]


class TierProposal(Model):
    """An account manager proposes a tier for a customer (T-3: manual adjustment, with a reason)."""

    customer_id: int = Field(gt=0)
    proposed_tier: Tier
    reason: Reason


class TierAdjustment(Model):
    """The account manager changes the proposed tier of a pending review; the reason is mandatory (T-3)."""

    proposed_tier: Tier
    reason: Reason


class TierDecision(Model):
    """The sales supervisor approves or rejects a pending review (T-3)."""

    note: Note = ""


class TierEvaluationStart(Model):
    """One re-evaluation (T-4): score every customer, then open a pending review for each customer of
    ``tiers`` whose computed tier differs from their approved one. With ``cause`` spend_drop it first
    finds the customers whose spend dropped (``is_spend_drop``) and reviews those, whatever their tier."""

    cause: ReviewCause = ReviewCause.SCHEDULED
    tiers: list[Tier] = Field(default_factory=lambda: list(Tier))
    as_of: datetime | None = None  # None: the workflow's start time
    actor: str = "system"  # proposed_by of the reviews it opens
    batch: int = Field(default=500, gt=0)  # journeys signalled per activity (spend drops)


class TierEvaluationResult(Model):
    scored: int = 0
    reviews: int = 0  # pending reviews opened by this run
    spend_drops: int = 0  # customers newly found with a spend drop (spend_drop runs)
    signalled: int = 0  # their journeys told ``spend_dropped``


# T-4 (002 四(二) "连续2个月消费下降50%立即启动评估"), read as: in each of the last two complete calendar
# months (Asia/Shanghai) the customer spent at most half of their average monthly spend over the six
# calendar months before those two, and that average is above zero. "下降50%" compares a month with the
# customer's usual level, not with the month before: a customer who halves their spend and stays there is
# a drop in both months (month-over-month would call the second month flat), and one slow month is not
# two. A flag covers its two months: the check a month later, whose months overlap them, is the same drop
# and flags nothing; two fresh low months after that flag again.
SPEND_DROP_SHARE = Decimal("0.5")
SPEND_DROP_MONTHS = 2
SPEND_BASELINE_MONTHS = 6


def is_spend_drop(monthly: list[Decimal]) -> bool:
    """``monthly``: spend per calendar month, oldest first, the baseline months then the dropped ones
    (``SPEND_BASELINE_MONTHS + SPEND_DROP_MONTHS`` values). The reference the SQL check agrees with."""
    if len(monthly) != SPEND_BASELINE_MONTHS + SPEND_DROP_MONTHS:
        raise ValueError(f"need {SPEND_BASELINE_MONTHS + SPEND_DROP_MONTHS} months, got {len(monthly)}")
    # m ≤ share × total / n, multiplied out: exact in Decimal and in SQL numeric alike.
    total = sum(monthly[:SPEND_BASELINE_MONTHS], Decimal(0))
    recent = monthly[SPEND_BASELINE_MONTHS:]
    return total > 0 and all(m * SPEND_BASELINE_MONTHS <= total * SPEND_DROP_SHARE for m in recent)
