"""Value-added push campaigns (SPEC VP-1..VP-3, R-6): audience, deliveries, tracking and the effect figures.

A send batch picks the next customers of the audience (the tag and tiers, or an occasion's customers), skips
those the frequency cap protects (R-6: the push type's own cap key, and the monthly cap of all touches shared
with the interaction plans in the touch ledger, ``activities/touches.py``), writes one delivery and one touch
per customer with an unguessable token, and hands each message to the notifier (their preferred channel, VP-2). Deliveries are unique per (campaign, customer)
and the notifier's rows per notice key, so a retried batch neither writes nor sends twice.

The effect (VP-3) is read from the deliveries: the open pixel and the click redirect stamp them, and an
inquiry (a pre-sales or after-sales case) or a conversion (an order) opened within the effect window is
credited to the customer's most recent push. The API reads the same figures live; at the window's end the
``measure`` activity stamps them on the deliveries and the workflow records them as final.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, exists, extract, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from temporalio import activity
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from activities.changes import Notice
from activities.notify import NotifyActivities
from activities.touches import lock, push_key, reserve, stamp, stamp_token
from config import Settings
from db.engine import transaction
from db.models import Case, Customer, Notification
from db.pushes import PushDelivery, PushRecord, PushService
from domain.i18n import label
from domain.interaction_plans import Response, TouchKind
from domain.value_push import (
    CONVERSION_PROCESSES,
    INQUIRY_PROCESSES,
    BatchSent,
    OccasionQuery,
    Occasions,
    PushMetrics,
    PushType,
    SendBatch,
    TagService,
    TagServiceRow,
    ValuePushIntake,
    ValuePushStart,
    cap_key,
    channel_for,
)


class CampaignActivities:
    def __init__(self, database_url: str, settings: Settings) -> None:
        self.url = database_url
        self.settings = settings
        self.notifier = NotifyActivities(database_url, settings)

    @activity.defn
    async def send_batch(self, req: SendBatch) -> BatchSent:
        intake = req.intake
        day = req.at.astimezone(ZoneInfo(self.settings.timezone)).date()
        # A retried batch (a timeout, a lost worker) resumes after the last customer an earlier attempt
        # heartbeated: a channel that times out on every message cannot make each attempt start over.
        details = activity.info().heartbeat_details
        reached = int(details[0]) if details else req.after
        sent = BatchSent()
        async with transaction(self.url) as db:
            # Send batches of concurrent campaigns take turns (and with every other writer of the touch ledger),
            # so two campaigns choosing the same customer at once see each other's deliveries and touches.
            await lock(db)
            customers = list((await db.execute(_audience(intake, req.after, req.size))).scalars())
            ids = [c.id for c in customers]
            # This batch's span of customer ids: the last batch's is open-ended, so a delivery an earlier
            # attempt wrote for a customer who has since left the audience still gets its message.
            span = PushDelivery.customer_id > req.after
            if len(customers) == req.size:
                span = and_(span, PushDelivery.customer_id <= ids[-1])
            mine = set(
                await db.scalars(
                    select(PushDelivery.customer_id).where(PushDelivery.case_number == req.number, span)
                )
            )
            used = await _cap_keys_used(db, req.number, ids)
            for customer in customers:
                if customer.id in mine:
                    continue  # a retried batch: written before, the message goes (once) below
                channel = channel_for(
                    intake.channel, customer.preferred_channel, customer.email, customer.phone
                )
                key = cap_key(intake.push_type, day, customer.contract_end)
                if channel is None:
                    sent.unreachable += 1
                elif (customer.id, key) in used or not await reserve(
                    db,
                    customer_id=customer.id,
                    kind=TouchKind.PUSH,
                    source=req.number,
                    key=push_key(req.number, customer.id),
                    at=req.at,
                    topic=intake.service,
                    done=True,
                ):
                    # this push type's own cap, or every touch of the month together (the shared ledger).
                    sent.capped += 1
                else:
                    await db.execute(
                        pg_insert(PushDelivery)
                        .values(
                            case_number=req.number,
                            customer_id=customer.id,
                            channel=channel,
                            token=secrets.token_urlsafe(24),
                            sent_at=req.at,
                            push_type=intake.push_type,
                            cap_key=key,
                        )
                        .on_conflict_do_nothing()
                    )
            deliveries = list(
                await db.scalars(
                    select(PushDelivery)
                    .where(PushDelivery.case_number == req.number, span)
                    .order_by(PushDelivery.customer_id)
                )
            )
        for delivery in deliveries:
            sent.delivered += 1
            sent.channels[delivery.channel] = sent.channels.get(delivery.channel, 0) + 1
            if delivery.customer_id in mine and delivery.customer_id <= reached:
                continue  # an earlier attempt handed this message to the notifier
            try:
                await self.notifier.notify(self._notice(req, delivery))
            except ApplicationError as err:
                # The row stays 'failed' in the outbox; one customer's channel does not hold up the rest.
                activity.logger.warning("push %s to customer %s: %s", req.number, delivery.customer_id, err)
            activity.heartbeat(delivery.customer_id)
        sent.failed = await self._failed(req.number, [d.customer_id for d in deliveries])
        sent.customers = len(customers)
        sent.last = ids[-1] if ids else None
        return sent

    async def _failed(self, number: str, customer_ids: list[int]) -> int:
        """The batch's messages the channel refused, this attempt or an earlier one (the outbox's rows)."""
        async with transaction(self.url) as db:
            failed = await db.scalar(
                select(func.count()).where(
                    Notification.case_number == number,
                    Notification.purpose == "push",
                    Notification.recipient.in_([f"customer:{i}" for i in customer_ids]),
                    Notification.status == "failed",
                )
            )
            return failed or 0

    def _notice(self, req: SendBatch, delivery: PushDelivery) -> Notice:
        base = self.settings.public_url.rstrip("/")
        intake = req.intake
        return Notice(
            key=f"{req.number}:push:{delivery.customer_id}",
            number=req.number,
            purpose="push",
            audience="customer",
            channels=[delivery.channel],
            context={
                "customer_id": delivery.customer_id,
                "push_type": intake.push_type,
                "push_type_label": label(intake.push_type),
                "tag": intake.tag,
                "tag_label": label(intake.tag),
                "service": intake.service,
                "link_url": f"{base}/t/c/{delivery.token}",
                "pixel_url": f"{base}/t/o/{delivery.token}.gif",
            },
        )

    @activity.defn
    async def measure(self, number: str) -> PushMetrics:
        """At the window's end: stamps each credited inquiry and conversion on its delivery, then reads the
        campaign's figures (which no later event changes)."""
        async with transaction(self.url) as db:
            for column, processes in (
                (PushDelivery.inquired_at, INQUIRY_PROCESSES),
                (PushDelivery.converted_at, CONVERSION_PROCESSES),
            ):
                case = aliased(Case)
                first = (
                    select(func.min(case.opened_at))
                    .where(PushRecord.case_number == PushDelivery.case_number, _credited(case, processes))
                    .correlate(PushDelivery)
                    .scalar_subquery()
                )
                await db.execute(
                    update(PushDelivery)
                    .where(PushDelivery.case_number == number, column.is_(None))
                    .values({column.key: first})
                )
            return (await metrics_for(db, [number])).get(number, PushMetrics())

    @activity.defn
    async def start_campaign(self, start: ValuePushStart) -> bool:
        """Starts a scheduled campaign under its period's number; False if that number ran or runs already."""
        intake = start.intake
        try:
            await activity.client().start_workflow(
                "ValuePushWorkflow",
                start,
                id=start.case.number,
                task_queue=activity.info().task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=f"{label('value_push')} · {label(intake.tag)} · {intake.service}"[:200],
            )
        except WorkflowAlreadyStartedError:
            return False
        return True

    @activity.defn
    async def services(self, push_type: PushType) -> list[TagServiceRow]:
        async with transaction(self.url) as db:
            rows = await db.scalars(
                select(PushService)
                .where(PushService.push_type == push_type, PushService.active.is_(True))
                .order_by(PushService.id)
            )
            return [service_row(r) for r in rows]

    @activity.defn
    async def occasions(self, q: OccasionQuery) -> Occasions:
        """Customers with a birthday on ``q.day`` (R-4) and with a contract ending on ``q.contract_end`` (R-3)."""
        born = and_(
            extract("month", Customer.birthday) == q.day.month, extract("day", Customer.birthday) == q.day.day
        )
        if q.day.month == 2 and q.day.day == 28 and (q.day + timedelta(days=1)).month == 3:
            born = or_(
                born, and_(extract("month", Customer.birthday) == 2, extract("day", Customer.birthday) == 29)
            )
        async with transaction(self.url) as db:
            birthday = await db.scalars(select(Customer.id).where(born).order_by(Customer.id))
            renewal = await db.scalars(
                select(Customer.id).where(Customer.contract_end == q.contract_end).order_by(Customer.id)
            )
            return Occasions(birthday=list(birthday), renewal=list(renewal))


