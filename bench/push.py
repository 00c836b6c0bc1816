"""Value-added push throughput: one campaign to N tagged customers, end to end, deliveries per second.

    python -m bench.push                   # N=10000 customers, mail really sent to a local SMTP sink
    python -m bench.push --n 2000
    python -m bench.push --n 2000 --no-smtp   # without SMTP: every email row is written 'skipped'

Always on a throwaway stack of its own (bench/stack.py: Temporal dev server, a fresh migrated Postgres
database, one `careflow worker`, `careflow api`), because it writes N made-up customers. It

1. starts `careflow mail-sink` (activities/mailsink.py, aiosmtpd keeping each message as an .eml file) on a
   free port and runs the stack with SMTP_HOST/SMTP_PORT pointing at it (unless --no-smtp);
2. inserts N customers tagged --tag, each with an email address and preferred channel email, into the
   stack's Postgres in one set-based INSERT ... SELECT FROM generate_series;
3. starts one monthly campaign for the tag with `POST /api/v1/pushes` and takes the time just before it;
4. polls Postgres until all N `push_deliveries` rows of the campaign exist and all N `notifications` rows
   of it (purpose 'push') have a final status (sent, failed or skipped), then waits for the `push_sent`
   event (the workflow has seen its last batch);
5. samples the worker's RSS and CPU (with its children) every 0.5 s, and the CPU of Temporal, the API, the
   mail sink and the Postgres backends of the bench database (bench.sla_precision's sampler).

End to end = from just before the POST to the last notification row's final stamp (its sent_at, or its
created_at when it was skipped). It prints deliveries/s end to end and in the steady state, the time per
message inside a send batch and between batches (from the rows' Postgres timestamps), the statuses, the
mails the sink received, the worker's peak RSS and CPU, and CPU per process. Exit status 0 after a
measurement, 1 on errors (the stack did not come up, a process died, nothing new for --grace seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil
import psycopg

from bench.sla_precision import MiB, Sampler
from bench.stack import ROOT, Proc, Stack, cli_command, free_port, log_tails, spawn, spawned_stack, stop
from domain.value_push import SEND_BATCH

WATCHED = ("worker", "temporal", "api", "mailsink", "postgres", "bench")
FINAL = ("sent", "failed", "skipped")

CUSTOMERS = """
INSERT INTO customers (type, name, email, phone, contacts, tier, tags, preferred_channel, locale)
SELECT 'individual', '推送压测客户' || i, 'bench' || i || '@example.com', NULL, '[]'::jsonb, 'normal',
       jsonb_build_array(%(tag)s::text), 'email', 'zh-CN'
FROM generate_series(1, %(n)s) AS i
"""
COUNTS = """
SELECT (SELECT count(*) FROM push_deliveries WHERE case_number = %(number)s),
       (SELECT count(*) FROM notifications WHERE case_number = %(number)s AND purpose = 'push'),
       (SELECT count(*) FROM notifications WHERE case_number = %(number)s AND purpose = 'push'
          AND status IN ('sent', 'failed', 'skipped')),
       (SELECT count(*) FROM case_events WHERE case_number = %(number)s AND kind = 'push_sent')
"""
# Per message: customer id, the notify transaction's start (created_at = now()), the send transaction's
# start (sent_at = now(), before the SMTP call; NULL when skipped), status.
ROWS = """
SELECT split_part(recipient, ':', 2)::bigint, extract(epoch FROM created_at)::float8,
       extract(epoch FROM sent_at)::float8, status, channel
