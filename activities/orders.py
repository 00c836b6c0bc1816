"""Order follow-up (OF-2, OF-3): the raw order events staff enter on a case, kept beside the ones the API stores."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from temporalio import activity

from config import Settings
from db.engine import transaction
from db.orders import OrderEvent
from domain.models import Model


class StoredEvent(Model):
    event_id: str
    order_no: str
    case_number: str
    type: str
    payload: dict[str, Any]
    source: str


class OrderActivities:
    def __init__(self, database_url: str, settings: Settings) -> None:
        self.url = database_url
        self.settings = settings

    @activity.defn
    async def store_event(self, event: StoredEvent) -> None:
        """Keyed by the event id: a retried activity stores the event once."""
        async with transaction(self.url) as db:
            await db.execute(
                pg_insert(OrderEvent)
                .values(**event.model_dump())
                .on_conflict_do_nothing(index_elements=["event_id"])
            )
