"""The notifier: renders a Jinja2 template for a purpose and sends it on a channel.

The spine delivers to the staff inbox (the ``notifications`` table). Escalations carry the case's whole
timeline so the next level never has to ask the customer again (ESC-1). Sending is keyed: a retried
activity never sends twice.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from temporalio import activity

from activities.changes import Notice
from db.engine import transaction
from db.models import Case, CaseEvent, Customer, Notification

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,
)


class NotifyActivities:
    def __init__(self, database_url: str) -> None:
        self.url = database_url

    @activity.defn
    async def notify(self, notice: Notice) -> None:
        async with transaction(self.url) as db:
            case = await db.get(Case, notice.number)
            customer = await db.get(Customer, case.customer_id) if case else None
            events = (
                await db.execute(
                    select(CaseEvent).where(CaseEvent.case_number == notice.number).order_by(CaseEvent.at, CaseEvent.id)
                )
            ).scalars().all()
            text = TEMPLATES.get_template(f"{notice.purpose}.txt.j2").render(
                notice=notice, case=case, customer=customer, events=events
            )
            subject, _, body = text.partition("\n")
            await db.execute(
                pg_insert(Notification)
                .values(
                    key=notice.key,
                    case_number=notice.number,
                    channel=notice.channel,
                    recipient_role=notice.recipient_role,
                    recipient=notice.recipient,
                    purpose=notice.purpose,
                    subject=subject.strip()[:300],
                    body=body.strip(),
                )
                .on_conflict_do_nothing(index_elements=["key"])
            )
