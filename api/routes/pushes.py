"""REST: value-added push campaigns (VP-1..VP-3) — start and read campaigns with their live figures, the
tag → service table (VP-2), the tracked links of each push, and inquiry/conversion reports (VP-3)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from activities import campaigns
from api import services
from api.auth import ActorDep, require
from api.deps import ClientDep, SessionDep, SettingsDep
from api.errors import Conflict, Invalid, NotFound
from api.schemas import StartedCase, start_request_model
from config import Settings
from db.models import Case
from db.pushes import PushRecord
from domain.models import Process
from domain.permissions import Permission
from domain.value_push import (
    RESPONSE_TARGET,
    PushMetrics,
    PushType,
    TagService,
    TagServiceRow,
    ValuePushIntake,
)

router = APIRouter(tags=["pushes"])
CAMPAIGNS = [Depends(require(Permission.CAMPAIGNS))]  # VP: start campaigns, edit the tag → service table

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "unknown campaign, push token or service row"},
    409: {"description": "the push's effect window has closed, or the tag has a service already"},
    422: {"description": "invalid input; `detail[].loc` names the field"},
}
# The smallest transparent GIF: the open pixel's answer.
PIXEL = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
PushStartRequest = start_request_model(Process.VALUE_PUSH, ValuePushIntake)


class CampaignOut(BaseModel):
    """A campaign's push record (SPEC §7, 003 §3.5) with its figures as of now (final once measured)."""

    number: str
    push_type: str
    tag: str
    service: str
    link: str | None
    channel: str | None = Field(description="empty: each customer's preferred channel")
    tiers: list[str]
    owner: str | None
    state: str
    current_step: str | None
    outcome: str | None
    opened_at: datetime
    closed_at: datetime | None
    pushed_at: datetime | None
    window_ends_at: datetime | None = Field(description="VP-3: the effect window closes")
    capped: int = Field(description="R-6: customers skipped because they were pushed recently")
    measured: bool = Field(description="the window has closed: the figures are the push record's")
    metrics: PushMetrics
    response_target: float = RESPONSE_TARGET
    improvement_note: str | None
    decision: str | None


class CampaignDetail(CampaignOut):
    channels: dict[str, int] = Field(description="deliveries per channel")
    case_url: str
    temporal_ui: str


class CampaignPage(BaseModel):
    items: list[CampaignOut]
    total: int
    page: int
    page_size: int


class DeliveryOut(BaseModel):
    number: str
    customer_id: int
    channel: str
    sent_at: datetime
    opened_at: datetime | None
    clicked_at: datetime | None
    inquired_at: datetime | None
    converted_at: datetime | None


def campaign_out(record: PushRecord, case: Case, metrics: PushMetrics | None) -> dict[str, Any]:
    return {
        **{k: getattr(record, k) for k in ("push_type", "tag", "service", "link", "channel", "owner")},
        **{k: getattr(record, k) for k in ("pushed_at", "window_ends_at", "capped", "improvement_note")},
        "tiers": list(record.tiers or []),
        "decision": record.decision,
        "number": case.number,
        "state": case.state,
        "current_step": case.current_step,
        "outcome": case.outcome,
        "opened_at": case.opened_at,
        "closed_at": case.closed_at,
        "measured": record.metrics_at is not None,
        "metrics": metrics or PushMetrics(),
    }


async def campaign_page(
    db: AsyncSession, *, push_type: str | None, page: int, page_size: int
) -> CampaignPage:
    rows, total = await campaigns.list_campaigns(db, push_type=push_type, page=page, page_size=page_size)
    metrics = await campaigns.metrics_for(db, [case.number for _, case in rows])
    items = [CampaignOut(**campaign_out(r, c, metrics.get(c.number))) for r, c in rows]
    return CampaignPage(items=items, total=total, page=page, page_size=page_size)


async def campaign_detail(db: AsyncSession, settings: Settings, number: str) -> CampaignDetail:
    record = await db.get(PushRecord, number)
    case = await db.get(Case, number)
    if record is None or case is None:
        raise NotFound(f"no campaign {number}")
    metrics = (await campaigns.metrics_for(db, [number])).get(number)
    return CampaignDetail(
        **campaign_out(record, case, metrics),
        channels=await campaigns.channel_counts(db, number),
        case_url=f"/api/v1/cases/{number}",
        temporal_ui=services.temporal_ui_link(settings, number),
    )


