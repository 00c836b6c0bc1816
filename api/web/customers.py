"""Staff web pages (zh-CN and English) for customer records: search (C-4), new and edit forms (C-1, C-2 staff intake),
and the customer page with its timeline (C-6) and the optional panels other features add."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from api import customers
from api.audit import audit
from api.auth import require
from api.customer_timeline import timeline
from api.customers import CustomerIn, PatchIn
from api.deps import SessionDep, SettingsDep
from api.errors import Invalid
from api.i18n import N_, display_qualified_label, gettext
from api.web.customer_panels import TEMPLATES as PANEL_TEMPLATES
from api.web.customer_panels import panels
from api.web.forms import message
from api.web.pages import _render, use_locale
from db.models import Customer
from domain.customers import FirstContact, Lifecycle
from domain.models import Channel, CustomerType, Tier
from domain.permissions import Permission

EDIT = [Depends(require(Permission.CUSTOMERS_EDIT))]
router = APIRouter(include_in_schema=False)
PAGE_SIZE = 30

# Staff separate tags with commas (half- or full-width), 、 or spaces.
_TAG_SEPARATORS = re.compile(r"[,，、\s]+")
# The decision chain (C-1): who a contact is in the customer's organisation.
CONTACT_ROLES = ("contact", "decision_maker", "influencer", "purchaser", "user")
CONTACT_FIELDS = ("name", "role", "phone", "email")
CONTACT_ROWS = 3  # at least this many contact rows on the form, and always one empty row
NEEDS = ("core_need", "budget_range", "product_preference")
SENSITIVE = ("id_card", "bank_card")  # write-only: left blank, what is on file stays
CHANNELS = (Channel.EMAIL, Channel.SMS, Channel.WECHAT, Channel.APP, Channel.PHONE)

_DATE = N_("请填写有效日期（如 2024-05-01）")
# Pydantic error types the shared catalog (api/web/forms.py) does not word, for these fields.
_MESSAGES = {
    "date_parsing": _DATE,
    "date_from_datetime_parsing": _DATE,
    "date_from_datetime_inexact": _DATE,
    "string_pattern_mismatch": N_("格式不正确"),
    "greater_than_equal": N_("应不小于 {ge}"),
    "less_than_equal": N_("应不大于 {le}"),
}


def customer_label(name: str) -> str:
    """A customer field's label: ``Customer.<name>`` where the plain word means something else elsewhere."""
    return display_qualified_label([f"Customer.{name}"], name)


@dataclass(frozen=True)
class Choices:
    """A select's (value, label) options, labelled in the request's language each time a page lists them."""

    prefix: str
    values: tuple[str, ...]
    blank: bool = True

    def __iter__(self) -> Iterator[tuple[str, str]]:
        if self.blank:
            yield ("", "—")
        for v in self.values:
            yield (v, display_qualified_label([f"{self.prefix}.{v}"], v))


def _choices(prefix: str, values: list[str], blank: bool = True) -> Choices:
    return Choices(prefix, tuple(values), blank)


@dataclass
class Input:
    name: str
    kind: str = "text"  # text | textarea | select | date | number | secret
    required: bool = False
    options: Iterable[tuple[str, str]] = ()
    help: str = ""  # a message (N_), shown translated

    @property
    def label(self) -> str:
        return customer_label(self.name)


