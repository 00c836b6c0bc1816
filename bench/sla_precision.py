"""SLA precision: how late a breach's escalation row lands in Postgres, with K open cases and deadlines at a rate.

    python -m bench.sla_precision --spawn                      # K=10000 open cases, 20 deadlines/s (17+ min)
    python -m bench.sla_precision --spawn --k 200 --rate 20    # a quick look (well under a minute)

Only --spawn is supported: the benchmark publishes an SLA policy, which must never happen to the policy of
a stack people use. On a throwaway stack of its own (bench/stack.py: Temporal dev server, a fresh migrated
Postgres database, one `careflow worker`) it

1. publishes, with `careflow sla publish`, pre-sales first response = W = K/rate seconds on the 24x7 calendar
   (warning at --warn-at of the target, the seeded chain: supervisor at once, director 4 h later);
2. starts K pre-sales cases (bare Temporal starts, channel web_form, a new customer each) at `rate` per
   second of wall time, so their deadlines fall at `rate` per second over [W, 2W] while all K stay open;
3. waits for every `sla_breached` row: lateness = its recorded_at (clock_timestamp() in Postgres) minus the
   step's due_at (case_steps), split into at - due_at (the timer fired and the worker picked up the task)
   and recorded_at - at (the worker ran the task and the record_change activity);
4. samples the worker's RSS and CPU (with its children) every 0.5 s.

It prints p50/p99/max lateness, the open cases at the last deadline, the worker's peak RSS and CPU, and
PASS/MISS against the targets (p99 <= 2 s, RSS < 1 GiB). The exit status is 0 whatever the verdict (this
is a measurement) and 1 on errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psutil
import psycopg
from temporalio.client import Client

from bench.intake import customer, intake
from bench.stack import Stack, log_tails, spawned_stack
from domain.models import CaseRef, Process
from domain.presales import PresalesStart
from workflows.presales import PresalesWorkflow
from workflows.registry import connect

P99_TARGET = 2.0  # seconds from the deadline to the escalation row
RSS_TARGET = 1024  # MiB
MiB = 1024 * 1024
STEP = "first_response"
WATCHED = ("worker", "temporal", "postgres", "bench")  # CPU is reported for these, and for all "other" load

COUNTS = """
SELECT (SELECT count(*) FROM case_steps WHERE step = %(step)s),
       (SELECT count(*) FROM case_events WHERE kind = 'sla_warning' AND step = %(step)s),
       (SELECT count(*) FROM case_events WHERE kind = 'sla_breached' AND step = %(step)s),
       (SELECT count(*) FROM cases WHERE state = 'open')
"""
TARGETS = """
SELECT s.target_seconds, e.payload->>'calendar', count(*)
FROM case_steps s JOIN case_events e ON e.case_number = s.case_number AND e.kind = 'step_opened' AND e.step = s.step
WHERE s.step = %(step)s GROUP BY 1, 2
"""
LATENESS = """
SELECT extract(epoch FROM e.recorded_at - s.due_at)::float8,
       extract(epoch FROM e.at - s.due_at)::float8,
       extract(epoch FROM e.recorded_at - e.at)::float8,
       (e.payload->>'due_at')::timestamptz = s.due_at,
       extract(epoch FROM e.recorded_at)::float8
