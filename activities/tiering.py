"""Transactions in (C-7), scoring models per industry, and the set-based scoring pass (T-1, T-2).

``score_all`` scores every customer in one ``INSERT … SELECT`` over ``transactions``: the metrics (one
window function and one aggregate over the orders, two small aggregates over cases and referrals), the
dimension scores, the weighted score under the customer's industry model and the suggested tier, upserted
into ``customer_scores``. The SQL is generated from ``domain.tiering``'s scales and does the same double
operations in the same order as ``domain.tiering.score``, so the two agree exactly (tests check it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from activities.customers import touch_many
from db.tiering import TierModel, Transaction
from domain.models import Tier
from domain.tiering import (
    COMPLAINT_RATE,
    DEFAULT_INDUSTRY,
    DIMENSIONS,
    FREQUENCY,
    LOYALTY,
    LOYALTY_PARTS,
    MONETARY,
    NEW_NEEDS,
    ORDER_GROWTH,
    ORDER_VALUE,
    POTENTIAL,
    POTENTIAL_PARTS,
    RECENCY,
    REFERRALS,
    REPURCHASE_WITHIN,
    TIER_FLOORS,
    VALUE_PARTS,
    YEAR,
    Potential,
    Scale,
    ScoringModel,
    TierModelSpec,
    TransactionIn,
)


async def record_transactions(db: AsyncSession, orders: Iterable[TransactionIn]) -> int:
    """Stores orders; one already stored (same ``external_id``) is skipped. How many were new."""
    rows = [o.model_dump() for o in orders]
    if not rows:
        return 0
    new = (
        await db.execute(
            pg_insert(Transaction)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["external_id"])
            .returning(Transaction.customer_id, Transaction.occurred_at)
        )
    ).all()
    await touch_many(db, [(r.customer_id, r.occurred_at) for r in new])  # C-5: an order is an interaction
    return len(new)


async def set_tier_model(db: AsyncSession, spec: TierModelSpec, *, actor: str) -> None:
    """Sets the scoring model and weights of an industry (``*``: the default); the next pass uses them."""
    values = {"model": spec.model.value, "weights": spec.weights, "updated_by": actor}
    await db.execute(
        pg_insert(TierModel)
        .values(industry=spec.industry, **values)
        .on_conflict_do_update(index_elements=["industry"], set_={**values, "updated_at": text("now()")})
    )


async def tier_models(db: AsyncSession) -> list[TierModelSpec]:
    rows = (await db.scalars(select(TierModel).order_by(TierModel.industry))).all()
    return [TierModelSpec(industry=r.industry, model=ScoringModel(r.model), weights=r.weights) for r in rows]


# -- the SQL twin of domain.tiering.score --


def _num(value: float) -> str:
    return f"({float(value)!r}::float8)"  # repr round-trips: the same double as in Python


def _scale(scale: Scale, x: str) -> str:
    """``Scale.__call__`` in SQL, on a float8 expression ``x``."""
    (x0, y0), *_ = scale.points
    arms = [f"WHEN {x} <= {_num(x0)} THEN {_num(y0)}"]
    for (xa, ya), (xb, _), slope in zip(scale.points, scale.points[1:], scale.slopes):
        arms.append(f"WHEN {x} <= {_num(xb)} THEN {_num(ya)} + ({x} - {_num(xa)}) * {_num(slope)}")
    return f"CASE {' '.join(arms)} ELSE {_num(scale.points[-1][1])} END"


def _weighted(weights: Sequence[str], scores: Sequence[str]) -> str:
    return "(" + " + ".join(f"{w} * {s}" for w, s in zip(weights, scores, strict=True)) + ") / 100"


def _parts(parts: Sequence[float], scores: Sequence[str]) -> str:
    return _weighted([_num(p) for p in parts], scores)


def _model_score(model: ScoringModel) -> str:
    """Σ weight × dimension / 100 over the model's dimensions, weights from the customer's tier model."""
    dims = DIMENSIONS[model]
    return _weighted([f"(weights->>'{d}')::float8" for d in dims], [f"{model.value}_{d}" for d in dims])


_POTENTIAL = (
    "CASE potential "
    + " ".join(f"WHEN '{p.value}' THEN {_num(POTENTIAL[p])}" for p in (Potential.HIGH, Potential.LOW))
    + f" ELSE {_num(POTENTIAL[Potential.MEDIUM])} END"
)
_TIER = (
    "CASE "
    + " ".join(f"WHEN score >= {_num(floor)} THEN '{tier.value}'" for floor, tier in TIER_FLOORS)
    + f" ELSE '{Tier.WATCH.value}' END"
)
_VPL = f"model = '{ScoringModel.VPL.value}'"
# The alternative model's dimensions, from their sub-indicators (only computed for its customers).
_VPL_VALUE = _parts(VALUE_PARTS, ["monetary_score", _scale(ORDER_VALUE, "order_value")])
_VPL_POTENTIAL = _parts(
    POTENTIAL_PARTS,
    ["potential_score", _scale(ORDER_GROWTH, "order_growth"), _scale(NEW_NEEDS, "new_needs::float8")],
)
_VPL_LOYALTY = _parts(
    LOYALTY_PARTS,
    ["loyalty_score", _scale(REFERRALS, "referrals::float8"), _scale(COMPLAINT_RATE, "complaint_rate")],
)
_COLUMNS = (
    "model, score, tier, recency_days, frequency, monetary, repurchase_rate, previous_orders, new_needs, "
    "referrals, complaints, potential, as_of"
)

SCORE_ALL = f"""
WITH orders AS (
    SELECT customer_id, occurred_at, amount,
           lead(occurred_at) OVER (PARTITION BY customer_id ORDER BY occurred_at) AS next_at
    FROM transactions WHERE occurred_at <= :as_of
), bought AS (
    SELECT customer_id,
           max(occurred_at) AS last_at,
           count(*) FILTER (WHERE occurred_at > :year_ago) AS frequency,
           sum(amount) FILTER (WHERE occurred_at > :year_ago) AS monetary,
           count(*) FILTER (WHERE occurred_at > :two_years_ago AND occurred_at <= :year_ago) AS previous_orders,
           count(*) FILTER (WHERE occurred_at <= :judged_before) AS judged,
           count(*) FILTER (WHERE occurred_at <= :judged_before AND next_at - occurred_at <= :within) AS followed
    FROM orders GROUP BY customer_id
), asked AS (
    SELECT customer_id,
           count(*) FILTER (WHERE process = 'presales') AS new_needs,
           count(*) FILTER (WHERE process = 'complaint') AS complaints
    FROM cases
    WHERE customer_id IS NOT NULL AND opened_at > :year_ago AND opened_at <= :as_of
    GROUP BY customer_id
), referred AS (
    SELECT referred_by AS customer_id, count(*) AS referrals
    FROM customers WHERE referred_by IS NOT NULL GROUP BY referred_by
), metrics AS (
    SELECT c.id AS customer_id, c.potential,
           coalesce(own.model, fallback.model) AS model,
           coalesce(own.weights, fallback.weights) AS weights,
           date_part('day', :as_of - b.last_at)::int AS recency_days,
           coalesce(b.frequency, 0)::int AS frequency,
           coalesce(b.monetary, 0) AS monetary,
           coalesce(b.monetary, 0)::float8 AS spend,
           CASE WHEN b.judged > 0 THEN b.followed::float8 / b.judged ELSE 0.0::float8 END AS repurchase_rate,
           coalesce(b.previous_orders, 0)::int AS previous_orders,
           coalesce(a.new_needs, 0)::int AS new_needs,
           coalesce(r.referrals, 0)::int AS referrals,
           coalesce(a.complaints, 0)::int AS complaints
    FROM customers c
    LEFT JOIN bought b ON b.customer_id = c.id
    LEFT JOIN asked a ON a.customer_id = c.id
    LEFT JOIN referred r ON r.customer_id = c.id
    LEFT JOIN tier_models own ON own.industry = c.industry
    CROSS JOIN (SELECT model, weights FROM tier_models WHERE industry = '{DEFAULT_INDUSTRY}') fallback
    OFFSET 0
), derived AS (
    SELECT *,
           {_scale(MONETARY, "spend")} AS monetary_score,
           {_POTENTIAL} AS potential_score,
           {_scale(LOYALTY, "repurchase_rate")} AS loyalty_score,
           CASE WHEN frequency > 0 THEN spend / frequency ELSE 0.0::float8 END AS order_value,
           CASE WHEN previous_orders > 0 THEN (frequency - previous_orders)::float8 / previous_orders
                WHEN frequency > 0 THEN 1.0::float8 ELSE -1.0::float8 END AS order_growth,
           CASE WHEN frequency > 0 THEN complaints::float8 / frequency
                WHEN complaints > 0 THEN 1.0::float8 ELSE 0.0::float8 END AS complaint_rate
    FROM metrics OFFSET 0
), dims AS (
    SELECT *,
           CASE WHEN recency_days IS NULL THEN 0.0::float8
                ELSE {_scale(RECENCY, "recency_days::float8")} END AS rfm_recency,
           {_scale(FREQUENCY, "frequency::float8")} AS rfm_frequency,
           monetary_score AS rfm_monetary,
           potential_score AS rfm_potential,
           loyalty_score AS rfm_loyalty,
           CASE WHEN {_VPL} THEN {_VPL_VALUE} END AS vpl_value,
           CASE WHEN {_VPL} THEN {_VPL_POTENTIAL} END AS vpl_potential,
           CASE WHEN {_VPL} THEN {_VPL_LOYALTY} END AS vpl_loyalty
    FROM derived OFFSET 0
), scored AS (
    SELECT *,
           CASE WHEN {_VPL} THEN {_model_score(ScoringModel.VPL)}
                ELSE {_model_score(ScoringModel.RFM)} END AS score
    FROM dims OFFSET 0
)
INSERT INTO customer_scores (customer_id, {_COLUMNS})
SELECT customer_id, model, score, {_TIER}, recency_days, frequency, monetary, repurchase_rate,
       previous_orders, new_needs, referrals, complaints, potential, :as_of
FROM scored
ON CONFLICT (customer_id) DO UPDATE SET
    {", ".join(f"{c} = excluded.{c}" for c in _COLUMNS.split(", "))}, computed_at = now()
"""


async def score_all(db: AsyncSession, *, as_of: datetime) -> int:
    """Scores every customer at ``as_of`` into ``customer_scores`` (customers.tier is left alone);
    how many customers were scored."""
    done = await db.execute(
        text(SCORE_ALL),
        {
            "as_of": as_of,
            "year_ago": as_of - YEAR,
            "two_years_ago": as_of - 2 * YEAR,
            "judged_before": as_of - REPURCHASE_WITHIN,
            "within": REPURCHASE_WITHIN,
        },
    )
    return int(done.rowcount or 0)  # type: ignore[attr-defined]
