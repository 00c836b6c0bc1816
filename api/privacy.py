"""SEC-1: phones and emails are masked wherever the app shows them, unless the viewer may see them.

- Pages always show them masked (the Jinja filter ``contact``); a staff member with CONTACTS_REVEAL
  reveals one customer's on request (POST /customers/{id}/reveal), and that read is audited (SEC-2).
- JSON answers them masked too, except to an API token with the scope customers:read (another system that
  needs them); such a read is audited by the route that answers it.
- ID card and bank card numbers are never stored (domain.customers keeps a keyed hash and the last 4).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import CurrentUser
from api.errors import NotFound
from db.models import Customer
from domain.customers import mask_email, mask_phone
from domain.permissions import Permission

# A mainland mobile (optionally +86 / 0086 and separators), a landline with area code, or an email.
_PHONE = re.compile(r"(?<![\w@.])(?:(?:\+|00)86[\s-]?)?(?:1[3-9]\d(?:[\s-]?\d{4}){2}|0\d{2,3}-\d{7,8})(?!\d)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def _phone(match: re.Match[str]) -> str:
    number = re.sub(r"^(?:\+|00)86|[\s-]", "", match.group(0))
    return mask_phone(number) or ""


def mask_text(value: Any) -> Any:
    """Masks every phone number and email inside a text ("周经理 13600136000" → "周经理 136****6000");
    anything that is not a string is returned as it is."""
    if not isinstance(value, str) or not value:
        return value
    masked = _EMAIL.sub(lambda m: mask_email(m.group(0)) or "", value)
    return _PHONE.sub(_phone, masked)


def mask_json(value: Any) -> Any:
    """A copy of a JSON-like value with every phone number and email in its texts masked."""
    if isinstance(value, dict):
        return {k: mask_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_json(v) for v in value]
    return mask_text(value)


def contacts_in_clear(user: CurrentUser | None) -> bool:
    """JSON with contact details in clear: only for an API token with customers:read (staff reveal them)."""
    return user is not None and user.is_token and user.can(Permission.CONTACTS_REVEAL)


@dataclass(frozen=True)
class Revealed:
    """A customer's contact details in clear (SEC-1), for a reveal that has been audited (SEC-2)."""

    customer_id: int
    name: str
    phone: str | None
    email: str | None
    contacts: list[dict[str, Any]]

    def fields(self) -> list[str]:
        """Which kinds of detail were shown (the audit row says what was seen, not the values)."""
        shown = [f for f in ("phone", "email") if getattr(self, f)]
        return shown + [f"contacts[{i}]" for i, _ in enumerate(self.contacts)]


async def revealed_contacts(db: AsyncSession, customer_id: int) -> Revealed:
    customer = await db.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"没有客户 #{customer_id}")
    contacts = [
        {k: c.get(k) for k in ("name", "role", "phone", "email") if c.get(k)}
        for c in customer.contacts or []
        if isinstance(c, dict)
    ]
    return Revealed(customer.id, customer.name, customer.phone, customer.email, contacts)
