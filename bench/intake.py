"""Intake throughput: pre-sales cases through the REST API versus bare Temporal starts of the same workflow.

    python -m bench.intake --spawn      # on a throwaway stack of its own
    python -m bench.intake              # against `careflow dev` (API 127.0.0.1:8000, Temporal 127.0.0.1:7233)

After a warm-up it runs api, bare, bare, api (N cases each, C in flight), letting the worker catch up after
each run, and prints cases/s and p50/p99 start latency per run and per path, and API/bare against the target.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.service import RPCError

from domain.models import CaseRef, NewCustomer, Process
from domain.presales import PresalesIntake, PresalesStart
from workflows.presales import PresalesWorkflow
from workflows.registry import connect
from workflows.search_attributes import REGISTRATION

TARGET = 0.80  # the API keeps at least 80 % of bare-start throughput
REFERENCE = "a WAL-backed dev server starts ~120 bare workflows/s on 2 cores with 20 in flight"
ROOT = Path(__file__).resolve().parent.parent
LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
Start = Callable[[int], Awaitable[None]]
Proc = subprocess.Popen[bytes]


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
    async with httpx.AsyncClient(base_url=args.api, limits=pool, timeout=60) as http:
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


# -- --spawn: a throwaway stack ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def commands(tmp: str, temporal_port: int, api_port: int, namespace: str) -> dict[str, list[str]]:
    python = sys.executable
    temporal = f"server start-dev --headless --ip 127.0.0.1 --port {temporal_port} --namespace {namespace}"
    sqlite = "--log-level warn --sqlite-pragma journal_mode=wal --sqlite-pragma synchronous=normal"
    attributes = [f"--search-attribute={name}={kind}" for name, kind in REGISTRATION.items()]
    api = "-m cli api"  # the API exactly as `careflow api` runs it
    return {
        "temporal": [str(Path(python).parent / "temporal"), *temporal.split(), *sqlite.split(), *attributes]
        + ["--db-filename", f"{tmp}/t.db"],
        "worker": [python, "-m", "cli", "worker"],
        "api": [python, *api.split()],
    }


def spawn(command: list[str], env: dict[str, str], log: Path) -> Proc:
    with log.open("wb") as out:
        return subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, process_group=0
        )


def stop(proc: Proc) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wait_for(ready: Callable[[], bool], what: str, procs: list[Proc], logs: Path) -> None:
    deadline = time.monotonic() + 90
    while not ready():
        if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
            tails = "".join(
                f"--- {f.name}\n{f.read_text(errors='replace')[-2000:]}" for f in logs.glob("*.log")
            )
            raise RuntimeError(f"{what} did not come up\n{tails}")
        time.sleep(0.3)


def temporal_ready(address: str, namespace: str) -> bool:
    async def check() -> bool:
        client = await Client.connect(address, namespace=namespace)
        request = ListSearchAttributesRequest(namespace=namespace)
        found = await client.operator_service.list_search_attributes(request)
        return set(REGISTRATION) <= set(found.custom_attributes)

    try:
        return asyncio.run(check())
    except (RuntimeError, RPCError):  # refused, or the namespace is not there yet
        return False


def api_ready(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200
    return False


@contextlib.contextmanager
def spawned_stack(args: argparse.Namespace) -> Iterator[None]:
    """Temporal dev server (WAL sqlite), a fresh Postgres database, the worker and the API; all gone after."""
    from db.migrate import upgrade

    server = os.environ.get("DATABASE_URL") or LOCAL_POSTGRES
    database = f"careflow_bench_{uuid.uuid4().hex[:8]}"
    database_url = make_url(server).set(database=database).render_as_string(hide_password=False)
    temporal_port, api_port = free_port(), free_port()
    args.temporal, args.api = f"127.0.0.1:{temporal_port}", f"http://127.0.0.1:{api_port}"
    env = dict(os.environ, DATABASE_URL=database_url, TEMPORAL_ADDRESS=args.temporal, PYTHONPATH=str(ROOT))
    env.update(TEMPORAL_NAMESPACE=args.namespace, CAREFLOW_TASK_QUEUE=args.task_queue)
    env.update(CAREFLOW_API_PORT=str(api_port))
    procs: list[Proc] = []
    with tempfile.TemporaryDirectory(prefix="careflow-bench-") as tmp:
        logs, command = Path(tmp), commands(tmp, temporal_port, api_port, args.namespace)
        with psycopg.connect(server, autocommit=True) as pg:
            pg.execute(f'CREATE DATABASE "{database}"')
        try:
            upgrade(database_url)
            procs.append(spawn(command["temporal"], env, logs / "temporal.log"))
            wait_for(lambda: temporal_ready(args.temporal, args.namespace), "Temporal", procs, logs)
            procs += [spawn(command[part], env, logs / f"{part}.log") for part in ("worker", "api")]
            wait_for(lambda: api_ready(args.api), "the API", procs, logs)
            print(f"spawned: Temporal {args.temporal}, API {args.api}, database {database}")
            yield
        finally:
            for proc in reversed(procs):  # the API and the worker before Temporal
                stop(proc)
            with psycopg.connect(server, autocommit=True) as pg:
                pg.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


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
    args = parser.parse_args()
    with spawned_stack(args) if args.spawn else contextlib.nullcontext():
        return 0 if asyncio.run(bench(args)) else 1


if __name__ == "__main__":
    sys.exit(main())
