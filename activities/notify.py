"""The notifier: one notice becomes one message per recipient and channel, written once and sent once.

Staff are reached by name, or by role (and department); the default staff channels are the inbox and
email. The customer is reached on the channel the notice names, or by email, else SMS; never the inbox.
Each message is a ``notifications`` row keyed ``<notice key>:<channel>:<recipient>``, inserted with
``ON CONFLICT DO NOTHING``; then every row still ``pending`` or ``failed`` is sent while the row is locked
and marked ``sent`` or ``failed``. A retried activity therefore never resends a ``sent`` row. The one gap:
a crash after the receiver accepted a message but before the row was marked resends it once; the email
``Message-ID`` and the gateway's ``Idempotency-Key`` carry the row key so the receiver can drop it.

Texts come from the editable templates (COM-2, ``activities/messages.py``) and carry the case's whole
timeline, so whoever is told next never asks the customer again (ESC-1).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import false, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.changes import Notice
from activities.channels import ChannelError, Outgoing, Sender, senders
from activities.messages import (
    DEFAULT_LOCALE,
    build_context,
    default_template,
    event_facts,
    find_template,
    history_text,
    local_time,
    render,
)
from config import Settings, get_settings
from db.engine import transaction
from db.models import Case, CaseEvent, Customer, Notification, Staff
from domain.i18n import label

STAFF_CHANNELS = ("inbox", "email")


@dataclass(frozen=True)
class Target:
    """One (recipient, channel): who gets the message, where, in which locale, or why it cannot go."""

    channel: str
    recipient: str | None  # staff username, "customer:<id>", or None for a role's shared inbox
    role: str | None
    name: str
    locale: str = DEFAULT_LOCALE
    address: str | None = None  # email address or phone number
    unavailable: str | None = None  # set: the row is written as skipped with this reason


@dataclass(frozen=True)
class Facts:
    case: dict[str, Any] | None
    customer: dict[str, Any] | None
    customer_email: str | None
    customer_phone: str | None
    events: list[tuple[datetime, str, str, str | None, dict[str, Any]]]


class NotifyActivities:
    def __init__(self, database_url: str, settings: Settings | None = None) -> None:
        self.url = database_url
        self.settings = settings or get_settings()
        self.senders: dict[str, Sender] = senders(self.settings)

    @activity.defn
    async def notify(self, notice: Notice) -> None:
        async with transaction(self.url) as db:
            facts = await _facts(db, notice)
            targets = await self._targets(db, notice, facts)
            outgoing: dict[str, Target] = {}
            for target in targets:
                row = await self._row(db, notice, facts, target)
                inserted = await db.scalar(
                    pg_insert(Notification)
                    .values(**row)
                    .on_conflict_do_nothing(index_elements=["key"])
                    .returning(Notification.id)
                )
                if target.channel != "inbox" and target.unavailable is None:
                    outgoing[row["key"]] = target
                if inserted is None:
                    activity.logger.debug("notification %s exists already", row["key"])
        failures = [f for key, target in outgoing.items() if (f := await self._deliver(key, target))]
        if failures:
            # Retryable: the next attempt sends only the rows that are still not sent.
            raise ApplicationError("; ".join(failures), type="DeliveryFailed")

    async def _targets(self, db: AsyncSession, notice: Notice, facts: Facts) -> list[Target]:
        if notice.audience == "customer":
            return self._customer_targets(notice, facts)
        return await self._staff_targets(db, notice)

    async def _staff_targets(self, db: AsyncSession, notice: Notice) -> list[Target]:
        role = notice.recipient_role.value if notice.recipient_role else None
        query = select(Staff).where(Staff.active.is_(True)).order_by(Staff.username)
        if notice.recipient:
            query = query.where(Staff.username == notice.recipient)
        elif role or notice.department:
            if role:
                query = query.where(Staff.role == role)
            if notice.department:
                query = query.where(Staff.department == notice.department)
        else:
            query = query.where(false())
        people = (await db.execute(query)).scalars().all()
        if not people:
            # Nobody on file matches: the role's (or department's) shared inbox, so the message is never lost.
            shared = notice.recipient or (None if role else f"department:{notice.department}")
            return [Target("inbox", shared, role, notice.recipient or label(role) or shared or "")]
        targets = []
        for person in people:
            addresses = {"inbox": None, "email": person.email, "sms": person.phone, "wechat": person.phone}
            for channel in notice.channels or STAFF_CHANNELS:
                if notice.channels is None and channel == "email" and not person.email:
                    continue  # by default email goes only to staff who have an address
                targets.append(
                    self._target(
                        channel,
                        person.username,
                        person.role,
                        person.display_name,
                        person.locale,
                        addresses.get(channel),
                    )
                )
        return targets

    def _customer_targets(self, notice: Notice, facts: Facts) -> list[Target]:
        customer = facts.customer
        if customer is None:
            channel = (notice.channels or ["email"])[0]
            return [Target(channel, None, None, "", unavailable="no customer on file for this notice")]
        addresses = {
            "email": facts.customer_email,
            "sms": facts.customer_phone,
            "wechat": facts.customer_phone,
            "app": facts.customer_phone,
        }
        preferred = customer.get("preferred_channel")
        if notice.channels:
            channels = notice.channels
        elif preferred and addresses.get(preferred):
            channels = [preferred]  # VP-2, PS-3: the customer's preferred channel
        else:
            channels = ["email" if facts.customer_email else "sms"]
        return [
            self._target(
                channel,
                f"customer:{customer['id']}",
                None,
                customer["name"],
                customer.get("locale") or DEFAULT_LOCALE,
                addresses.get(channel),
            )
            for channel in channels
            if channel != "inbox"  # the inbox is for staff
        ]

    def _target(
        self, channel: str, recipient: str, role: str | None, name: str, locale: str, address: str | None
    ) -> Target:
        reason = None
        if channel != "inbox":
            sender = self.senders.get(channel)
            if sender is None:
                reason = f"unknown channel {channel!r}"
            elif not address:
                reason = f"{name} has no {'email address' if channel == 'email' else 'phone number'}"
            else:
                reason = sender.unavailable()
        return Target(channel, recipient, role, name, locale, address, reason)

    async def _row(self, db: AsyncSession, notice: Notice, facts: Facts, target: Target) -> dict[str, Any]:
        subject, body, locale = await self._text(db, notice, facts, target)
        now = datetime.now(UTC)
        inbox = target.channel == "inbox"
        return {
            "key": row_key(notice.key, target.channel, target.recipient or target.role or notice.audience),
            "case_number": facts.case["number"] if facts.case else None,
            "channel": target.channel,
            "recipient_role": target.role,
            "recipient": target.recipient,
            "purpose": notice.purpose,
            "subject": subject,
            "body": body,
            "locale": locale,
            "status": "sent" if inbox else ("skipped" if target.unavailable else "pending"),
            "sent_at": now if inbox else None,
            "error": target.unavailable,
        }

    async def _text(
        self, db: AsyncSession, notice: Notice, facts: Facts, target: Target
    ) -> tuple[str, str, str]:
        tz = self.settings.timezone
        tier = (facts.customer or {}).get("tier") or (facts.case or {}).get("tier_at_open")
        template = await find_template(
            db, purpose=notice.purpose, channel=target.channel, tier=tier, locale=target.locale
        )
        locale = template.locale if template else DEFAULT_LOCALE
        events = [
            event_facts(at=at, actor=actor, kind=kind, step=step, payload=payload, locale=locale, tz=tz)
            for at, actor, kind, step, payload in facts.events
        ]
        recipient = {
            "username": target.recipient,
            "name": target.name,
            "role": target.role,
            "role_label": label(target.role, locale) if target.role else "",
        }
        context = build_context(
            notice=notice.model_dump(mode="json"),
            case=facts.case,
            customer=facts.customer,
            events=events,
            recipient=recipient,
            locale=locale,
            tz=tz,
            public_url=self.settings.public_url,
        )
        # An admin's template that fails on this case falls back to the shipped default, then to plain
        # facts: a notice is never dropped because of a template.
        fallback = default_template(
            purpose=notice.purpose, channel=target.channel, tier=tier or "*", locale=locale
        )
        for candidate in (template, fallback):
            if candidate is None:
                continue
            try:
                subject, body = render(candidate, context)
                return subject, body, candidate.locale
            except Exception as err:  # noqa: BLE001 - admin text can fail in any way; fall back
                which = f"{candidate.purpose}.{candidate.channel}.{candidate.tier}.{candidate.locale}"
                activity.logger.warning("template %s failed for %s: %s", which, notice.key, err)
        subject = (
            f"[{notice.purpose}] {notice.number or ''} {label(notice.step) if notice.step else ''}".strip()
        )
        return subject, f"{subject}\n\n{history_text(events, locale)}", locale

    async def _deliver(self, key: str, target: Target) -> str | None:
        """Send one row unless it is sent already; the row lock keeps a concurrent attempt from sending it."""
        async with transaction(self.url) as db:
            row = await db.scalar(
                select(Notification)
                .where(Notification.key == key, Notification.status.in_(("pending", "failed")))
                .with_for_update(skip_locked=True)
            )
            if row is None:
                return None
            assert target.address is not None
            message = Outgoing(row.key, row.channel, target.address, row.subject, row.body)
            try:
                await self.senders[row.channel].send(message)
            except ChannelError as err:
                row.status, row.error, row.attempts = "failed", str(err), row.attempts + 1
                # Keys, not addresses: this text lands in Temporal's history and in logs.
                activity.logger.warning("%s failed: %s", row.key, err)
                return f"{row.key}: {err}"
            row.status, row.error, row.attempts, row.sent_at = "sent", None, row.attempts + 1, func.now()
            activity.logger.info("%s sent", row.key)
            return None


def row_key(notice_key: str, channel: str, recipient: str) -> str:
    key = f"{notice_key}:{channel}:{recipient}"
    if len(key) <= 200:
        return key
    return f"{key[:150]}#{hashlib.sha256(key.encode()).hexdigest()[:40]}"


async def _facts(db: AsyncSession, notice: Notice) -> Facts:
    case = await db.get(Case, notice.number) if notice.number else None
    # A campaign (value_push) case has no customer: each push names its customer in the context.
    customer_id = case.customer_id if case and case.customer_id else notice.context.get("customer_id")
    customer = await db.get(Customer, int(customer_id)) if customer_id is not None else None
    events = []
    if case is not None:
        rows = await db.execute(
            select(CaseEvent).where(CaseEvent.case_number == case.number).order_by(CaseEvent.at, CaseEvent.id)
        )
        events = [(e.at, e.actor, e.kind, e.step, e.payload or {}) for e in rows.scalars()]
    return Facts(
        case=_case_facts(case) if case else None,
        customer=_customer_facts(customer) if customer else None,
        customer_email=customer.email if customer else None,
        customer_phone=customer.phone if customer else None,
        events=events,
    )


def _case_facts(case: Case) -> dict[str, Any]:
    return {
        "number": case.number,
        "process": case.process,
        "process_label": label(case.process),
        "subject": case.subject,
        "severity": case.severity,
        "severity_label": label(case.severity),
        "tier_at_open": case.tier_at_open,
        "state": case.state,
        "current_step": case.current_step,
        "owner_role": case.owner_role,
        "owner": case.owner,
        "escalation_level": case.escalation_level,
        "opened_at": local_time(case.opened_at),
    }


def _customer_facts(customer: Customer) -> dict[str, Any]:
    return {
        "id": customer.id,
        "name": customer.name,
        "type": customer.type,
        "phone": customer.phone,
        "email": customer.email,
        "tier": customer.tier,
        "tier_label": label(customer.tier),
        "preferred_channel": customer.preferred_channel,
        "locale": customer.locale,
        "tags": list(customer.tags or []),
    }


# -- the inbox and the outbox (read by the REST API and the web pages) -----------------------------------

NOTIFICATION_FILTERS = ("channel", "status", "recipient_role", "recipient", "case_number", "purpose")


async def list_notifications(
    db: AsyncSession, *, filters: dict[str, str | None], page: int, page_size: int, unread_first: bool = False
) -> tuple[list[Notification], int]:
    query = select(Notification)
    for name in NOTIFICATION_FILTERS:
        if value := filters.get(name):
            query = query.where(getattr(Notification, name) == value)
    total = await db.scalar(select(func.count()).select_from(query.subquery()))
    order = [Notification.created_at.desc(), Notification.id.desc()]
    if unread_first:
        order.insert(0, Notification.read_at.is_not(None))
    rows = await db.execute(query.order_by(*order).limit(page_size).offset((page - 1) * page_size))
    return list(rows.scalars()), total or 0


async def mark_read(db: AsyncSession, notification_id: int) -> bool:
    row = await db.get(Notification, notification_id)
    if row is None:
        return False
    if row.read_at is None:
        row.read_at = datetime.now(UTC)
        await db.commit()
    return True
