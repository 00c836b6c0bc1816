"""Intake throughput: pre-sales cases through the REST API versus bare Temporal starts of the same workflow.

    python -m bench.intake --spawn      # on a throwaway stack of its own
    python -m bench.intake --token T    # against `careflow dev` (API 127.0.0.1:8000, Temporal 127.0.0.1:7233)

After a warm-up it runs api, bare, bare, api (N cases each, C in flight), letting the worker catch up after
each run, and prints cases/s and p50/p99 start latency per run and per path, and API/bare against the target.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from temporalio.client import Client

from bench.stack import spawned_stack
from domain.models import CaseRef, NewCustomer, Process
from domain.presales import PresalesIntake, PresalesStart
from workflows.presales import PresalesWorkflow
from workflows.registry import connect

TARGET = 0.80  # the API keeps at least 80 % of bare-start throughput
REFERENCE = "a WAL-backed dev server starts ~120 bare workflows/s on 2 cores with 20 in flight"
Start = Callable[[int], Awaitable[None]]


@dataclass
class Run:
    path: str
    seconds: float
    latencies: list[float]  # seconds, one per case

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def ms(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def __str__(self) -> str:
        p50, p99 = self.ms(0.5), self.ms(0.99)
        return f"{self.path:4} {self.rate:7.1f} cases/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms"


async def load(path: str, n: int, concurrency: int, one: Start) -> Run:
    """Calls one(i) for i < n, at most `concurrency` at a time; a latency starts when the call gets its slot."""
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def timed(i: int) -> None:
        async with gate:
            began = time.perf_counter()
            await one(i)
            latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    await asyncio.gather(*(timed(i) for i in range(n)))
    return Run(path, time.perf_counter() - began, latencies)


def intake(i: int) -> PresalesIntake:
    return PresalesIntake(contact=f"张三 138{i:08d}", product="智能客服平台", need=f"压测咨询 #{i}")


def customer(i: int) -> NewCustomer:
    return NewCustomer(name=f"压测客户{i}", phone="13800138000")


def api_case(http: httpx.AsyncClient) -> Start:
    async def one(i: int) -> None:
        body = intake(i).model_dump(mode="json") | {"customer": customer(i).model_dump(exclude_defaults=True)}
        response = await http.post("/api/v1/cases/presales", json=body)
        if response.status_code != 201:
            raise RuntimeError(f"the API answered {response.status_code}: {response.text[:300]}")

    return one


def bare_case(client: Client, task_queue: str) -> Start:
    async def one(i: int) -> None:
        number = f"PS-B{uuid.uuid4().hex}"  # never collides with the API's PS-<sequence> numbers
        case = CaseRef(number=number, process=Process.PRESALES, new_customer=customer(i), actor="bench")
        start = PresalesStart(case=case, intake=intake(i))
        await client.start_workflow(PresalesWorkflow.run, start, id=number, task_queue=task_queue)

    return one


async def drain(client: Client, since: datetime, timeout: float = 300.0) -> float:
    """Seconds until every case started since `since` has opened its first step (the worker caught up)."""
    began, started = time.perf_counter(), f"StartTime >= '{since.isoformat()}'"
    while time.perf_counter() - began < timeout:
        total = (await client.count_workflows(started)).count
        if (await client.count_workflows(f"{started} AND CaseStep = 'first_response'")).count >= total:
            return time.perf_counter() - began
        await asyncio.sleep(0.5)
    print(f"  warning: the worker had not caught up after {timeout:.0f} s", file=sys.stderr)
    return timeout


async def bench(args: argparse.Namespace) -> bool:
    since = datetime.now(UTC).replace(microsecond=0)
    client = await connect(args.temporal, args.namespace)
    pool = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    headers = {"Authorization": f"Bearer {args.token}"}
    async with httpx.AsyncClient(base_url=args.api, limits=pool, timeout=60, headers=headers) as http:
        paths = {"api": api_case(http), "bare": bare_case(client, args.task_queue)}
        warmup = min(args.warmup, args.n)
        for name, one in paths.items():
            await load(name, warmup, args.concurrency, one)
        print(f"warm-up: {warmup} cases per path; the worker caught up in {await drain(client, since):.1f} s")
        runs = []
        for name in ("api", "bare", "bare", "api"):  # ABBA: neither path always goes first or on a fuller db
            runs.append(run := await load(name, args.n, args.concurrency, paths[name]))
            caught_up = await drain(client, since)
            print(f"  {run}  ({run.seconds:.1f} s; the worker caught up {caught_up:.1f} s later)")
    print(f"\nN={args.n} C={args.concurrency}, both runs of each path pooled:")
    pooled: dict[str, Run] = {}
    for name in paths:
        mine = [r for r in runs if r.path == name]
        pooled[name] = Run(name, sum(r.seconds for r in mine), [x for r in mine for x in r.latencies])
        print(f"  {pooled[name]}")
    ratio = pooled["api"].rate / pooled["bare"].rate
    verdict = "meets" if ratio >= TARGET else "MISSES"
    print(f"API/bare throughput {ratio:.2f}: {verdict} the target of at least {TARGET}")
    print(f"(for scale: {REFERENCE})")
    return ratio >= TARGET


# -- --spawn: a throwaway stack (bench/stack.py) ----------------------------------------------------------------


@contextlib.contextmanager
def spawned(args: argparse.Namespace) -> Iterator[None]:
    """Points args at a throwaway stack with the worker and the API, torn down afterwards."""
    with spawned_stack(args.namespace, args.task_queue, api=True) as stack:
        args.temporal, args.api = stack.temporal, stack.api
        args.token = asyncio.run(stack.api_token("cases:write"))
        yield


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="cases per timed run (default 1000)")
    parser.add_argument("--concurrency", type=int, default=20, help="requests in flight (default 20)")
    parser.add_argument("--warmup", type=int, default=100, help="warm-up cases per path (default 100)")
    parser.add_argument("--api", default="http://127.0.0.1:8000", help="the API's base URL")
    parser.add_argument("--temporal", default="127.0.0.1:7233", help="the Temporal frontend")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--task-queue", default="careflow", help="the worker's task queue")
    parser.add_argument("--spawn", action="store_true", help="start (and tear down) a throwaway stack")
    parser.add_argument(
        "--token",
        default=os.environ.get("CAREFLOW_TOKEN", ""),
        help="an API token with cases:write for --api (/admin/tokens; default $CAREFLOW_TOKEN); --spawn makes one",
    )
    args = parser.parse_args()
    with spawned(args) if args.spawn else contextlib.nullcontext():
        return 0 if asyncio.run(bench(args)) else 1


if __name__ == "__main__":
    sys.exit(main())
