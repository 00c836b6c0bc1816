"""`careflow dev` end to end: embedded Postgres, Temporal dev server, worker and API come up; SIGINT stops
every one of them; a second run over the same data directory comes back with the data intact."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
READY = "Press Ctrl-C to stop."
START_TIMEOUT = 180  # first run: initdb + migrations + Temporal schema
STOP_TIMEOUT = 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _alive(proc: psutil.Process) -> bool:
    try:
        # Orphaned postgres is reparented to PID 1, which may reap it late: a zombie is a dead process.
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _temporal() -> str:
    local = Path(sys.executable).parent / "temporal"
    return str(local) if local.exists() else (shutil.which("temporal") or "temporal")


class DevStack:
    """One `careflow dev` process with its output collected in the background."""

    def __init__(self, env: dict[str, str], data_dir: Path) -> None:
        self.data_dir = data_dir
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "dev"],
            cwd=ROOT,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        threading.Thread(target=self._pump, daemon=True).start()
        self.tracked: list[psutil.Process] = []

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while READY not in self.output:
            if self.proc.poll() is not None:
                pytest.fail(f"careflow dev exited with {self.proc.returncode}:\n{self.output}")
            if time.monotonic() > deadline:
                pytest.fail(f"careflow dev not ready within {START_TIMEOUT} s:\n{self.output}")
            time.sleep(0.2)
        # Everything we expect to disappear on SIGINT: all descendants plus the daemonized postmaster.
        self.tracked = psutil.Process(self.proc.pid).children(recursive=True)
        pid_file = self.data_dir / "pg" / "postmaster.pid"
        self.tracked.append(psutil.Process(int(pid_file.read_text().split()[0])))

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"careflow dev did not stop within {STOP_TIMEOUT} s:\n{self.output}")

    def kill(self) -> None:
        """Teardown after a failed assertion: leave nothing behind for the next test."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for p in self.tracked:
            if _alive(p):
                p.kill()


@pytest.fixture
def dev_env(tmp_path: Path) -> tuple[dict[str, str], dict[str, int], Path]:
    ports = {"api": _free_port(), "temporal": _free_port(), "ui": _free_port()}
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "TEMPORAL_ADDRESS", "TEMPORAL_UI_URL")
    }
    data_dir = tmp_path / "data"
    env.update(
        CAREFLOW_DATA_DIR=str(data_dir),
        CAREFLOW_API_HOST="127.0.0.1",
        CAREFLOW_API_PORT=str(ports["api"]),
        CAREFLOW_TEMPORAL_PORT=str(ports["temporal"]),
        CAREFLOW_TEMPORAL_UI_PORT=str(ports["ui"]),
        TEMPORAL_NAMESPACE="default",
    )
    return env, ports, data_dir


def _check_stack_up(stack: DevStack, ports: dict[str, int]) -> None:
    out = stack.output
    assert f"http://127.0.0.1:{ports['api']}/" in out
    assert f"http://127.0.0.1:{ports['api']}/docs" in out
    assert f"http://localhost:{ports['ui']}" in out
    assert "postgresql://" in out

    health = httpx.get(f"http://127.0.0.1:{ports['api']}/api/v1/health", timeout=10)
    assert health.status_code == 200 and health.json() == {"status": "ok"}

    ui = httpx.get(f"http://127.0.0.1:{ports['ui']}/", timeout=10)
    assert ui.status_code < 500

    listed = subprocess.run(
        [
            _temporal(),
            "operator",
            "search-attribute",
            "list",
            "--address",
            f"127.0.0.1:{ports['temporal']}",
            "--namespace",
            "default",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert "SlaState" in listed.stdout

    # The Temporal Schedules (monthly and occasion pushes, NPS/CSAT rounds) and a demo case of every process.
    assert "creating the Temporal Schedules failed" not in out, out
    schedules = subprocess.run(
        [
            _temporal(),
            "schedule",
            "list",
            "--address",
            f"127.0.0.1:{ports['temporal']}",
            "--namespace",
            "default",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert schedules.returncode == 0, schedules.stderr
    for schedule_id in (
        "value-push-monthly",
        "value-push-occasions",
        "survey-round-nps",
        "survey-round-csat",
    ):
        assert schedule_id in schedules.stdout
    # SEC-4: the banner lists the demo sign-ins, and one of them signs in through the login form.
    assert "Demo sign-ins" in out and "supervisor.wang" in out and "careflow-demo" in out
    with httpx.Client(base_url=f"http://127.0.0.1:{ports['api']}", timeout=10) as web:
        assert web.get("/api/v1/cases").status_code == 401
        form = web.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token, form.text
        signed_in = web.post(
            "/login",
            data={"username": "supervisor.wang", "password": "careflow-demo", "csrf_token": token[1]},
        )
        assert signed_in.status_code == 303, signed_in.text
        for process in ("presales", "order_followup", "aftersales", "complaint", "value_push"):
            page = web.get("/api/v1/cases", params={"process": process})
            assert page.json()["total"] >= 1, process


def _check_stack_down(stack: DevStack, ports: dict[str, int]) -> None:
    deadline = time.monotonic() + 5  # pg_ctl -w has returned; allow the last processes to finish exiting
    while time.monotonic() < deadline and any(_alive(p) for p in stack.tracked):
        time.sleep(0.2)
    left = [f"{p.pid} {p.name()}" for p in stack.tracked if _alive(p)]
    assert not left, f"processes left running: {left}\n{stack.output}"
    busy = [name for name, port in ports.items() if _listening(port)]
    assert not busy, f"still listening: {busy}"


def test_dev_stack_starts_stops_and_restarts(dev_env: tuple[dict[str, str], dict[str, int], Path]) -> None:
    env, ports, data_dir = dev_env

    first = DevStack(env, data_dir)
    try:
        first.wait_ready()
        _check_stack_up(first, ports)
        assert first.interrupt() == 0, first.output
        _check_stack_down(first, ports)
    finally:
        first.kill()

    # Same data directory: Postgres data and temporal.db survive, and the stack comes back.
    assert (data_dir / "pg" / "PG_VERSION").exists() and (data_dir / "temporal.db").exists()
    second = DevStack(env, data_dir)
    try:
        second.wait_ready()
        _check_stack_up(second, ports)
        assert "Demo data already present" in second.output, second.output
        assert second.interrupt() == 0, second.output
        _check_stack_down(second, ports)
    finally:
        second.kill()
