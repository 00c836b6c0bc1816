"""Customer records (C-1..C-5): create, upsert by external id, read, edit and search. The REST routes and
the staff pages both call these; a record leaves here without its ID or bank card hashes (SEC-3)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError
from sqlalchemy import ColumnElement, Select, String, cast, exists, func, literal_column, or_, select, tuple_
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import Invalid, NotFound
from api.i18n import N_
from db.models import Customer
from domain.customers import CustomerProfile, ProfilePatch, column_values
from domain.models import Contact

# The field a profile's "no way to reach the customer" error is shown at.
REACH_FIELD = "phone"
REACH_MESSAGE = N_("请至少填写手机号或邮箱之一")
# The profile's own messages (domain/customers.py, which marks nothing for translation), marked here so the
# catalog words them in English on the customer form; the API answers them in Chinese.
PROFILE_MESSAGES = (N_("手机号格式不正确(应为 11 位大陆手机号,如 13812345678)"), N_("邮箱格式不正确"))


class CustomerIn(CustomerProfile):
    """``CustomerProfile`` whose one whole-record rule (a way to reach the customer, C-3) names a field."""

    @model_validator(mode="wrap")
    @classmethod
    def _name_the_field(cls, data: Any, handler: Any) -> Any:
        try:
            return handler(data)
        except ValidationError as err:
            # Whole-record rules run only once every field is valid, so such an error comes alone.
            if any(e["loc"] for e in err.errors()):
                raise
            detail = InitErrorDetails(
                type=PydanticCustomError("value_error", err.errors()[0]["msg"].removeprefix("Value error, ")),
                loc=(REACH_FIELD,),
                input=data,
            )
            raise ValidationError.from_exception_data(cls.__name__, [detail]) from None


class PatchIn(ProfilePatch):
    """``ProfilePatch``: a record keeps its type and name, so an edit cannot clear them."""

    @field_validator("type", "name")
    @classmethod
    def _kept(cls, value: Any) -> Any:
        if value is None:
            raise ValueError(N_("必填"))
        return value


class CustomerOut(BaseModel):
    """A customer record as the API answers it: never a hash, only the last 4 digits of ID and bank cards."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    type: str
    name: str
    phone: str | None
    email: str | None
    contacts: list[Contact]
    industry: str | None
    region: str | None
    scale: str | None
    needs: dict[str, Any]
    first_contact: str | None
    preferred_channel: str | None
    expected_response_hours: int | None
    birthday: date | None
    anniversary: date | None
    contract_end: date | None
    owner: str | None
    tags: list[str]
    tier: str
    potential: str | None
    locale: str
    notes: str
    referred_by: int | None
    source: str | None
    external_id: str | None
    verified_at: datetime | None
    verified_by: str | None
    merged_into: int | None
    lifecycle: str
    last_interaction_at: datetime | None
    id_card_last4: str | None
    bank_card_last4: str | None
    created_at: datetime
    updated_at: datetime


class CustomerPage(BaseModel):
    items: list[CustomerOut]
    total: int
    page: int
    page_size: int


class Upserted(BaseModel):
    customer: CustomerOut
    created: bool
    changed: bool


# Columns that always hold a value: clearing one puts back its default.
_DEFAULTS = {"notes": "", "locale": "zh-CN"}


def _columns(profile: ProfilePatch | CustomerProfile, key: bytes) -> dict[str, Any]:
    values = column_values(profile, key)
    return {k: _DEFAULTS[k] if v is None and k in _DEFAULTS else v for k, v in values.items()}


async def get(*, db: AsyncSession, customer_id: int) -> Customer:
    customer = await db.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"no customer {customer_id}")
    return customer


async def create(*, db: AsyncSession, profile: CustomerProfile, key: bytes) -> Customer:
    """A new record; it starts unverified (C-3 review) and active (C-5)."""
    customer = Customer(**_columns(profile, key))
    db.add(customer)
    await db.commit()
    await db.refresh(customer)
    return customer