async def start_campaign(
    *, db: AsyncSession, client: Client, settings: Settings, body: BaseModel, key: str | None, actor: str
) -> StartedCase:
    unknown = await campaigns.unknown_customers(db, list(getattr(body, "customer_ids", [])))
    if unknown:
        raise Invalid("customer_ids", f"no customer {', '.join(map(str, unknown))}")
    return await services.start_case(
        db=db,
        client=client,
        settings=settings,
        process=Process.VALUE_PUSH,
        body=body,
        idempotency_key=key,
        actor=actor,
    )


# -- campaigns ----------------------------------------------------------------------------------------------


@router.get("/api/v1/pushes")
async def list_campaigns(
    db: SessionDep,
    push_type: PushType | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CampaignPage:
    """Campaigns, newest first, with the push record's columns and their figures as of now (VP-3)."""
    return await campaign_page(db, push_type=push_type, page=page, page_size=page_size)


@router.post(
    "/api/v1/pushes",
    status_code=201,
    responses={200: {"description": "started before"}, **ERRORS},
    dependencies=CAMPAIGNS,
)
async def start(
    body: PushStartRequest,  # type: ignore[valid-type]
    response: Response,
    db: SessionDep,
    client: ClientDep,
    settings: SettingsDep,
    actor: ActorDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> StartedCase:
    """Starts a campaign (a value_push case): push ``service`` to everyone tagged ``tag`` (or to
    ``customer_ids``) in ``tiers``, each on their preferred channel unless ``channel`` is set."""
    started = await start_campaign(
        db=db, client=client, settings=settings, body=body, key=idempotency_key, actor=actor
    )
    response.status_code = 201 if started.created else 200
    return started


@router.get("/api/v1/pushes/{number}", responses=ERRORS)
async def get_campaign(number: str, db: SessionDep, settings: SettingsDep) -> CampaignDetail:
    return await campaign_detail(db, settings, number)


async def _respond(db: AsyncSession, token: str, what: Literal["inquiry", "conversion"]) -> DeliveryOut:
    try:
        delivery = await campaigns.record_response(db, token, what, datetime.now(UTC))
    except campaigns.WindowClosed as err:
        raise Conflict(str(err)) from None
    if delivery is None:
        raise NotFound("no push with this token")
    stamps = ("customer_id", "channel", "sent_at", "opened_at", "clicked_at", "inquired_at", "converted_at")
    return DeliveryOut(number=delivery.case_number, **{k: getattr(delivery, k) for k in stamps})


@router.post("/api/v1/pushes/{token}/inquiry", responses=ERRORS)
async def report_inquiry(token: str, db: SessionDep) -> DeliveryOut:
    """The customer of this push asked about the service (VP-3), e.g. from the landing page's form."""
    return await _respond(db, token, "inquiry")


@router.post("/api/v1/pushes/{token}/conversion", responses=ERRORS)
async def report_conversion(token: str, db: SessionDep) -> DeliveryOut:
    """The customer of this push took the service up (VP-3), e.g. from the shop's order hook."""
    return await _respond(db, token, "conversion")


# -- the tag → service table (VP-2) -------------------------------------------------------------------------


@router.get("/api/v1/push-services")
async def list_services(db: SessionDep) -> list[TagServiceRow]:
    return await campaigns.list_services(db)


async def save_service(
    db: AsyncSession, service_id: int | None, body: TagService, actor: str
) -> TagServiceRow:
    try:
        row = await campaigns.save_service(db, service_id=service_id, body=body, actor=actor)
    except campaigns.DuplicateService as err:
        raise Conflict(str(err)) from None
    if row is None:
        raise NotFound(f"no service row {service_id}")
    return row


@router.post("/api/v1/push-services", status_code=201, responses=ERRORS, dependencies=CAMPAIGNS)
async def add_service(body: TagService, db: SessionDep, actor: ActorDep) -> TagServiceRow:
    return await save_service(db, None, body, actor)


@router.put("/api/v1/push-services/{service_id}", responses=ERRORS, dependencies=CAMPAIGNS)
async def update_service(service_id: int, body: TagService, db: SessionDep, actor: ActorDep) -> TagServiceRow:
    return await save_service(db, service_id, body, actor)


# -- tracked links in the pushed message --------------------------------------------------------------------


@router.get("/t/o/{token}.gif", include_in_schema=False)
async def open_pixel(token: str, db: SessionDep) -> Response:
    if not await campaigns.track_open(db, token, datetime.now(UTC)):
        raise NotFound("no push with this token")
    return Response(PIXEL, media_type="image/gif", headers={"Cache-Control": "no-store"})


@router.get("/t/c/{token}", include_in_schema=False)
async def click(token: str, db: SessionDep) -> RedirectResponse:
    link = await campaigns.track_click(db, token, datetime.now(UTC))
    if link is None:
        raise NotFound("no push with this token")
    return RedirectResponse(link, status_code=302)
