"""SEC-2: who did what, when, from where — an append-only ``audit_log`` (a trigger refuses UPDATE/DELETE).

Two writers: `audit()` for what a handler knows best (a reveal of contact details, a sign-in, a token), and
`AuditMiddleware`, which records every successful write (POST/PUT/PATCH/DELETE) made through the app with
its route, path, status, the user or token, IP and user agent. A request that called `audit()` itself is
not recorded twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config import Settings
from db.auth import AuditEntry
from db.engine import sessionmaker_for

log = logging.getLogger(__name__)

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _client(request: Request) -> tuple[str | None, str | None]:
    ip = request.client.host if request.client else None
    return ip, request.headers.get("user-agent")


def _who(request: Request, actor: str | None) -> tuple[str, str]:
    user = getattr(request.state, "user", None)
    if user is not None:
        return user.display_name, user.kind
    return actor or "anonymous", "system"


async def audit(
    db: AsyncSession,
    request: Request,
    actor: str | None,
    action: str,
    target: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """Adds an audit row to ``db``'s transaction (the caller commits it with the change it records).
    ``actor`` names who acted when nobody is signed in (a failed sign-in names the username tried)."""
    name, kind = _who(request, actor)
    user = getattr(request.state, "user", None)
    if user is not None and actor and actor != name:
        detail = {**(detail or {}), "on_behalf_of": actor}
    ip, agent = _client(request)
    db.add(
        AuditEntry(
            actor=name[:100],
            actor_kind=kind,
            action=action[:100],
            target=target[:300],
            detail=detail or {},
            ip=ip,
            user_agent=agent,
        )
    )
    await db.flush()
    request.state.audited = True


def _request_detail(request: Request, status: int) -> dict[str, Any]:
    """What the row says besides who and where: the status, the query, and the person a token named."""
    detail: dict[str, Any] = {"status": status}
    if request.url.query:
        detail["query"] = request.url.query
    user = getattr(request.state, "user", None)
    named = request.headers.get("x-careflow-actor", "").strip()
    if user is not None and user.is_token and named:
        detail["on_behalf_of"] = named[:100]
    return detail


class AuditMiddleware:
    """Records every successful unsafe request (status < 400) once the response has been sent."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE:
            await self.app(scope, receive, send)
            return
        status: list[int] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        await self.app(scope, receive, capture)
        if not status or status[0] >= 400:
            return
        request = Request(scope)
        if getattr(request.state, "audited", False):
            return
        route = scope.get("route")
        template = getattr(route, "path", request.url.path)
        try:
            async with sessionmaker_for(self.settings.sqlalchemy_url())() as db, db.begin():
                name, kind = _who(request, None)
                ip, agent = _client(request)
                db.add(
                    AuditEntry(
                        actor=name[:100],
                        actor_kind=kind,
                        action=f"{scope['method']} {template}"[:100],
                        target=request.url.path[:300],
                        detail=_request_detail(request, status[0]),
                        ip=ip,
                        user_agent=agent,
                    )
                )
        except Exception:
            # The change is made and answered already: a lost audit row must at least be in the logs.
            log.exception("audit row for %s %s was not written", scope["method"], request.url.path)


# -- search (the /admin/audit page and GET /api/v1/audit) -----------------------------------------------------


@dataclass(frozen=True)
class AuditFilters:
    actor: str | None = None  # part of the name
    action: str | None = None  # prefix: "contacts." finds reveals and reads
    target: str | None = None  # part of the target, e.g. "customer:42"
    since: datetime | None = None  # instants, [since, until)
    until: datetime | None = None


async def search_audit(
    db: AsyncSession, filters: AuditFilters, *, page: int, page_size: int
) -> tuple[list[AuditEntry], int]:
    """Newest first."""
    conditions = []
    if filters.actor:
        conditions.append(AuditEntry.actor.ilike(f"%{_like(filters.actor)}%", escape="\\"))
    if filters.action:
        conditions.append(AuditEntry.action.ilike(f"{_like(filters.action)}%", escape="\\"))
    if filters.target:
        conditions.append(AuditEntry.target.ilike(f"%{_like(filters.target)}%", escape="\\"))
    if filters.since:
        conditions.append(AuditEntry.at >= filters.since)
    if filters.until:
        conditions.append(AuditEntry.at < filters.until)
    total = await db.scalar(select(func.count()).select_from(AuditEntry).where(*conditions)) or 0
    rows = await db.execute(
        select(AuditEntry)
        .where(*conditions)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    return list(rows.scalars()), total


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