# The C-1 profile, in the order the form shows it; contacts, needs and tags have their own blocks.
SECTIONS: list[tuple[str, list[Input]]] = [
    (
        "basic",
        [
            Input(
                "type", "select", True, _choices("CustomerType", [t.value for t in CustomerType], blank=False)
            ),
            Input("name", required=True),
            Input("phone", help=N_("11 位大陆手机号")),
            Input("email"),
            Input("industry"),
            Input("region"),
            Input("scale", help=N_("如 50-200 人")),
            Input("potential", "select", options=_choices("Potential", ["high", "medium", "low"])),
        ],
    ),
    (
        "service",
        [
            Input(
                "first_contact", "select", options=_choices("FirstContact", [f.value for f in FirstContact])
            ),
            Input("preferred_channel", "select", options=_choices("Channel", [c.value for c in CHANNELS])),
            Input("expected_response_hours", "number"),
            Input("locale", "select", options=[("zh-CN", "简体中文"), ("en", "English")]),
            Input("owner", help=N_("客户经理的登录名")),
        ],
    ),
    (
        "dates",
        [Input("birthday", "date"), Input("anniversary", "date"), Input("contract_end", "date")],
    ),
    (
        "sensitive",
        [
            Input("id_card", "secret", help=N_("仅保存加密摘要与末 4 位；留空则不变")),
            Input("bank_card", "secret", help=N_("仅保存加密摘要与末 4 位；留空则不变")),
        ],
    ),
    ("other", [Input("notes", "textarea")]),
]
_SCALARS = [i for _, inputs in SECTIONS for i in inputs if i.kind != "secret"]


def _form_values(customer: Customer) -> dict[str, str]:
    """A record as the edit form's strings."""
    form: dict[str, str] = {}
    for i in _SCALARS:
        value = getattr(customer, i.name)
        form[i.name] = "" if value is None else str(value)
    for key in NEEDS:
        form[f"needs.{key}"] = str((customer.needs or {}).get(key) or "")
    form["tags"] = "，".join(customer.tags or [])
    for n, contact in enumerate(customer.contacts or []):
        for key in CONTACT_FIELDS:
            form[f"contacts.{n}.{key}"] = str(contact.get(key) or "")
    return form


def _contact_rows(form: dict[str, str]) -> int:
    used = {int(m.group(1)) for k in form if (m := re.match(r"contacts\.(\d+)\.", k))}
    filled = [
        n for n in used if any(form.get(f"contacts.{n}.{k}", "").strip() for k in ("name", "phone", "email"))
    ]
    return max(CONTACT_ROWS, max(filled, default=-1) + 2)


def _parse(form: dict[str, str]) -> dict[str, Any]:
    """Form strings to a profile: blanks are "not given", tags split on separators, a contact row counts
    once it has a name, phone or email. Every profile field is present, so an edit clears what was blanked."""
    data: dict[str, Any] = {i.name: form.get(i.name, "").strip() or None for i in _SCALARS}
    data["notes"] = data["notes"] or ""
    data["locale"] = data["locale"] or "zh-CN"
    needs = {key: form.get(f"needs.{key}", "").strip() or None for key in NEEDS}
    data["needs"] = needs if any(needs.values()) else None
    data["tags"] = [t for t in _TAG_SEPARATORS.split(form.get("tags", "")) if t]
    contacts = []
    for n in range(_contact_rows(form)):
        row = {key: form.get(f"contacts.{n}.{key}", "").strip() for key in CONTACT_FIELDS}
        if any(row[key] for key in ("name", "phone", "email")):
            # A blank name stays "" so the row shows 必填 at its name.
            contacts.append(
                {
                    **{k: v or None for k, v in row.items()},
                    "name": row["name"],
                    "role": row["role"] or "contact",
                }
            )
    data["contacts"] = contacts
    for name in SENSITIVE:
        if form.get(name, "").strip():
            data[name] = form[name].strip()
    return data


def _by_field(err: ValidationError) -> dict[str, str]:
    """Errors keyed by the form's input names (``needs.core_need``, ``contacts.1.name``)."""
    out: dict[str, str] = {}
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "__all__"
        template = _MESSAGES.get(e["type"])
        out.setdefault(loc, gettext(template).format(**e.get("ctx", {})) if template else message(e, gettext))
    return out


