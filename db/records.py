"""Every table of the schema, and each process's record table (SPEC §7, seed 003 chapter 3)."""

from __future__ import annotations

from db.aftersales import AftersalesRecord
from db.complaints import ComplaintRecord
from db.library import LibraryEntry
from db.models import Base, PresalesRecord
from db.orders import OrderEvent, OrderRecord
from db.pushes import PushDelivery, PushRecord
from db.surveys import ImprovementTask, Survey
from db.tiering import CustomerScore, TierModel, Transaction

# Each process keeps the columns of its seed chapter-3 table in its own record table.
RECORDS: dict[str, type[Base]] = {
    "presales": PresalesRecord,
    "order_followup": OrderRecord,
    "aftersales": AftersalesRecord,
    "complaint": ComplaintRecord,
    "value_push": PushRecord,
}

__all__ = [
    "RECORDS",
    "Base",
    "CustomerScore",
    "ImprovementTask",
    "LibraryEntry",
    "OrderEvent",
    "PushDelivery",
    "Survey",
    "TierModel",
    "Transaction",
]
