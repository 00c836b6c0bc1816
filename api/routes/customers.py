"""REST: /api/v1/customers — create, upsert by external id (C-2), search (C-4), read, edit, timeline (C-6)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from api import customers
from api.audit import audit
from api.auth import UserDep, require
from api.customer_timeline import TimelineEntry, timeline
from api.customers import CustomerIn, CustomerOut, CustomerPage, PatchIn
from api.deps import SessionDep, SettingsDep
from api.privacy import contacts_in_clear, mask_json
from domain.customers import Lifecycle
from domain.models import CustomerType, Tier
from domain.permissions import Permission

router = APIRouter(prefix="/api/v1", tags=["customers"])

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "unknown customer"},
    422: {"description": "invalid input; `detail[].loc` names the field"},
}
# Path ids are digits only (`:int`): /customers/imports, /customers/duplicates … are other routes.
ONE = "/customers/{customer_id:int}"
EDIT = [Depends(require(Permission.CUSTOMERS_EDIT))]


async def _shown(value: Any, db: SessionDep, request: Request, user: UserDep, target: str) -> Any:
    """SEC-1: phones and emails masked, unless an API token with customers:read reads them (audited, SEC-2);
    staff see them in clear only through the audited reveal."""
    if not contacts_in_clear(user):
        return type(value).model_validate(mask_json(value.model_dump(mode="json")))
    await audit(db, request, None, "contacts.read", target)
    await db.commit()
    return value


@router.post(
    "/customers",
    status_code=201,
    responses=ERRORS,
    dependencies=EDIT,
    summary="Create a customer record (C-1, C-2)",
)
async def create_customer(body: CustomerIn, db: SessionDep, settings: SettingsDep) -> CustomerOut:
    """A new record, unverified until reviewed (C-3). `id_card` / `bank_card` are stored as a keyed hash and
    the last 4 digits only (SEC-3)."""
    created = await customers.create(db=db, profile=body, key=settings.signing_key().encode())
    return CustomerOut.model_validate(created)


@router.put(
    "/customers/external/{source}/{external_id}",
    responses={
        200: {"description": "on file: updated with the fields sent, or unchanged"},
        201: {"description": "created"},
        **ERRORS,
    },
    dependencies=EDIT,
    summary="Create or update a customer by another system's id (C-2)",
)
async def upsert_customer(
    source: Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_.\-]{0,39}$", examples=["ecommerce"])],
    external_id: Annotated[str, Path(min_length=1, max_length=100)],
    body: CustomerIn,
    response: Response,
    db: SessionDep,
    settings: SettingsDep,
) -> CustomerOut:
    """Idempotent: e-commerce order sync and website forms send their record as often as they like. The
    fields sent replace ours, fields left out keep their value, and an identical resend writes nothing."""
    result = await customers.upsert(
        db=db, source=source, external_id=external_id, profile=body, key=settings.signing_key().encode()
    )
    response.status_code = 201 if result.created else 200
    return result.customer


@router.get("/customers", summary="Search customers (C-4)")
async def search_customers(
    db: SessionDep,
    request: Request,
    user: UserDep,
    q: Annotated[
        str | None, Query(max_length=200, description="name, phone or email, also of contacts")
    ] = None,
    tag: Annotated[str | None, Query(max_length=60)] = None,
    tier: Tier | None = None,
    lifecycle: Lifecycle | None = None,
    owner: Annotated[str | None, Query(max_length=100)] = None,
    type: CustomerType | None = None,
    verified: bool | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CustomerPage:
    """Records on file (a record merged into another is left out), newest first."""
    filters = {
        "q": q,
        "tag": tag,
        "tier": tier,
        "lifecycle": lifecycle,
        "owner": owner,
        "type": type,
        "verified": verified,
    }
    found = await customers.search(db=db, filters=filters, page=page, page_size=page_size)
    return await _shown(found, db, request, user, "customers:search")


@router.get(ONE, responses=ERRORS, summary="One customer record")
async def get_customer(customer_id: int, db: SessionDep, request: Request, user: UserDep) -> CustomerOut:
    """A record merged into another still answers, with `merged_into` naming the one it went into. Phones
    and emails are masked unless an API token has customers:read (SEC-1)."""
    found = CustomerOut.model_validate(await customers.get(db=db, customer_id=customer_id))
    return await _shown(found, db, request, user, f"customer:{customer_id}")


@router.patch(ONE, responses=ERRORS, dependencies=EDIT, summary="Edit a customer record")
async def edit_customer(
    customer_id: int, body: PatchIn, db: SessionDep, settings: SettingsDep
) -> CustomerOut:
    """Only the fields sent change; `null` clears an optional field. The record must keep a phone, an email
    or a contact with one (422 naming `phone`)."""
    customer = await customers.get(db=db, customer_id=customer_id)
    edited = await customers.edit(db=db, customer=customer, patch=body, key=settings.signing_key().encode())
    return CustomerOut.model_validate(edited)


@router.get(ONE + "/timeline", responses=ERRORS, summary="Every interaction with the customer (C-6)")
async def customer_timeline(
    customer_id: int, db: SessionDep, limit: Annotated[int, Query(ge=1, le=1000)] = 200
) -> list[TimelineEntry]:
    """Cases opened and closed, staff contacts, orders and repurchases, satisfaction answers and callbacks,
    pushes and responses to them, messages sent; newest first."""
    await customers.get(db=db, customer_id=customer_id)
    return mask_json([e.model_dump(mode="json") for e in await timeline(db, customer_id, limit=limit)])
