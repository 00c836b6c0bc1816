"""Every table of the schema, and each process's record table (SPEC §7, seed 003 chapter 3)."""

from __future__ import annotations

from db.aftersales import AftersalesRecord
from db.auth import ApiToken, AuditEntry, WebSession
from db.care import CareRecord, CustomerJourney
from db.complaints import ComplaintRecord
from db.compliance import ComplianceDraw, ComplianceSample
from db.customers import CustomerImport, CustomerMerge
from db.library import LibraryEntry
from db.models import Base, PresalesRecord
from db.orders import OrderEvent, OrderRecord
from db.pushes import PushDelivery, PushRecord
from db.surveys import ImprovementTask, Survey
from db.tiering import CustomerScore, TierModel, Transaction
from db.touches import CustomerTouch, TouchPolicy

# Each process keeps the columns of its seed chapter-3 table in its own record table.
RECORDS: dict[str, type[Base]] = {
    "presales": PresalesRecord,
    "order_followup": OrderRecord,
    "aftersales": AftersalesRecord,
    "complaint": ComplaintRecord,
    "value_push": PushRecord,
    "care": CareRecord,
}

__all__ = [
    "RECORDS",
    "ApiToken",
    "AuditEntry",
    "Base",
    "ComplianceDraw",
    "ComplianceSample",
    "CustomerImport",
    "CustomerJourney",
    "CustomerMerge",
    "CustomerScore",
    "CustomerTouch",
    "ImprovementTask",
    "LibraryEntry",
    "OrderEvent",
    "PushDelivery",
    "Survey",
    "TierModel",
    "TouchPolicy",
    "Transaction",
    "WebSession",
]