FROM notifications WHERE case_number = %(number)s AND purpose = 'push' ORDER BY created_at, id
"""
FIRST_CUSTOMER = "SELECT min(id) FROM customers WHERE tags @> jsonb_build_array(%(tag)s::text)"
PUSH_SENT = """
SELECT extract(epoch FROM recorded_at)::float8, payload FROM case_events
WHERE case_number = %(number)s AND kind = 'push_sent'
"""


@dataclass
class Result:
    n: int
    smtp: bool
    insert_seconds: float = 0.0
    number: str = ""
    began: float = 0.0  # just before the POST, time.time()
    answered: float = 0.0  # the POST's answer
    deliveries_at: float = 0.0  # polled: all N push_deliveries rows seen
    final_at: float = 0.0  # polled: all N notifications final
    push_sent_at: float | None = None  # the push_sent event's recorded_at
    push_sent: dict[str, object] = field(default_factory=dict)
    rows: list[tuple[int, float, float | None, str, str]] = field(default_factory=list)
    first_customer: int = 0
    mails: int = 0

    @property
    def last_final(self) -> float:
        """The last row's final stamp: sent_at for a sent row (the send began), else created_at."""
        return max(sent or created for _, created, sent, _, _ in self.rows)

    @property
    def first_created(self) -> float:
        return min(created for _, created, _, _, _ in self.rows)


def start_mail_sink(logs: Path) -> tuple[Proc, int, Path]:
    """`careflow mail-sink` on a free port, its maildir under `logs`; waits until it accepts connections."""
    port = free_port()
    env = dict(
        os.environ, CAREFLOW_MAIL_SINK_PORT=str(port), CAREFLOW_DATA_DIR=str(logs), PYTHONPATH=str(ROOT)
    )
    proc = spawn(cli_command("mail-sink"), env, logs / "mailsink.log")
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, port, logs / "mail"
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop(proc)
                raise RuntimeError(
                    f"the mail sink did not come up\n{(logs / 'mailsink.log').read_text(errors='replace')}"
                ) from None
            time.sleep(0.2)


def insert_customers(stack: Stack, n: int, tag: str) -> float:
    began = time.perf_counter()
    with psycopg.connect(stack.database_url, autocommit=True) as db:
        db.execute(CUSTOMERS, {"n": n, "tag": tag})
        db.execute("ANALYZE customers")
    return time.perf_counter() - began


def check_alive(stack: Stack, extra: dict[str, Proc]) -> None:
    for name, proc in {**stack.procs, **extra}.items():
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with code {proc.returncode}\n{log_tails(stack.logs)}")


async def measure(
    stack: Stack, args: argparse.Namespace, sampler: Sampler, sink: dict[str, Proc], result: Result
) -> None:
    assert stack.api
    body = {
        "push_type": "monthly",
        "tag": args.tag,
        "service": "压测增值服务",
        "link": "https://example.com/bench-service",
        "owner": "bench",
        "external_ref": f"bench-push-{args.tag}",
    }
    async with await psycopg.AsyncConnection.connect(stack.database_url, autocommit=True) as db:
        row = await (await db.execute(FIRST_CUSTOMER, {"tag": args.tag})).fetchone()
        result.first_customer = int(row[0]) if row and row[0] is not None else 0
        token = await stack.api_token("cases:write")
        async with httpx.AsyncClient(
            base_url=stack.api, timeout=30, headers={"Authorization": f"Bearer {token}"}
        ) as http:
            result.began = time.time()
            response = await http.post("/api/v1/pushes", json=body, headers={"X-Careflow-Actor": "bench"})
            result.answered = time.time()
        if response.status_code != 201:
            raise RuntimeError(f"POST /api/v1/pushes answered {response.status_code}: {response.text}")
        result.number = response.json()["number"]
        print(
            f"campaign {result.number} started; POST answered in {1000 * (result.answered - result.began):.0f} ms"
        )
        params = {"number": result.number}
        seen, last_new, last_print = (-1, -1), time.time(), time.time()
        while True:
            check_alive(stack, sink)
            row = await (await db.execute(COUNTS, params)).fetchone()
            assert row is not None
            deliveries, rows, final, pushed = row
            now = time.time()
            if deliveries >= args.n and not result.deliveries_at:
                result.deliveries_at = now
            if final >= args.n:
                result.final_at = result.final_at or now
                if pushed:
                    break
                if now - result.final_at > args.grace:
                    print(f"  no push_sent event {args.grace:g} s after the last row", flush=True)
                    break
            if (deliveries, final) != seen:
                seen, last_new = (deliveries, final), now
            elif now - last_new > args.grace and final < args.n:
                raise RuntimeError(
                    f"nothing new for {args.grace:g} s: {deliveries} deliveries, {final}/{rows} rows final "
                    f"of {args.n}\n{log_tails(stack.logs)}"
                )
            if now - last_print >= args.every:
                last_print = now
                sample = sampler.at(now)
                print(
                    f"  +{now - result.began:5.0f} s  deliveries {deliveries:6}  rows {rows:6}  final {final:6}"
                    f"  worker {sample.rss['worker'] / MiB:4.0f} MiB"
                    f"  CPU worker {sampler.cpu_share('worker', now - args.every, now):.0%}"
                    f" temporal {sampler.cpu_share('temporal', now - args.every, now):.0%}"
                    f" postgres {sampler.cpu_share('postgres', now - args.every, now):.0%}",
                    flush=True,
                )
            await asyncio.sleep(0.25)
        event = await (await db.execute(PUSH_SENT, params)).fetchone()
        if event is not None:
            result.push_sent_at, result.push_sent = event[0], dict(event[1] or {})
        result.rows = [tuple(r) for r in await (await db.execute(ROWS, params)).fetchall()]  # type: ignore[misc]


