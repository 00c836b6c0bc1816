"""Tiering throughput: score a million customers set-based, against a row-by-row Python pass.

    python -m bench.tiering                           # 1,000,000 customers, row-by-row on 20,000 of them
    python -m bench.tiering --customers 100000 --sample 5000

On a throwaway database of its own: `careflow_bench_<hex>` on the Postgres server of DATABASE_URL (default
postgresql://postgres@127.0.0.1:5432), migrated to head, dropped afterwards (--keep-db keeps it). It

1. generates the customers (industry, potential, 5% referred by another customer) and their orders (a
   geometric number each, 3.5 on average, over the last three years, amounts log-uniform 500–500,000
   yuan, stored in date order as a live system stores them) with set-based INSERT … SELECT, gives one
   industry the alternative model, and runs VACUUM ANALYZE;
2. runs activities.tiering.score_all twice — into the empty customer_scores, and again over the scores
   already there (the recurring case: an upsert of every row) — and prints seconds and customers/s;
3. runs a row-by-row pass over --sample random customers, the way a per-customer job would: fetch the
   customer, its orders, its case and referral counts, score in Python (domain.tiering.score), upsert its
   score row; one psycopg connection, prepared statements, a commit every 1,000 customers. It checks
   every result equals the set-based one, and prints customers/s and the set-based / row-by-row ratio.

Exit status 0 after a measurement (whatever the figures), 1 when a row-by-row score disagrees.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from datetime import UTC, datetime

import psycopg
from sqlalchemy.engine import make_url

from activities.tiering import score_all
from bench.stack import LOCAL_POSTGRES, libpq_url
from db.engine import engine_for, transaction
from db.migrate import upgrade
from domain.tiering import (
    DEFAULT_INDUSTRY,
    YEAR,
    Potential,
    ScoringModel,
    metrics_from_orders,
    score,
)

INDUSTRIES = ["零售", "制造业", "金融", "电商", "服务业", "物流", "教育", "医疗"]
ALTERNATIVE = "制造业"  # scored with the alternative model (002 §二(一))

CUSTOMERS = """
INSERT INTO customers (type, name, contacts, tier, industry, potential)
SELECT 'enterprise', '分级压测客户' || i, '[]'::jsonb, 'normal',
       (%(industries)s::text[])[1 + floor(random() * %(n_industries)s)::int],
       (ARRAY['high', 'medium', 'medium', 'low', NULL])[1 + floor(random() * 5)::int]
FROM generate_series(1, %(n)s) AS i
"""
# Every 20th customer was referred by one that came before it.
REFERRALS = "UPDATE customers SET referred_by = id - 1 - id % 97 WHERE id % 20 = 0 AND id > 100"
# Stored in the order they happened, as a live system stores them (not clustered by customer).
ORDERS = """
INSERT INTO transactions (customer_id, amount, occurred_at, external_id, source)
SELECT c.id, round(exp(ln(500) + random() * ln(1000))::numeric, 2),
       %(as_of)s - random() * interval '1095 days' AS at, 'B' || c.id || '-' || k, 'erp'
FROM customers c
CROSS JOIN LATERAL generate_series(1, floor(-ln(1 - random()) * 4 + 0 * c.id)::int) AS k
ORDER BY at
"""
ALTERNATIVE_MODEL = """
INSERT INTO tier_models (industry, model, weights, updated_by)
VALUES (%(industry)s, 'vpl', '{"value": 50, "potential": 30, "loyalty": 20}', 'bench')
"""

# Row by row: what a per-customer job reads and writes.
CUSTOMER = "SELECT industry, potential FROM customers WHERE id = %s"
ORDERS_OF = "SELECT occurred_at, amount FROM transactions WHERE customer_id = %s AND occurred_at <= %s"
CASES_OF = """
SELECT count(*) FILTER (WHERE process = 'presales'), count(*) FILTER (WHERE process = 'complaint')
FROM cases WHERE customer_id = %s AND opened_at > %s AND opened_at <= %s
"""
REFERRALS_OF = "SELECT count(*) FROM customers WHERE referred_by = %s"
UPSERT = """
INSERT INTO customer_scores (customer_id, model, score, tier, recency_days, frequency, monetary,
    repurchase_rate, previous_orders, new_needs, referrals, complaints, potential, as_of)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (customer_id) DO UPDATE SET model = excluded.model, score = excluded.score,
    tier = excluded.tier, recency_days = excluded.recency_days, frequency = excluded.frequency,
    monetary = excluded.monetary, repurchase_rate = excluded.repurchase_rate,
    previous_orders = excluded.previous_orders, new_needs = excluded.new_needs,
    referrals = excluded.referrals, complaints = excluded.complaints, potential = excluded.potential,
    as_of = excluded.as_of, computed_at = now()