def _audience(intake: ValuePushIntake, after: int, size: int) -> Any:
    """VP-1/VP-2: everyone with the tag (or the occasion's customers), in the tiers asked for, by id."""
    query = select(Customer).where(Customer.id > after).order_by(Customer.id).limit(size)
    if intake.customer_ids:
        query = query.where(Customer.id.in_(intake.customer_ids))
    else:
        query = query.where(Customer.tags.contains([intake.tag]))
    if intake.tiers:
        query = query.where(Customer.tier.in_([t.value for t in intake.tiers]))
    return query


async def _cap_keys_used(db: AsyncSession, number: str, ids: list[int]) -> set[tuple[int, str]]:
    """R-6: the (customer, cap key) pairs other campaigns used — this month's monthly push, this year's
    birthday push, the renewal push of this contract end."""
    pairs = await db.execute(
        select(PushDelivery.customer_id, PushDelivery.cap_key).where(
            PushDelivery.customer_id.in_(ids),
            PushDelivery.case_number != number,
            PushDelivery.cap_key.is_not(None),
        )
    )
    return {(customer_id, key) for customer_id, key in pairs.tuples()}


def _credited(case: Any, processes: tuple[str, ...]) -> ColumnElement[bool]:
    """``case`` (an alias of cases) is an inquiry/conversion credited to the delivery in the enclosing query:
    the delivery's customer opened it within the window, and no later push reached them before (VP-3)."""
    later = aliased(PushDelivery)
    return and_(
        case.customer_id == PushDelivery.customer_id,
        case.process.in_(processes),
        case.opened_at >= PushDelivery.sent_at,
        or_(PushRecord.window_ends_at.is_(None), case.opened_at <= PushRecord.window_ends_at),
        ~exists()
        .where(
            later.customer_id == PushDelivery.customer_id,
            later.sent_at > PushDelivery.sent_at,
            later.sent_at <= case.opened_at,
        )
        .correlate_except(later),
    )


