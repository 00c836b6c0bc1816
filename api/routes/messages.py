"""REST: /api/v1 — the notifications Careflow sent (inbox and outbox) and the editable templates (COM-2)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from activities import messages
from activities.notify import list_notifications
from api.auth import ActorDep, UserDep, require
from api.deps import SessionDep
from api.errors import Conflict, Invalid, NotFound
from api.privacy import contacts_in_clear, mask_json
from domain.permissions import Permission

router = APIRouter(prefix="/api/v1", tags=["messages"])

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "unknown template"},
    409: {"description": "a template for this purpose, channel, tier and locale exists"},
    422: {"description": "the template does not compile or render; `detail[].loc` names subject or body"},
}
EDIT = [Depends(require(Permission.POLICIES_EDIT))]  # COM-2: admins edit the templates
Channel = Literal["inbox", "email", "sms", "wechat"]
Status = Literal["pending", "sent", "failed", "skipped"]


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    key: str
    case_number: str | None
    channel: str
    recipient_role: str | None
    recipient: str | None
    purpose: str
    subject: str
    body: str
    locale: str
    status: str
    attempts: int
    error: str | None
    created_at: datetime
    sent_at: datetime | None
    read_at: datetime | None


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    total: int
    page: int
    page_size: int


class TemplateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    purpose: str
    channel: str = Field(description="inbox | email | sms | wechat | * (any)")
    tier: str = Field(description="vip | key | normal | watch | * (any)")
    locale: str
    subject: str
    body: str
    updated_at: datetime
    updated_by: str


class TemplateEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: str = Field(min_length=1, max_length=300, examples=["【升级 L{{ level }}】{{ notice.number }}"])
    body: str = Field(
        min_length=1, max_length=20000, examples=["{{ recipient.name }}，您好：\n\n{{ history }}"]
    )


class TemplateNew(TemplateEdit):
    purpose: str = Field(pattern=r"^[a-z][a-z0-9_]{1,39}$", examples=["apology"])
    channel: Literal["inbox", "email", "sms", "wechat", "*"]
    tier: Literal["*", "vip", "key", "normal", "watch"] = "*"
    locale: str = Field(default="zh-CN", pattern=r"^[a-z]{2}(-[A-Z]{2})?$")


class PreviewRequest(BaseModel):
    """Preview the saved text, or unsaved edits when subject/body are given."""

    model_config = ConfigDict(extra="forbid")
    subject: str | None = Field(default=None, max_length=300)
    body: str | None = Field(default=None, max_length=20000)


class Preview(BaseModel):
    subject: str
    body: str


@contextmanager
def _as_http() -> Iterator[None]:
    try:
        yield
    except messages.TemplateInvalid as err:
        where = f" (line {err.line})" if err.line else ""
        raise Invalid(err.field, f"{err.message}{where}") from err
    except messages.TemplateNotFound as err:
        raise NotFound(str(err)) from err
    except messages.TemplateExists as err:
        raise Conflict(str(err)) from err


@router.get("/notifications")
async def get_notifications(
    db: SessionDep,
    user: UserDep,
    channel: Channel | None = None,
    status: Status | None = None,
    recipient_role: Annotated[str | None, Query(max_length=40)] = None,
    recipient: Annotated[str | None, Query(max_length=200)] = None,
    case_number: Annotated[str | None, Query(max_length=40)] = None,
    purpose: Annotated[str | None, Query(max_length=40)] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> NotificationPage:
    """Every message the notifier wrote, newest first: inbox rows, and email/SMS/WeChat with their status.
    Customers' phones and emails (recipients, texts) are masked unless the token has customers:read (SEC-1)."""
    filters = {
        "channel": channel,
        "status": status,
        "recipient_role": recipient_role,
        "recipient": recipient,
        "case_number": case_number,
        "purpose": purpose,
    }
    rows, total = await list_notifications(db, filters=filters, page=page, page_size=page_size)
    page_out = NotificationPage(
        items=[NotificationOut.model_validate(r) for r in rows], total=total, page=page, page_size=page_size
    )
    if contacts_in_clear(user):
        return page_out
    return NotificationPage.model_validate(mask_json(page_out.model_dump(mode="json")))


@router.get("/templates")
async def get_templates(
    db: SessionDep, purpose: Annotated[str | None, Query(max_length=40)] = None
) -> list[TemplateOut]:
    """Every template, by purpose, channel, tier and locale. `*` matches any channel or tier."""
    return [TemplateOut.model_validate(r) for r in await messages.list_templates(db, purpose=purpose)]


@router.get("/templates/{template_id}", responses=ERRORS)
async def get_template(template_id: int, db: SessionDep) -> TemplateOut:
    with _as_http():
        return TemplateOut.model_validate(await messages.get_template(db, template_id))


@router.put("/templates/{template_id}", responses=ERRORS, dependencies=EDIT)
async def put_template(template_id: int, edit: TemplateEdit, db: SessionDep, actor: ActorDep) -> TemplateOut:
    """Saved only if both parts compile and render against a sample case; else 422 and nothing changes."""
    with _as_http():
        row = await messages.update_template(
            db, template_id=template_id, subject=edit.subject, body=edit.body, actor=actor
        )
        return TemplateOut.model_validate(row)


@router.post("/templates", status_code=201, responses=ERRORS, dependencies=EDIT)
async def post_template(new: TemplateNew, db: SessionDep, actor: ActorDep) -> TemplateOut:
    """A new variant, e.g. a VIP-tier or English text for an existing purpose."""
    with _as_http():
        return TemplateOut.model_validate(
            await messages.create_template(db, values=new.model_dump(), actor=actor)
        )


@router.post("/templates/{template_id}/preview", responses=ERRORS, dependencies=EDIT)
async def preview_template(
    template_id: int, db: SessionDep, request: PreviewRequest | None = None
) -> Preview:
    """The template rendered against a sample case (nothing is saved or sent)."""
    with _as_http():
        row = await messages.get_template(db, template_id)
        subject, body = messages.preview(
            purpose=row.purpose,
            subject=request.subject if request and request.subject is not None else row.subject,
            body=request.body if request and request.body is not None else row.body,
            locale=row.locale,
        )
        return Preview(subject=subject, body=body)
