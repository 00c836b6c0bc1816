"""REST: /api/v1/orders — what other systems tell us about an order (OF-2, OF-3), and the order as recorded.

An event is stored first (``order_events``, keyed by the sender's ``event_id``), then signalled to the order's
case; the row is committed only once the signal is in, so a stored event has always reached the case and a
resend of the same id is answered ``duplicate: true`` without doing anything.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.auth import require
from api.deps import ClientDep, SessionDep
from api.errors import Conflict, NotFound
from db.models import Case
from db.orders import OrderEvent, OrderRecord
from domain.models import CaseState
from domain.order_followup import OrderEventIn, ReceivedEvent
from domain.permissions import Permission, Scope
from workflows.order_followup import OrderFollowupWorkflow

router = APIRouter(prefix="/api/v1", tags=["orders"])


class OrderEventBody(OrderEventIn):
    event_id: str = Field(min_length=1, max_length=200, description="the sender's id; a resend is a no-op")


class EventAccepted(BaseModel):
    event_id: str
    order_no: str
    case_number: str
    duplicate: bool = Field(description="true: an event with this id was received before; nothing was done")


class OrderEventOut(BaseModel):
    event_id: str
    type: str
    payload: dict[str, Any]
    source: str
    received_at: datetime


class OrderDetail(BaseModel):
    order_no: str
    case_number: str
    case_state: str | None = Field(description="open | closed; absent for a moment after the start")
    record: dict[str, Any] = Field(description="the order follow-up record (SPEC §7, 003 §3.2)")
    events: list[OrderEventOut]


async def _order(db: AsyncSession, order_no: str) -> OrderRecord:
    record = await db.scalar(select(OrderRecord).where(OrderRecord.order_no == order_no))
    if record is None:
        raise NotFound(f"no order {order_no}")
    return record


async def _received_before(db: AsyncSession, event_id: str, order_no: str) -> bool:
    """True for an event id this order has had; 409 for one sent for another order."""
    seen = await db.scalar(select(OrderEvent.order_no).where(OrderEvent.event_id == event_id))
    if seen is not None and seen != order_no:
        raise Conflict(f"event {event_id} was sent for order {seen}")
    return seen is not None


async def receive_event(
    *, db: AsyncSession, client: Client, order_no: str, body: OrderEventBody, source: str
) -> EventAccepted:
    number = (await _order(db, order_no)).case_number
    answer = EventAccepted(event_id=body.event_id, order_no=order_no, case_number=number, duplicate=True)
    if await _received_before(db, body.event_id, order_no):
        return answer
    case = await db.get(Case, number)
    if case is not None and case.state == CaseState.CLOSED:
        raise Conflict(f"case {number} of order {order_no} is closed")
    stored = await db.scalar(
        pg_insert(OrderEvent)
        .values(
            event_id=body.event_id,
            order_no=order_no,
            case_number=number,
            type=body.type,
            payload=body.model_dump(mode="json", exclude={"event_id"}, exclude_none=True),
            source=source,
        )
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(OrderEvent.id)
    )
    if stored is None:  # the same event id, sent twice at once: the other request has it
        await _received_before(db, body.event_id, order_no)
        return answer
    try:
        await client.get_workflow_handle(number).signal(
            OrderFollowupWorkflow.order_event, ReceivedEvent(**body.model_dump(), source=source)
        )
    except RPCError as err:
        await db.rollback()
        if err.status == RPCStatusCode.NOT_FOUND:
            raise Conflict(f"case {number} of order {order_no} is closed") from None
        raise
    await db.commit()
    return answer.model_copy(update={"duplicate": False})


@router.post(
    "/orders/{order_no}/events",
    status_code=202,
    summary="Report an order event (OF-2 status, delay, OF-3 exception)",
    responses={
        200: {"description": "an event with this event_id was received before: nothing was done"},
        404: {"description": "unknown order"},
        409: {"description": "the order's case is closed, or the event_id belongs to another order"},
        422: {"description": "invalid event; `detail[].loc` names the field"},
    },
    dependencies=[Depends(require(Permission.CASES_ACT, Scope.ORDERS_EVENTS))],
)
async def post_event(
    order_no: str,
    body: OrderEventBody,
    response: Response,
    db: SessionDep,
    client: ClientDep,
    x_careflow_source: Annotated[str, Header(max_length=100)] = "api",
) -> EventAccepted:
    """Stored and handed to the order's case, which handles its events one at a time in arrival order."""
    accepted = await receive_event(
        db=db, client=client, order_no=order_no, body=body, source=x_careflow_source
    )
    if accepted.duplicate:
        response.status_code = 200
    return accepted


@router.get("/orders/{order_no}", responses={404: {"description": "unknown order"}})
async def get_order(order_no: str, db: SessionDep) -> OrderDetail:
    """The order's record, its case, and every event received for it, oldest first."""
    record = await _order(db, order_no)
    case = await db.get(Case, record.case_number)
    events = await db.scalars(
        select(OrderEvent).where(OrderEvent.order_no == order_no).order_by(OrderEvent.id)
    )
    return OrderDetail(
        order_no=order_no,
        case_number=record.case_number,
        case_state=case.state if case else None,
        record={col.key: getattr(record, col.key) for col in OrderRecord.__table__.columns},
        events=[OrderEventOut.model_validate(e, from_attributes=True) for e in events],
    )