FROM case_steps s
LEFT JOIN case_events e ON e.case_number = s.case_number AND e.kind = 'sla_breached' AND e.step = s.step
WHERE s.step = %(step)s AND s.seq = 1
"""


# -- sampling the worker ----------------------------------------------------------------------------------------


@dataclass
class Sample:
    t: float  # time.time()
    rss: dict[str, int]  # bytes, per watched process (with its children)
    cpu: dict[str, float]  # user + system seconds so far, per watched process (with its children)
    busy: float  # machine-wide non-idle CPU seconds so far, all cores


class Sampler(threading.Thread):
    """Every `every` seconds: RSS and CPU time of each watched process tree, and the machine's busy time.

    Watched: the process trees of `pids` (name -> pid), this benchmark process ("bench"), and "postgres": the
    backends serving `database` (found by their process title). CPU time is summed over every process ever
    seen, so a child or backend that exits keeps its share.
    """

    def __init__(self, pids: dict[str, int], database: str, every: float = 0.5) -> None:
        super().__init__(daemon=True, name="sampler")
        self.pids, self.database, self.every = {**pids, "bench": os.getpid()}, database, every
        self.samples: list[Sample] = []
        self._seen: dict[str, dict[int, float]] = {name: {} for name in (*self.pids, "postgres")}
        self._halt = threading.Event()

    def _watched(self) -> dict[str, list[psutil.Process]]:
        found: dict[str, list[psutil.Process]] = {}
        for name, pid in self.pids.items():
            try:
                root = psutil.Process(pid)
                # The stack's processes are children of this one: "bench" is this process alone.
                found[name] = [root] if name == "bench" else [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                found[name] = []
        found["postgres"] = [
            p for p in psutil.process_iter(["cmdline"]) if self.database in " ".join(p.info["cmdline"] or ())
        ]
        return found

    def sample(self) -> Sample:
        rss: dict[str, int] = {}
        for name, procs in self._watched().items():
            rss[name] = 0
            for proc in procs:
                try:
                    with proc.oneshot():
                        rss[name] += proc.memory_info().rss
                        times = proc.cpu_times()
                        self._seen[name][proc.pid] = times.user + times.system
                except psutil.NoSuchProcess:
                    continue
        cpu = {name: sum(seen.values()) for name, seen in self._seen.items()}
        machine = psutil.cpu_times()
        busy = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)
        return Sample(time.time(), rss, cpu, busy)

    def run(self) -> None:
        while not self._halt.is_set():
            self.samples.append(self.sample())
            self._halt.wait(self.every)

    def stop(self) -> None:
        self._halt.set()
        self.join()
        self.samples.append(self.sample())

    def peak_rss(self, name: str) -> float:
        return max(s.rss[name] for s in self.samples) / MiB

    def at(self, t: float) -> Sample:
        return min(self.samples, key=lambda s: abs(s.t - t))

    def cpu_share(self, name: str, t1: float, t2: float) -> float:
        """Share of one core `name` used between t1 and t2 (1.0 = one core fully busy)."""
        a, b = self.at(t1), self.at(t2)
        return (b.cpu[name] - a.cpu[name]) / (b.t - a.t) if b.t > a.t else 0.0

    def other_share(self, t1: float, t2: float) -> float:
        """Cores' worth of CPU that none of the watched processes used between t1 and t2 (other load)."""
        a, b = self.at(t1), self.at(t2)
        if b.t <= a.t:
            return 0.0
        mine = sum(b.cpu[name] - a.cpu[name] for name in b.cpu)
        return max(0.0, (b.busy - a.busy) - mine) / (b.t - a.t)


# -- the measurement --------------------------------------------------------------------------------------------


@dataclass
class Result:
    k: int
    rate: float
    window: int
    began: float = 0.0  # the first start, time.time()
    starts_done: float = 0.0
    start_latencies: list[float] = field(default_factory=list)
    first_due: float = 0.0
    last_due: float = 0.0
    open_at_last_due: int = 0
    lateness: list[float] = field(default_factory=list)  # recorded_at - due_at; inf when missing
    fired: list[float] = field(default_factory=list)  # at - due_at
    to_row: list[float] = field(default_factory=list)  # recorded_at - at
    recorded_at: list[float] = field(default_factory=list)  # epoch seconds
    payload_mismatches: int = 0

    @property
    def missing(self) -> int:
        return sum(math.isinf(x) for x in self.lateness)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def policy_document(window: int, warn_at: float) -> dict[str, object]:
    """Pre-sales first response = the window, counted round the clock; the seeded chain, unchanged."""
    rule = {
        "process": "presales",
        "step": STEP,
        "target": f"{window}s",
        "warn_at": warn_at,
        "chain": [{"role": "supervisor", "after": "0s"}, {"role": "director", "after": "4h"}],
        "source": "bench.sla_precision",
    }
    # The catch-all rule: a web_form case that is not graded yet matches no channel or severity rule.
    return {"defaults": {"calendar": "24x7"}, "rules": [rule]}


async def start_cases(client: Client, args: argparse.Namespace, task_queue: str, result: Result) -> None:
    """Starts case i at began + i/rate (wall time), at most --in-flight calls at a time."""
    gate = asyncio.Semaphore(args.in_flight)

    async def one(i: int) -> None:
        number = f"PS-B{i:06d}"
        case = CaseRef(number=number, process=Process.PRESALES, new_customer=customer(i), actor="bench")
        async with gate:
            began = time.perf_counter()
            await client.start_workflow(
                PresalesWorkflow.run,
                PresalesStart(case=case, intake=intake(i)),
                id=number,
                task_queue=task_queue,
            )
            result.start_latencies.append(time.perf_counter() - began)

    loop = asyncio.get_running_loop()
    began, result.began = loop.time(), time.time()
    tasks = []
    for i in range(args.k):
        delay = began + i / args.rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    result.starts_done = time.time()


async def counts(db: psycopg.AsyncConnection) -> tuple[int, int, int, int]:
    """Steps opened, warnings, breaches, open cases."""
    row = await (await db.execute(COUNTS, {"step": STEP})).fetchone()
    assert row is not None
    return row[0], row[1], row[2], row[3]