def ms(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    p = lambda q: 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]
    return f"p50 {p(0.5):.1f} ms  p90 {p(0.9):.1f} ms  mean {1000 * statistics.fmean(values):.1f} ms"


def summary(result: Result, sampler: Sampler) -> str:
    n, began = result.n, result.began
    end = result.last_final
    total = end - began
    steady = end - result.first_created
    # Consecutive rows: within a send batch (same batch of SEND_BATCH customers) or across a batch boundary.
    within, between, write, send = [], [], [], []
    rows = sorted(result.rows, key=lambda r: r[1])
    for (c1, t1, s1, _, _), (c2, t2, _, _, _) in itertools.pairwise(rows):
        same = (c1 - result.first_customer) // SEND_BATCH == (c2 - result.first_customer) // SEND_BATCH
        (within if same else between).append(t2 - t1)
        if same and s1 is not None:
            write.append(s1 - t1)  # notify transaction: facts, template, render, insert, commit
            send.append(t2 - s1)  # send transaction: lock the row, SMTP, mark sent, commit; heartbeat
    statuses: dict[str, int] = {}
    for *_, status, channel in result.rows:
        statuses[f"{channel} {status}"] = statuses.get(f"{channel} {status}", 0) + 1
    worker_cpu = sampler.at(end).cpu["worker"] - sampler.at(began).cpu["worker"]
    watched = [name for name in WATCHED if name in sampler.samples[0].cpu]  # no mail sink with --no-smtp
    cpu = "   ".join(f"{name} {sampler.cpu_share(name, began, end):.0%}" for name in watched)
    mode = (
        "mail sent over SMTP to a local aiosmtpd sink (careflow mail-sink)"
        if result.smtp
        else "WITHOUT SMTP (SMTP_HOST unset): email rows are written 'skipped', nothing is sent"
    )
    pushed = (
        f"+{result.push_sent_at - began:.1f} s ({ {k: result.push_sent.get(k) for k in ('delivered', 'capped', 'unreachable', 'failed')} })"
        if result.push_sent_at
        else "not recorded"
    )
    out = [
        f"\nValue push {datetime.now(UTC):%Y-%m-%d}, {psutil.cpu_count()} cores: N={n}, one campaign, {mode}",
        f"  customers     {n} inserted in {result.insert_seconds:.2f} s (one INSERT ... SELECT)",
        f"  campaign      {result.number}, POST answered in {1000 * (result.answered - began):.0f} ms",
        f"  first row     +{result.first_created - began:.2f} s after the POST (case opened, first batch written)",
        f"  deliveries    all {n} push_deliveries rows seen at +{result.deliveries_at - began:.1f} s",
        f"  notifications all {n} final at +{total:.1f} s (last row's stamp); {', '.join(f'{k} {v}' for k, v in sorted(statuses.items()))}",
        f"  push_sent     {pushed}",
        f"  END TO END    {n / total:.1f} deliveries/s   (N / {total:.1f} s from the POST)",
        f"  steady state  {(n - 1) / steady:.1f} deliveries/s   (first row to last: {steady:.1f} s)",
        f"  per message   {ms(within)}   (row to row inside a batch of {SEND_BATCH})",
    ]
    if write:
        out.append(f"    notify tx   {ms(write)}   (created_at -> sent_at: facts, template, render, insert)")
        out.append(f"    send        {ms(send)}   (sent_at -> next row: lock, SMTP, mark sent, heartbeat)")
    out += [
        f"  between batches {ms(between)}   ({len(between)} boundaries: activity done, workflow task, next batch's INSERTs)",
    ]
    if result.smtp:
        out.append(f"  mail sink     {result.mails} .eml files received")
    out += [
        f"  worker        peak RSS {sampler.peak_rss('worker'):.1f} MiB "
        + f"(at start {sampler.samples[0].rss['worker'] / MiB:.1f} MiB), CPU {worker_cpu:.1f} s "
        + f"during the push ({1000 * worker_cpu / n:.1f} ms per delivery)",
        f"  CPU, % of one core ({psutil.cpu_count()} cores), POST to last row:",
        f"    {cpu}   other {sampler.other_share(began, end):.0%}",
    ]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="customers with the tag (default 10000)")
    parser.add_argument(
        "--tag", default="bench_tag", help="the customers' tag and the campaign's (default bench_tag)"
    )
    parser.add_argument(
        "--no-smtp",
        action="store_true",
        help="run without SMTP: email rows are written 'skipped', nothing sent",
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=120.0,
        help="give up after this many seconds without a new row (default 120)",
    )
    parser.add_argument(
        "--every", type=float, default=15.0, help="progress line every N seconds (default 15)"
    )
    parser.add_argument("--keep-db", action="store_true", help="keep the bench database for a closer look")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--task-queue", default="careflow")
    args = parser.parse_args()
    if args.n < 2:
        parser.error("--n must be at least 2")
    result = Result(args.n, smtp=not args.no_smtp)
    with tempfile.TemporaryDirectory(prefix="careflow-bench-mail-") as tmp:
        sink: dict[str, Proc] = {}
        # spawned_stack gives its processes this process's environment: SMTP set here reaches the worker.
        for name in ("SMTP_HOST", "SMTP_PORT", "SMTP_USERNAME", "SMTP_PASSWORD", "SMTP_STARTTLS", "SMTP_TLS"):
            os.environ.pop(name, None)
        maildir = Path(tmp) / "mail"
        try:
            if result.smtp:
                sink["mailsink"], port, maildir = start_mail_sink(Path(tmp))
                os.environ.update(SMTP_HOST="127.0.0.1", SMTP_PORT=str(port))
                print(f"mail sink: 127.0.0.1:{port}, maildir {maildir}")
            with spawned_stack(
                args.namespace, args.task_queue, api=True, keep_database=args.keep_db
            ) as stack:
                result.insert_seconds = insert_customers(stack, args.n, args.tag)
                print(f"inserted {args.n} customers tagged {args.tag!r} in {result.insert_seconds:.2f} s")
                pids = {name: proc.pid for name, proc in {**stack.procs, **sink}.items()}
                sampler = Sampler(pids, stack.database)
                sampler.start()
                try:
                    asyncio.run(measure(stack, args, sampler, sink, result))
                finally:
                    sampler.stop()
                if result.smtp:
                    result.mails = sum(1 for _ in maildir.glob("*.eml"))
                print(summary(result, sampler))
        finally:
            for proc in sink.values():
                stop(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