def _form_page(request: Request, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("errors", {})
    form = context["form"]
    return _render(
        request,
        "customer_form.html",
        status,
        sections=SECTIONS,
        needs=NEEDS,
        rows=_contact_rows(form),
        roles=_choices("ContactRole", list(CONTACT_ROLES), blank=False),
        label=customer_label,
        **context,
    )


@router.get("/customers", response_class=HTMLResponse)
async def customer_list(
    request: Request,
    db: SessionDep,
    q: str = "",
    tag: str = "",
    tier: str = "",
    lifecycle: str = "",
    owner: str = "",
    verified: str = "",
    page: int = 1,
) -> HTMLResponse:
    filters: dict[str, Any] = {
        "q": q[:200],
        "tag": tag[:60],
        "tier": tier if tier in set(Tier) else "",
        "lifecycle": lifecycle if lifecycle in set(Lifecycle) else "",
        "owner": owner[:100],
        "verified": {"yes": True, "no": False}.get(verified),
    }
    result = await customers.search(db=db, filters=filters, page=max(page, 1), page_size=PAGE_SIZE)
    return _render(
        request,
        "customer_list.html",
        result=result,
        filters={**filters, "verified": verified if verified in ("yes", "no") else ""},
        tiers=[t.value for t in Tier],
        lifecycles=[s.value for s in Lifecycle],
        tags=await customers.tags_in_use(db),
        owners=await customers.owners(db),
    )


@router.get("/customers/new", response_class=HTMLResponse, dependencies=EDIT)
async def new_form(request: Request) -> HTMLResponse:
    return _form_page(request, customer=None, form={"type": "individual", "locale": "zh-CN"})


@router.post("/customers/new", response_class=HTMLResponse, dependencies=EDIT)
async def create(request: Request, db: SessionDep, settings: SettingsDep) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    use_locale(request)  # the error messages
    try:
        profile = CustomerIn.model_validate(_parse(form))
    except ValidationError as err:
        return _form_page(request, 422, customer=None, form=form, errors=_by_field(err))
    created = await customers.create(db=db, profile=profile, key=settings.signing_key().encode())
    return RedirectResponse(f"/customers/{created.id}", status_code=303)


@router.get("/customers/{customer_id:int}", response_class=HTMLResponse)
async def customer_page(request: Request, customer_id: int, db: SessionDep, saved: int = 0) -> HTMLResponse:
    customer = await customers.get(db=db, customer_id=customer_id)
    panel_context = await panels(db, customer_id)
    return _render(
        request,
        "customer.html",
        **{
            **panel_context,
            "customer": customer,
            "timeline": await timeline(db, customer_id),
            "panel_templates": PANEL_TEMPLATES,
            "label": customer_label,
            "saved": bool(saved),
        },
    )


@router.get("/customers/{customer_id:int}/edit", response_class=HTMLResponse, dependencies=EDIT)
async def edit_form(request: Request, customer_id: int, db: SessionDep) -> HTMLResponse:
    customer = await customers.get(db=db, customer_id=customer_id)
    # The form shows the contact details in clear to edit them: that is a reveal (SEC-1, SEC-2).
    await audit(db, request, None, "contacts.reveal", f"customer:{customer_id}", {"via": "edit form"})
    await db.commit()
    return _form_page(request, customer=customer, form=_form_values(customer))


@router.post("/customers/{customer_id:int}/edit", response_class=HTMLResponse, dependencies=EDIT)
async def save(request: Request, customer_id: int, db: SessionDep, settings: SettingsDep) -> Response:
    customer = await customers.get(db=db, customer_id=customer_id)
    form = {k: str(v) for k, v in (await request.form()).items()}
    use_locale(request)  # the error messages
    try:
        patch = PatchIn.model_validate(_parse(form))
        await customers.edit(db=db, customer=customer, patch=patch, key=settings.signing_key().encode())
    except ValidationError as err:
        return _form_page(request, 422, customer=customer, form=form, errors=_by_field(err))
    except Invalid as err:
        return _form_page(
            request, 422, customer=customer, form=form, errors={err.field: gettext(err.message)}
        )
    return RedirectResponse(f"/customers/{customer_id}?saved=1", status_code=303)