def _responded(column: Any, processes: tuple[str, ...]) -> ColumnElement[bool]:
    case = aliased(Case)
    return or_(column.is_not(None), exists().where(_credited(case, processes)).correlate_except(case))


def _within(column: Any) -> ColumnElement[bool]:
    return and_(
        column.is_not(None),
        or_(PushRecord.window_ends_at.is_(None), column <= PushRecord.window_ends_at),
    )


async def metrics_for(db: AsyncSession, numbers: list[str]) -> dict[str, PushMetrics]:
    """The campaigns' figures as of now; once a window has closed they no longer change."""
    if not numbers:
        return {}
    opened = or_(_within(PushDelivery.opened_at), _within(PushDelivery.clicked_at))
    clicked = _within(PushDelivery.clicked_at)
    inquired = _responded(PushDelivery.inquired_at, INQUIRY_PROCESSES)
    converted = _responded(PushDelivery.converted_at, CONVERSION_PROCESSES)
    rows = await db.execute(
        select(
            PushDelivery.case_number,
            func.count(),
            func.count().filter(opened),
            func.count().filter(clicked),
            func.count().filter(inquired),
            func.count().filter(converted),
            func.count().filter(or_(clicked, inquired, converted)),
        )
        .join(PushRecord, PushRecord.case_number == PushDelivery.case_number)
        .where(PushDelivery.case_number.in_(numbers))
        .group_by(PushDelivery.case_number)
    )
    return {
        number: PushMetrics.of(delivered=n, opened=o, clicked=c, inquiries=i, conversions=v, respondents=r)
        for number, n, o, c, i, v, r in rows.tuples()
    }


# -- what the API and the web pages call ---------------------------------------------------------------------


class WindowClosed(Exception):
    """The push's effect window has closed: its figures are final."""


async def track_open(db: AsyncSession, token: str, at: datetime) -> bool:
    """The open pixel: the first open counts, on the delivery and on its touch (R-5). The same pixel serves
    the planned messages' tracked links (R-1). False for an unknown token."""
    found = (
        await db.execute(
            update(PushDelivery)
            .where(PushDelivery.token == token)
            .values(opened_at=func.coalesce(PushDelivery.opened_at, at))
            .returning(PushDelivery.case_number, PushDelivery.customer_id)
        )
    ).first()
    if found is not None:
        await stamp(db, push_key(*found), Response.OPENED, at)
    elif await stamp_token(db, token, Response.OPENED, at) is None:
        return False
    await db.commit()
    return True


