"""REST: /api/v1 — who am I, API tokens (SEC-4), the audit log (SEC-2), revealing contact details (SEC-1)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.audit import AuditFilters, audit, search_audit
from api.auth import CurrentUser, UserDep, create_token, list_tokens, require, revoke_token, token_problems
from api.deps import SessionDep
from api.errors import InvalidMany, NotFound
from api.privacy import revealed_contacts
from domain.permissions import ROLE_PERMISSIONS, TOKEN_SCOPES, Permission, Scope

router = APIRouter(prefix="/api/v1", tags=["access"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "not signed in, or the API token is unknown or revoked"},
    403: {"description": "the role (or the token's scopes) does not allow this; CSRF header missing"},
}
TokenAdmin = Annotated[CurrentUser, Depends(require(Permission.TOKENS_MANAGE))]


class Me(BaseModel):
    username: str
    display_name: str
    role: str | None
    kind: str = Field(description="user | token")
    timezone: str
    permissions: list[str]
    scopes: list[str] = Field(description="a token's scopes; empty for a signed-in user")


@router.get("/me", responses=ERRORS, summary="Who is asking, and what they may do")
async def me(user: UserDep) -> Me:
    if user.is_token:
        permissions = sorted(p.value for p, s in TOKEN_SCOPES.items() if s in user.scopes)
    else:
        permissions = sorted(p.value for p in ROLE_PERMISSIONS.get(user.role, frozenset()))  # type: ignore[call-overload]
    return Me(
        username=user.username,
        display_name=user.display_name,
        role=user.role or None,
        kind=user.kind,
        timezone=user.timezone,
        permissions=permissions,
        scopes=sorted(user.scopes),
    )


# -- tokens -------------------------------------------------------------------------------------------------


class TokenIn(BaseModel):
    name: str = Field(max_length=100, description="who uses it, e.g. the calling system: erp, shop")
    scopes: list[Scope] = Field(min_length=1)


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    prefix: str = Field(description="the secret's first characters, to tell tokens apart")
    scopes: list[str]
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewToken(TokenOut):
    token: str = Field(description="the secret: send it as `Authorization: Bearer …`; shown only here, once")


@router.get("/tokens", responses=ERRORS, summary="API tokens (admins)")
async def get_tokens(db: SessionDep, _admin: TokenAdmin) -> list[TokenOut]:
    return [TokenOut.model_validate(t) for t in await list_tokens(db)]


@router.post(
    "/tokens",
    status_code=201,
    responses={**ERRORS, 422: {"description": "no name, a taken name, or no scope"}},
    summary="Create an API token; the answer holds its secret, once",
)
async def post_token(body: TokenIn, request: Request, db: SessionDep, admin: TokenAdmin) -> NewToken:
    name = body.name.strip()
    problems = await token_problems(db, name, [s.value for s in body.scopes])
    if problems:
        raise InvalidMany([([field], message) for field, message in problems.items()])
    row, secret = await create_token(db, name=name, scopes=body.scopes, created_by=admin.display_name)
    await audit(db, request, None, "token.create", f"token:{row.id}", {"name": name, "scopes": row.scopes})
    await db.commit()
    return NewToken(**TokenOut.model_validate(row).model_dump(), token=secret)


@router.delete(
    "/tokens/{token_id}",
    status_code=204,
    responses={**ERRORS, 404: {"description": "unknown token"}},
    summary="Revoke an API token (it answers 401 from now on; the row is kept for the audit)",
)
async def delete_token(token_id: int, request: Request, db: SessionDep, _admin: TokenAdmin) -> Response:
    row = await revoke_token(db, token_id)
    if row is None:
        raise NotFound(f"no token {token_id}")
    await audit(db, request, None, "token.revoke", f"token:{row.id}", {"name": row.name})
    await db.commit()
    return Response(status_code=204)


# -- audit --------------------------------------------------------------------------------------------------


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    at: datetime
    actor: str
    actor_kind: str
    action: str
    target: str
    detail: dict[str, Any]
    ip: str | None
    user_agent: str | None


class AuditPage(BaseModel):
    items: list[AuditOut]
    total: int
    page: int
    page_size: int


@router.get("/audit", responses=ERRORS, summary="Search the audit log (SEC-2), newest first")
async def get_audit(
    db: SessionDep,
    _reader: Annotated[CurrentUser, Depends(require(Permission.AUDIT_READ))],
    actor: Annotated[str | None, Query(max_length=100, description="part of the name")] = None,
    action: Annotated[str | None, Query(max_length=100, description="prefix, e.g. contacts.")] = None,
    target: Annotated[str | None, Query(max_length=300, description="part, e.g. customer:42")] = None,
    since: Annotated[datetime | None, Query(description="from this instant")] = None,
    until: Annotated[datetime | None, Query(description="before this instant")] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> AuditPage:
    filters = AuditFilters(actor=actor, action=action, target=target, since=since, until=until)
    rows, total = await search_audit(db, filters, page=page, page_size=page_size)
    return AuditPage(
        items=[AuditOut.model_validate(r) for r in rows], total=total, page=page, page_size=page_size
    )


# -- reveal -------------------------------------------------------------------------------------------------


class ContactsOut(BaseModel):
    customer_id: int
    name: str
    phone: str | None
    email: str | None
    contacts: list[dict[str, Any]]


@router.post(
    "/customers/{customer_id}/reveal",
    responses={**ERRORS, 404: {"description": "unknown customer"}},
    summary="A customer's phone, email and contacts in clear (audited)",
)
async def reveal(
    customer_id: int,
    request: Request,
    db: SessionDep,
    _user: Annotated[CurrentUser, Depends(require(Permission.CONTACTS_REVEAL))],
) -> ContactsOut:
    """SEC-1: for staff whose role may see contact details (a token: the scope customers:read). Every call
    is written to the audit log (SEC-2) with who, when and which customer."""
    shown = await revealed_contacts(db, customer_id)
    await audit(db, request, None, "contacts.reveal", f"customer:{customer_id}", {"fields": shown.fields()})
    await db.commit()
    return ContactsOut(
        customer_id=shown.customer_id,
        name=shown.name,
        phone=shown.phone,
        email=shown.email,
        contacts=shown.contacts,
    )
