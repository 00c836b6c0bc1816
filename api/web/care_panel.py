"""The care panel of the customer page (R-2..R-4, R-7): where the customer's journey stands and their care tasks.

Registered with ``PANELS`` (api/web/customer_panels.py); the template is ``_customer_care_panel.html``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.web.customer_panels import PANELS
from db.care import CareRecord, CustomerJourney
from db.models import Case
from domain.models import Process

RECENT = 5


async def load_care_panel(db: AsyncSession, customer_id: int) -> dict[str, Any]:
    journey = await db.get(CustomerJourney, customer_id)
    found = (
        await db.execute(
            select(Case, CareRecord)
            .join(CareRecord, CareRecord.case_number == Case.number)
            .where(Case.customer_id == customer_id, Case.process == Process.CARE)
            .order_by(Case.opened_at.desc())
        )
    ).all()
    tasks = [
        {
            "number": case.number,
            "kind": record.kind,
            "occasion": record.occasion,
            "note": record.note,
            "owner": case.owner or case.owner_role,
            "state": case.state,
            "sla_state": case.sla_state,
            "due_at": case.next_deadline,
            "opened_at": case.opened_at,
            "result": record.result,
            "result_note": record.result_note,
            "done_at": record.done_at,
        }
        for case, record in found
    ]
    return {
        "care_panel": {
            "journey": journey,
            "open": [t for t in tasks if t["state"] != "closed"],
            "recent": [t for t in tasks if t["state"] == "closed"][:RECENT],
        }
    }


PANELS.append(load_care_panel)