async def track_click(db: AsyncSession, token: str, at: datetime) -> str | None:
    """The click redirect: the first click counts, and a click is an open too; the delivery's touch (or the
    planned message's) is stamped clicked (R-5). The service's link, or None for an unknown token."""
    found = (
        await db.execute(
            update(PushDelivery)
            .where(PushDelivery.token == token)
            .values(
                clicked_at=func.coalesce(PushDelivery.clicked_at, at),
                opened_at=func.coalesce(PushDelivery.opened_at, at),
            )
            .returning(PushDelivery.case_number, PushDelivery.customer_id)
        )
    ).first()
    if found is None:
        link = await stamp_token(db, token, Response.CLICKED, at)
    else:
        await stamp(db, push_key(*found), Response.CLICKED, at)
        link = await db.scalar(select(PushRecord.link).where(PushRecord.case_number == found[0])) or "/"
    await db.commit()
    return link


async def record_response(
    db: AsyncSession, token: str, what: Literal["inquiry", "conversion"], at: datetime
) -> PushDelivery | None:
    """Another system reports that the customer of this push asked or bought (VP-3); the first report counts.
    None for an unknown token; WindowClosed once the window has closed."""
    delivery = await db.scalar(select(PushDelivery).where(PushDelivery.token == token).with_for_update())
    if delivery is None:
        return None
    record = await db.get(PushRecord, delivery.case_number)
    assert record is not None
    if record.metrics_at is not None or (record.window_ends_at is not None and at > record.window_ends_at):
        number = delivery.case_number
        await db.rollback()
        raise WindowClosed(f"the effect window of {number} has closed: its figures are final")
    column = "inquired_at" if what == "inquiry" else "converted_at"
    if getattr(delivery, column) is None:
        setattr(delivery, column, at)
    response = Response.REPLIED if what == "inquiry" else Response.CONVERTED
    await stamp(db, push_key(delivery.case_number, delivery.customer_id), response, at)
    await db.commit()
    return delivery


async def list_campaigns(
    db: AsyncSession, *, push_type: str | None, page: int, page_size: int
) -> tuple[list[tuple[PushRecord, Case]], int]:
    query = select(PushRecord, Case).join(Case, Case.number == PushRecord.case_number)
    if push_type:
        query = query.where(PushRecord.push_type == push_type)
    total = await db.scalar(select(func.count()).select_from(query.subquery()))
    rows = await db.execute(
        query.order_by(Case.opened_at.desc(), Case.number.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    return [(record, case) for record, case in rows.tuples()], total or 0


async def channel_counts(db: AsyncSession, number: str) -> dict[str, int]:
    rows = await db.execute(
        select(PushDelivery.channel, func.count())
        .where(PushDelivery.case_number == number)
        .group_by(PushDelivery.channel)
        .order_by(PushDelivery.channel)
    )
    return dict(rows.tuples().all())


def service_row(row: PushService) -> TagServiceRow:
    return TagServiceRow.model_validate(
        {
            c.key: getattr(row, c.key)
            for c in PushService.__table__.columns
            if c.key in TagServiceRow.model_fields
        }
    )


class DuplicateService(Exception):
    """Another row already matches this tag for this push type."""


async def save_service(
    db: AsyncSession, *, service_id: int | None, body: TagService, actor: str
) -> TagServiceRow | None:
    """Adds a tag → service row, or replaces row ``service_id``'s values (None: no such row)."""
    values = {**body.model_dump(mode="json"), "updated_by": actor}
    if service_id is None:
        row = PushService(**values)
        db.add(row)
    else:
        found = await db.get(PushService, service_id)
        if found is None:
            return None
        row = found
        for name, value in values.items():
            setattr(row, name, value)
    try:
        await db.commit()
    except IntegrityError:
        await db.rollback()
        raise DuplicateService(f"{body.push_type} {body.tag!r} has a service already") from None
    return service_row(row)


async def list_services(db: AsyncSession) -> list[TagServiceRow]:
    rows = await db.scalars(select(PushService).order_by(PushService.push_type, PushService.tag))
    return [service_row(r) for r in rows]


async def unknown_customers(db: AsyncSession, ids: list[int]) -> list[int]:
    found = set(await db.scalars(select(Customer.id).where(Customer.id.in_(ids)))) if ids else set()
    return sorted(set(ids) - found)