async def upsert(
    *, db: AsyncSession, source: str, external_id: str, profile: CustomerProfile, key: bytes
) -> Upserted:
    """C-2: another system's record by its own id. The fields sent replace ours, the others stay; sending
    the same record again writes nothing (not even ``updated_at``)."""
    values = _columns(profile, key)
    insert = pg_insert(Customer).values(source=source, external_id=external_id, **values)
    table = Customer.__table__
    names = sorted(values)
    upserted = insert.on_conflict_do_update(
        constraint="customers_source_external_id_key",
        set_={**{n: insert.excluded[n] for n in names}, "updated_at": func.now()},
        where=tuple_(*(table.c[n] for n in names)).is_distinct_from(
            tuple_(*(insert.excluded[n] for n in names))
        ),
    ).returning(Customer.id, literal_column("xmax = 0").label("created"))
    row = (await db.execute(upserted)).one_or_none()
    await db.commit()
    if row is None:  # on file and unchanged
        customer = await db.scalar(
            select(Customer).where(Customer.source == source, Customer.external_id == external_id)
        )
        assert customer is not None
        return Upserted(customer=CustomerOut.model_validate(customer), created=False, changed=False)
    customer = await get(db=db, customer_id=row.id)
    await db.refresh(customer)
    return Upserted(customer=CustomerOut.model_validate(customer), created=row.created, changed=True)


async def edit(*, db: AsyncSession, customer: Customer, patch: ProfilePatch, key: bytes) -> Customer:
    """Only the fields given change; the record must stay reachable (C-3)."""
    values = _columns(patch, key)
    after = {n: values.get(n, getattr(customer, n)) for n in ("phone", "email", "contacts")}
    if not (
        after["phone"] or after["email"] or any(c.get("phone") or c.get("email") for c in after["contacts"])
    ):
        raise Invalid(REACH_FIELD, REACH_MESSAGE)
    for name, value in values.items():
        setattr(customer, name, value)
    await db.commit()
    await db.refresh(customer)
    return customer


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _matches(q: str) -> ColumnElement[bool]:
    """C-4 search: the name, phone or email of the record or of any contact in its decision chain."""
    pattern = _like(q.strip())
    contact = func.jsonb_array_elements(Customer.contacts).table_valued("value").alias("contact")
    in_contacts = exists(
        select(1)
        .select_from(contact)
        .where(
            or_(
                *(
                    cast(contact.c.value.op("->>")(field), String).ilike(pattern)
                    for field in ("name", "phone", "email")
                )
            )
        )
    )
    return or_(
        Customer.name.ilike(pattern),
        Customer.phone.ilike(pattern),
        Customer.email.ilike(pattern),
        in_contacts,
    )


def search_query(filters: dict[str, Any]) -> Select[tuple[Customer]]:
    """Records on file (not the ones merged into another) matching every filter given."""
    query = select(Customer).where(Customer.merged_into.is_(None))
    if filters.get("q"):
        query = query.where(_matches(filters["q"]))
    if filters.get("tag"):
        query = query.where(Customer.tags.op("@>")(cast([filters["tag"]], JSONB)))
    for name in ("tier", "lifecycle", "owner", "type"):
        if filters.get(name):
            query = query.where(getattr(Customer, name) == filters[name])
    if filters.get("verified") is not None:
        verified = Customer.verified_at.is_not(None)
        query = query.where(verified if filters["verified"] else ~verified)
    return query


async def search(*, db: AsyncSession, filters: dict[str, Any], page: int, page_size: int) -> CustomerPage:
    query = search_query(filters)
    total = await db.scalar(select(func.count()).select_from(query.subquery()))
    rows = await db.scalars(
        query.order_by(Customer.id.desc()).limit(page_size).offset((page - 1) * page_size)
    )
    return CustomerPage(
        items=[CustomerOut.model_validate(r) for r in rows], total=total or 0, page=page, page_size=page_size
    )


async def tags_in_use(db: AsyncSession) -> list[str]:
    found = await db.scalars(select(func.jsonb_array_elements_text(Customer.tags)).distinct())
    return sorted(found)


async def owners(db: AsyncSession) -> list[str]:
    found = await db.scalars(select(Customer.owner).where(Customer.owner.is_not(None)).distinct())
    return sorted(found)