async def progress(db: psycopg.AsyncConnection, sampler: Sampler, result: Result, every: float) -> None:
    last = time.time()
    while True:
        await asyncio.sleep(every)
        now = time.time()
        opened, warned, breached, open_cases = await counts(db)
        rss = sampler.at(now).rss["worker"] / MiB
        cpu = " ".join(f"{name} {sampler.cpu_share(name, last, now):.0%}" for name in WATCHED)
        print(
            f"  +{now - result.began:5.0f} s  opened {opened:5}  warned {warned:5}  breached {breached:5}"
            f"  open {open_cases:5}  worker {rss:5.0f} MiB  CPU {cpu} other {sampler.other_share(last, now):.0%}",
            flush=True,
        )
        last = now


async def measure(stack: Stack, args: argparse.Namespace, sampler: Sampler) -> Result:
    result = Result(args.k, args.rate, math.ceil(args.k / args.rate))
    policy = stack.logs / "bench-policy.json"
    policy.write_text(json.dumps(policy_document(result.window, args.warn_at)), encoding="utf-8")
    note = f"bench.sla_precision: presales first response {result.window}s on 24x7 (K={args.k}, rate={args.rate})"
    print(stack.cli("sla", "publish", str(policy), "--note", note).strip())
    client = await connect(stack.temporal, stack.namespace)
    async with await psycopg.AsyncConnection.connect(stack.database_url, autocommit=True) as db:
        report = asyncio.create_task(progress(db, sampler, result, args.every))
        try:
            print(
                f"starting {args.k} cases at {args.rate:g}/s; each deadline W={result.window} s after its case opens"
            )
            await start_cases(client, args, stack.task_queue, result)
            await measure_deadlines(stack, db, args, result)
        finally:
            report.cancel()
    return result


def check_alive(stack: Stack) -> None:
    for name, proc in stack.procs.items():
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with code {proc.returncode}\n{log_tails(stack.logs)}")


async def wait_for_rows(
    stack: Stack, db: psycopg.AsyncConnection, column: int, k: int, grace: float, since: float
) -> int:
    """Waits until counts()[column] reaches k, or nothing new came for `grace` seconds (and `since` passed)."""
    seen, last_new = -1, time.time()
    while (found := (await counts(db))[column]) < k:
        check_alive(stack)
        now = time.time()
        if found > seen:
            seen, last_new = found, now
        elif now - max(last_new, since) > grace:
            if column == 0:
                raise RuntimeError(
                    f"only {found} of {k} cases opened their first step; nothing new for {grace:g} s"
                )
            break
        await asyncio.sleep(0.5)
    return found


async def measure_deadlines(
    stack: Stack, db: psycopg.AsyncConnection, args: argparse.Namespace, result: Result
) -> None:
    await wait_for_rows(stack, db, 0, args.k, args.grace, since=0.0)  # every step open: every deadline known
    found = await (await db.execute(TARGETS, {"step": STEP})).fetchall()
    if found != [(result.window, "24x7", args.k)]:
        raise RuntimeError(f"the steps did not get the bench policy ({result.window} s, 24x7): {found}")
    row = await (
        await db.execute(
            "SELECT extract(epoch FROM min(due_at))::float8, extract(epoch FROM max(due_at))::float8 "
            "FROM case_steps WHERE step = %(step)s",
            {"step": STEP},
        )
    ).fetchone()
    assert row is not None
    result.first_due, result.last_due = row
    await asyncio.sleep(max(0.0, result.last_due - time.time()))
    result.open_at_last_due = (await counts(db))[3]
    if await wait_for_rows(stack, db, 2, args.k, args.grace, since=result.last_due) < args.k:
        print(f"  gave up waiting: no new breach row for {args.grace:g} s", flush=True)
    rows = await (await db.execute(LATENESS, {"step": STEP})).fetchall()
    for lateness, fired, to_row, same_due, recorded_at in rows:
        result.lateness.append(math.inf if lateness is None else lateness)
        if lateness is not None:
            result.fired.append(fired)
            result.to_row.append(to_row)
            result.recorded_at.append(recorded_at)
        result.payload_mismatches += same_due is False


def seconds(values: list[float]) -> str:
    """p50 / p99 / max of seconds, 3 decimals; inf (a missing row) shows as "missing"."""
    if not values:
        return "none"
    shown = [
        "missing" if math.isinf(x) else f"{x:.3f} s" for x in (quantile(values, q) for q in (0.5, 0.99, 1))
    ]
    return f"p50 {shown[0]}  p99 {shown[1]}  max {shown[2]}"


