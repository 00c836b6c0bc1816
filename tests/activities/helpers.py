"""Real receivers for the notifier tests (an aiosmtpd mail sink, an HTTP gateway) and rows to notify about."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import delete

from activities.mailsink import serve_mail_sink
from db.engine import transaction
from db.models import Case, CaseEvent, Customer, Staff


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class MailSink:
    port: int
    maildir: Path

    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
            for p in sorted(self.maildir.glob("*.eml"))
        ]


async def start_mail_sink(maildir: Path) -> tuple[MailSink, asyncio.Task[None]]:
    port = free_port()
    task = asyncio.create_task(serve_mail_sink("127.0.0.1", port, maildir))
    for _ in range(100):  # until it accepts connections
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            break
        except OSError:
            await asyncio.sleep(0.02)
    return MailSink(port, maildir), task


@dataclass
class Gateway:
    """A real HTTP endpoint on localhost that records every POST and answers with ``status``."""

    status: int = 200
    delay: float = 0.0  # seconds before answering: a slow gateway
    requests: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server
        return f"http://127.0.0.1:{self.server.server_address[1]}/send"

    def start(self) -> Gateway:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                time.sleep(gateway.delay)
                gateway.requests.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "json": json.loads(body),
                        "status": gateway.status,
                    }
                )
                self.send_response(gateway.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}' if gateway.status < 300 else b'{"error": "upstream down"}')

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()


# Staff the tests added: removed after each test, so role-wide notices elsewhere in the session do not
# reach them (see the ``staff_cleanup`` fixtures).
CREATED_STAFF: list[str] = []


async def remove_created_staff(url: str) -> None:
    if CREATED_STAFF:
        async with transaction(url) as db:
            await db.execute(delete(Staff).where(Staff.username.in_(CREATED_STAFF)))
        CREATED_STAFF.clear()


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


async def make_case(
    url: str,
    *,
    tier: str = "normal",
    email_address: str | None = "wang@example.com",
    phone: str | None = "13800138000",
    name: str = "上海某某科技有限公司",
    notes: tuple[str, ...] = ("已电话联系王经理，客户需要 200 坐席",),
) -> str:
    """A customer and a case with a timeline: opened, a first response with each note, a breach."""
    number = unique("T-")
    opened = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    async with transaction(url) as db:
        customer = Customer(name=name, email=email_address, phone=phone, tier=tier, contacts=[])
        db.add(customer)
        await db.flush()
        db.add(
            Case(
                number=number,
                process="presales",
                customer_id=customer.id,
                subject="智能客服系统选型",
                severity="urgent_high",
                tier_at_open=tier,
                state="open",
                current_step="proposal",
                owner_role="sales_consultant",
                owner="li.na",
                sla_state="breached",
                escalation_level=1,
                policy_version="1",
                opened_at=opened,
            )
        )
        await db.flush()
        events = [(opened, "小李", "opened", None, {})]
        events += [
            (opened + timedelta(minutes=3 + i), "小李", "step_done", "first_response", {"note": note})
            for i, note in enumerate(notes)
        ]
        events.append((opened + timedelta(hours=48), "system", "sla_breached", "proposal", {}))
        for i, (at, actor, kind, step, payload) in enumerate(events):
            db.add(
                CaseEvent(
                    key=f"{number}:{i}",
                    case_number=number,
                    at=at,
                    actor=actor,
                    kind=kind,
                    step=step,
                    payload=payload,
                )
            )
    return number


async def add_staff(
    url: str,
    *,
    role: str,
    department: str | None = None,
    email_address: str | None = None,
    phone: str | None = None,
    locale: str = "zh-CN",
    name: str = "张伟",
    active: bool = True,
) -> str:
    username = unique("u")
    CREATED_STAFF.append(username)
    async with transaction(url) as db:
        db.add(
            Staff(
                username=username,
                display_name=name,
                role=role,
                department=department,
                email=email_address,
                phone=phone,
                locale=locale,
                active=active,
            )
        )
    return username
