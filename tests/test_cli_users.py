"""`careflow users`: the first admin and staff accounts from the command line (SEC-4)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.workflows.helpers import rows

CLI = Path(__file__).parents[1] / "cli.py"


def careflow(settings, *args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": settings.database_url}
    env.pop("CAREFLOW_PASSWORD", None)
    if password:
        env["CAREFLOW_PASSWORD"] = password
    return subprocess.run(
        [sys.executable, str(CLI), "users", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def usernames(settings) -> Iterator[tuple[str, str]]:
    """Two fresh usernames; the accounts are deleted afterwards (the notifier reaches staff by role)."""
    names = (f"root-{uuid.uuid4().hex[:6]}", f"li-{uuid.uuid4().hex[:6]}")
    yield names
    rows(settings, "DELETE FROM staff WHERE username = ANY(%s) RETURNING id", list(names))


def test_sec4_cli_creates_admin_and_staff_with_hashed_passwords(settings, usernames):
    admin, agent = usernames
    made = careflow(settings, "create-admin", admin, "--name", "系统管理员", password="correct horse 1")
    assert made.returncode == 0, made.stderr
    added = careflow(settings, "add", agent, "--role", "agent", "--password", "another pass 2")
    assert added.returncode == 0, added.stderr
    found = {
        r["username"]: r
        for r in rows(
            settings,
            "SELECT username, display_name, role, password_hash FROM staff WHERE username IN (%s, %s)",
            admin,
            agent,
        )
    }
    assert (found[admin]["role"], found[admin]["display_name"]) == ("admin", "系统管理员")
    assert found[agent]["role"] == "agent" and found[agent]["password_hash"].startswith("$argon2id$")
    assert "another pass 2" not in found[agent]["password_hash"]
    bad = careflow(settings, "add", "x-y", "--role", "wizard", "--password", "whatever 12")
    assert bad.returncode == 2 and "Unknown role" in bad.stderr
    short = careflow(settings, "add", "x-y", "--role", "agent", "--password", "short")
    assert short.returncode == 1 and "密码至少 8 位" in short.stderr
    assert rows(settings, "SELECT count(*) AS n FROM staff WHERE username = 'x-y'")[0]["n"] == 0