def summary(result: Result, sampler: Sampler, warn_at: float) -> str:
    k, began = result.k, result.began
    start_span, due_span = result.starts_done - began, result.last_due - result.first_due
    start_ms = [1000 * quantile(result.start_latencies, q) for q in (0.5, 0.99)]
    p99, rss = quantile(result.lateness, 0.99), sampler.peak_rss("worker")
    worker_cpu = sampler.samples[-1].cpu["worker"] - sampler.samples[0].cpu["worker"]
    phases = ((began, result.starts_done), (result.first_due, result.last_due))
    cpu = {name: [sampler.cpu_share(name, *p) for p in phases] for name in WATCHED}
    cpu["other"] = [sampler.other_share(*p) for p in phases]
    mismatches = f" ({result.payload_mismatches} with another due_at)" if result.payload_mismatches else ""
    rows = sorted(result.recorded_at) or [began]
    row_rate = (len(rows) - 1) / (rows[-1] - rows[0]) if rows[-1] > rows[0] else 0.0
    escalations = (
        f"+{rows[0] - began:.1f} s .. +{rows[-1] - began:.1f} s after the first start ({row_rate:.1f}/s)"
    )
    p99_text = "missing" if math.isinf(p99) else f"{p99:.3f} s"
    out = [
        f"\nSLA precision {datetime.now(UTC):%Y-%m-%d}, {psutil.cpu_count()} cores: K={k}, "
        + f"{result.rate:g} deadlines/s, W={result.window} s, warning at {warn_at:g} of W",
        f"  starts        {k} in {start_span:.1f} s ({k / start_span:.1f}/s), "
        + f"start call p50 {start_ms[0]:.0f} ms p99 {start_ms[1]:.0f} ms",
        f"  deadlines     +{result.first_due - began:.1f} s .. +{result.last_due - began:.1f} s after the first "
        + f"start ({(k - 1) / due_span if due_span > 0 else 0:.1f}/s)",
        f"  open cases    {result.open_at_last_due} at the last deadline",
        f"  breaches      {k - result.missing} / {k} recorded{mismatches}, {escalations}",
        f"  lateness      {seconds(result.lateness)}   (recorded_at - due_at)",
        f"    fired       {seconds(result.fired)}   (at - due_at: the timer fired, the worker took the task)",
        f"    to the row  {seconds(result.to_row)}   (recorded_at - at: the task ran, record_change wrote)",
        f"  worker        peak RSS {rss:.1f} MiB (at start {sampler.samples[0].rss['worker'] / MiB:.1f} MiB), "
        + f"CPU {worker_cpu:.1f} s in all",
        f"  CPU, % of one core ({psutil.cpu_count()} cores = {100 * (psutil.cpu_count() or 1)} %), "
        + "during the starts / during the deadlines:",
        "    " + "   ".join(f"{name} {a:.0%} / {b:.0%}" for name, (a, b) in cpu.items()),
        f"  targets       p99 lateness {p99_text} <= {P99_TARGET:g} s: {'PASS' if p99 <= P99_TARGET else 'MISS'}"
        + f"   worker RSS {rss:.0f} MiB < {RSS_TARGET} MiB: {'PASS' if rss < RSS_TARGET else 'MISS'}",
    ]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--spawn", action="store_true", help="required: run on a throwaway stack of its own")
    parser.add_argument("--k", type=int, default=10_000, help="open cases (default 10000)")
    parser.add_argument(
        "--rate", type=float, default=20.0, help="deadlines (and starts) per second (default 20)"
    )
    parser.add_argument(
        "--warn-at", type=float, default=0.8, help="warning at this fraction of W (default 0.8)"
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=120.0,
        help="after the last deadline, give up after this many seconds without a new breach row (default 120)",
    )
    parser.add_argument(
        "--in-flight", type=int, default=50, help="start calls in flight at most (default 50)"
    )
    parser.add_argument(
        "--every", type=float, default=30.0, help="progress line every N seconds (default 30)"
    )
    parser.add_argument("--keep-db", action="store_true", help="keep the bench database for a closer look")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--task-queue", default="careflow")
    args = parser.parse_args()
    if not args.spawn:
        parser.error(
            "only --spawn is supported: the benchmark publishes an SLA policy, never on a real stack"
        )
    if args.k < 2 or args.rate <= 0:
        parser.error("--k must be at least 2 and --rate positive")
    with spawned_stack(args.namespace, args.task_queue, api=False, keep_database=args.keep_db) as stack:
        pids = {"worker": stack.procs["worker"].pid, "temporal": stack.procs["temporal"].pid}
        sampler = Sampler(pids, stack.database)
        sampler.start()
        try:
            result = asyncio.run(measure(stack, args, sampler))
        finally:
            sampler.stop()
        print(summary(result, sampler, args.warn_at))
    return 0


if __name__ == "__main__":
    sys.exit(main())
