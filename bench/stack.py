"""A throwaway Careflow stack for the benchmarks (`--spawn`): everything on free ports, all gone afterwards.

- `temporal server start-dev` on a sqlite file in a temp directory, WAL journal, every search attribute
  of `workflows.search_attributes.REGISTRATION` registered;
- a fresh database `careflow_bench_<hex>` on the Postgres server of DATABASE_URL (default
  postgresql://postgres@127.0.0.1:5432), set up with `careflow migrate` (schema, calendars, policy v1,
  templates) and dropped afterwards;
- the worker, `python -m cli worker`, and, when asked for, the API, `python -m cli api`.
"""

from __future__ import annotations

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

from workflows.search_attributes import REGISTRATION

ROOT = Path(__file__).resolve().parent.parent
LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
Proc = subprocess.Popen[bytes]


@dataclass
class Stack:
    temporal: str  # host:port of the frontend
    namespace: str
    task_queue: str
    database: str
    database_url: str  # a libpq URL (postgresql://...), usable by psycopg and by Careflow
    env: dict[str, str]  # what the stack's processes run with
    logs: Path  # the temp directory: logs and anything else to throw away
    api: str | None = None  # base URL, when the API was asked for
    procs: dict[str, Proc] = field(default_factory=dict)

    def cli(self, *args: str) -> str:
        """Runs `careflow <args>` against this stack; its output, or RuntimeError with the output."""
        done = subprocess.run(
            cli_command(*args), env=self.env, cwd=ROOT, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"careflow {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
            )
        return done.stdout

    async def api_token(self, *scopes: str) -> str:
        """An API token with ``scopes`` for the bench's requests (SEC-4), made the way an admin makes one;
        it goes with the throwaway database."""
        from api.auth import create_token
        from config import Settings
        from db.engine import transaction

        async with transaction(Settings(DATABASE_URL=self.database_url).sqlalchemy_url()) as db:
            _, secret = await create_token(db, name="bench", scopes=list(scopes), created_by="bench")
        return secret


def libpq_url(url: str) -> str:
    """postgresql+psycopg://... (SQLAlchemy's spelling) as psycopg itself takes it."""
    for prefix in ("postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli", *args]


def temporal_command(tmp: str, port: int, namespace: str) -> list[str]:
    temporal = f"server start-dev --headless --ip 127.0.0.1 --port {port} --namespace {namespace}"
    sqlite = "--log-level warn --sqlite-pragma journal_mode=wal --sqlite-pragma synchronous=normal"
    attributes = [f"--search-attribute={name}={kind}" for name, kind in REGISTRATION.items()]
    binary = str(Path(sys.executable).parent / "temporal")
    return [binary, *temporal.split(), *sqlite.split(), *attributes, "--db-filename", f"{tmp}/t.db"]


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
            raise RuntimeError(f"{what} did not come up\n{log_tails(logs)}")
        time.sleep(0.3)


def log_tails(logs: Path, chars: int = 2000) -> str:
    return "".join(
        f"--- {f.name}\n{f.read_text(errors='replace')[-chars:]}" for f in sorted(logs.glob("*.log"))
    )


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


def worker_ready(address: str, namespace: str, task_queue: str) -> bool:
    """Some worker polls the workflow task queue."""

    async def check() -> bool:
        client = await Client.connect(address, namespace=namespace)
        queue = TaskQueue(name=task_queue)
        request = DescribeTaskQueueRequest(
            namespace=namespace, task_queue=queue, task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW
        )
        return bool((await client.workflow_service.describe_task_queue(request)).pollers)

    try:
        return asyncio.run(check())
    except (RuntimeError, RPCError):
        return False


def api_ready(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200
    return False


@contextlib.contextmanager
def spawned_stack(
    namespace: str = "default", task_queue: str = "careflow", *, api: bool = True, keep_database: bool = False
) -> Iterator[Stack]:
    """Temporal dev server (WAL sqlite), a fresh migrated Postgres database, the worker and (if asked) the API."""
    server = libpq_url(os.environ.get("DATABASE_URL") or LOCAL_POSTGRES)
    database = f"careflow_bench_{uuid.uuid4().hex[:8]}"
    database_url = make_url(server).set(database=database).render_as_string(hide_password=False)
    temporal_port, api_port = free_port(), free_port()
    temporal = f"127.0.0.1:{temporal_port}"
    env = dict(os.environ, DATABASE_URL=database_url, TEMPORAL_ADDRESS=temporal, PYTHONPATH=str(ROOT))
    env.update(TEMPORAL_NAMESPACE=namespace, CAREFLOW_TASK_QUEUE=task_queue, CAREFLOW_API_PORT=str(api_port))
    env.update(PYTHONUNBUFFERED="1")
    with tempfile.TemporaryDirectory(prefix="careflow-bench-") as tmp:
        logs = Path(tmp)
        stack = Stack(temporal, namespace, task_queue, database, database_url, env, logs)
        if api:
            stack.api = f"http://127.0.0.1:{api_port}"
        with psycopg.connect(server, autocommit=True) as pg:
            pg.execute(f'CREATE DATABASE "{database}"')
        procs = stack.procs
        try:
            stack.cli("migrate")  # the schema, and the calendars, policy v1 and templates cases need
            procs["temporal"] = spawn(
                temporal_command(tmp, temporal_port, namespace), env, logs / "temporal.log"
            )
            wait_for(lambda: temporal_ready(temporal, namespace), "Temporal", list(procs.values()), logs)
            procs["worker"] = spawn(cli_command("worker"), env, logs / "worker.log")
            polling = lambda: worker_ready(temporal, namespace, task_queue)
            wait_for(polling, "the worker", list(procs.values()), logs)
            if stack.api:
                procs["api"] = spawn(cli_command("api"), env, logs / "api.log")
                wait_for(lambda: api_ready(stack.api or ""), "the API", list(procs.values()), logs)
            print(
                f"spawned: Temporal {temporal}, {'API ' + stack.api + ', ' if api else ''}database {database}"
            )
            yield stack
        finally:
            for name in ("api", "worker", "temporal"):  # the API and the worker before Temporal
                if name in procs:
                    stop(procs[name])
            if keep_database:
                print(f"kept the database: {database_url}")
            else:
                with psycopg.connect(server, autocommit=True) as pg:
                    pg.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