"""


def step(label: str, started: float) -> float:
    now = time.perf_counter()
    print(f"{label}: {now - started:.1f} s", flush=True)
    return now


def generate(url: str, n: int, as_of: datetime) -> None:
    with psycopg.connect(url, autocommit=True) as pg:
        t = time.perf_counter()
        pg.execute(CUSTOMERS, {"industries": INDUSTRIES, "n_industries": len(INDUSTRIES), "n": n})
        pg.execute(REFERRALS)
        t = step(f"{n:,} customers", t)
        pg.execute(ORDERS, {"as_of": as_of})
        orders = pg.execute("SELECT count(*) FROM transactions").fetchone()
        t = step(f"{orders[0] if orders else 0:,} orders", t)
        pg.execute(ALTERNATIVE_MODEL, {"industry": ALTERNATIVE})
        pg.execute("VACUUM ANALYZE")
        step("VACUUM ANALYZE", t)


async def set_based(url: str, as_of: datetime) -> tuple[int, float]:
    started = time.perf_counter()
    async with transaction(url) as db:
        scored = await score_all(db, as_of=as_of)
    return scored, time.perf_counter() - started


def row_by_row(url: str, sample: int, as_of: datetime) -> tuple[int, float, int]:
    """Scores ``sample`` random customers one at a time; how many, seconds, and how many disagree."""
    with psycopg.connect(url) as pg:
        ids = [r[0] for r in pg.execute("SELECT id FROM customers ORDER BY random() LIMIT %s", (sample,))]
        # The set-based results to compare with, read before the pass overwrites them.
        stored = dict(
            pg.execute("SELECT customer_id, score FROM customer_scores WHERE customer_id = ANY(%s)", (ids,))
        )
        models = {
            industry: (ScoringModel(model), weights)
            for industry, model, weights in pg.execute("SELECT industry, model, weights FROM tier_models")
        }
        pg.commit()
        disagree = 0
        started = time.perf_counter()
        for i, cid in enumerate(ids, 1):
            industry, potential = pg.execute(CUSTOMER, (cid,), prepare=True).fetchone() or (None, None)
            orders = pg.execute(ORDERS_OF, (cid, as_of), prepare=True).fetchall()
            needs, complaints = pg.execute(CASES_OF, (cid, as_of - YEAR, as_of), prepare=True).fetchone() or (
                0,
                0,
            )
            referrals = (pg.execute(REFERRALS_OF, (cid,), prepare=True).fetchone() or (0,))[0]
            model, weights = models.get(industry) or models[DEFAULT_INDUSTRY]
            m = metrics_from_orders(
                orders,
                as_of,
                potential=Potential(potential) if potential else None,
                new_needs=needs,
                referrals=referrals,
                complaints=complaints,
            )
            got = score(m, model, weights)
            disagree += got.score != stored.get(cid)
            pg.execute(
                UPSERT,
                (
                    cid,
                    model.value,
                    got.score,
                    got.tier.value,
                    m.recency_days,
                    m.frequency,
                    m.monetary,
                    m.repurchase_rate,
                    m.previous_orders,
                    m.new_needs,
                    m.referrals,
                    m.complaints,
                    potential,
                    as_of,
                ),
                prepare=True,
            )
            if i % 1000 == 0:
                pg.commit()
        pg.commit()
        return len(ids), time.perf_counter() - started, disagree


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=20_000, help="customers of the row-by-row pass")
    parser.add_argument("--keep-db", action="store_true", help="keep the bench database afterwards")
    args = parser.parse_args()

    server = libpq_url(os.environ.get("DATABASE_URL") or LOCAL_POSTGRES)
    database = f"careflow_bench_{uuid.uuid4().hex[:8]}"
    url = make_url(server).set(database=database).render_as_string(hide_password=False)
    as_of = datetime.now(UTC).replace(microsecond=0)
    with psycopg.connect(server, autocommit=True) as pg:
        pg.execute(f'CREATE DATABASE "{database}"')
    try:
        upgrade(url)
        generate(url, args.customers, as_of)
        sa_url = url.replace("postgresql://", "postgresql+psycopg://", 1)

        async def both_passes() -> list[tuple[int, float]]:
            try:
                return [await set_based(sa_url, as_of), await set_based(sa_url, as_of)]
            finally:
                await engine_for(sa_url).dispose()

        passes = asyncio.run(both_passes())
        for label, (scored, seconds) in zip(("first pass (insert)", "second pass (upsert)"), passes):
            print(
                f"set-based, {label}: {scored:,} customers in {seconds:.1f} s = {scored / seconds:,.0f} customers/s"
            )
        with psycopg.connect(url) as pg:
            for tier, count in pg.execute(
                "SELECT tier, count(*) FROM customer_scores GROUP BY 1 ORDER BY 2 DESC"
            ):
                print(f"  {tier}: {count:,}")
        n, seconds, disagree = row_by_row(url, args.sample, as_of)
        rate = n / seconds
        print(
            f"row by row: {n:,} customers in {seconds:.1f} s = {rate:,.0f} customers/s; disagree: {disagree}"
        )
        ratios = [scored / s / rate for scored, s in passes]
        slowest = max(s * 1_000_000 / scored for scored, s in passes)
        print(
            f"set-based / row by row: {ratios[0]:.1f}× (first pass), {ratios[1]:.1f}× (second) — target ≥ 10×"
        )
        print(f"a million customers in {slowest:.1f} s at the slower pass's rate — target < 30 s")
        return 1 if disagree else 0
    finally:
        if args.keep_db:
            print(f"kept the database: {url}")
        else:
            with psycopg.connect(server, autocommit=True) as pg:
                pg.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
