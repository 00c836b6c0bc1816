"""The customer profile (C-1), its validation (C-3), lifecycle (C-5) and the sensitive-field rules (SEC-1, SEC-3).

``CustomerProfile`` is what staff forms, the REST API and the bulk import all accept, so one set of rules
decides what a valid record is: a name, at least one way to reach the customer, a mainland mobile number
(11 digits starting 1[3-9], an optional +86 prefix and spaces or dashes are accepted and normalised) and a
well-formed email. ``ProfilePatch`` is the same fields, all optional, for an edit.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator, model_validator

from domain.models import Channel, Contact, CustomerType, Model, Tier

MOBILE = re.compile(r"^1[3-9]\d{9}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class FirstContact(StrEnum):
    """C-1 first-contact channel."""

    WEBSITE = "website"
    APP = "app"
    ECOMMERCE = "ecommerce"
    SOCIAL = "social"
    EXHIBITION = "exhibition"
    REFERRAL = "referral"
    SALES_VISIT = "sales_visit"
    PHONE = "phone"


class Lifecycle(StrEnum):
    """C-5 (000 §(一): 活跃 / 沉睡 / 流失)."""

    ACTIVE = "active"
    DORMANT = "dormant"
    CHURNED = "churned"


# Careflow defaults (the seeds name the states, not the spans): an interaction in the last 90 days keeps a
# customer active (the 3 months of 002's watch tier); a year without one is churned.
DORMANT_AFTER = timedelta(days=90)
CHURNED_AFTER = timedelta(days=365)


def lifecycle(last_interaction: datetime | None, created: datetime, now: datetime) -> Lifecycle:
    """C-5: derived from the last interaction (or, never having had one, from when the record was made)."""
    quiet = now - (last_interaction or created)
    if quiet > CHURNED_AFTER:
        return Lifecycle.CHURNED
    if quiet > DORMANT_AFTER:
        return Lifecycle.DORMANT
    return Lifecycle.ACTIVE


def normalise_phone(value: str) -> str:
    """A mainland mobile number as 11 digits; raises ValueError otherwise."""
    digits = re.sub(r"[\s\-()]", "", value)
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    if not MOBILE.match(digits):
        raise ValueError("手机号格式不正确(应为 11 位大陆手机号,如 13812345678)")
    return digits


def check_email(value: str) -> str:
    value = value.strip()
    if not EMAIL.match(value):
        raise ValueError("邮箱格式不正确")
    return value.lower()


def mask_phone(value: str | None) -> str | None:
    """SEC-1: 13812345678 → 138****5678 (anything else keeps its first 3 and last 4 characters)."""
    if not value:
        return value
    if len(value) <= 7:
        return "*" * len(value)
    return f"{value[:3]}****{value[-4:]}"


def mask_email(value: str | None) -> str | None:
    """SEC-1: zhang.wei@example.com → z***@example.com."""
    if not value or "@" not in value:
        return value
    local, domain = value.split("@", 1)
    return f"{local[:1]}***@{domain}"


def sensitive_digest(key: bytes, kind: str, value: str) -> tuple[str, str]:
    """SEC-3: an ID card or bank card number becomes a keyed hash (to find a match) and its last 4 digits;
    the number itself is never stored."""
    cleaned = re.sub(r"\s", "", value).upper()
    digest = hmac.new(key, f"{kind}:{cleaned}".encode(), hashlib.sha256).hexdigest()
    return digest, cleaned[-4:]


class Needs(Model):
    core_need: str | None = Field(default=None, max_length=500)
    budget_range: str | None = Field(default=None, max_length=100)
    product_preference: str | None = Field(default=None, max_length=200)


class _ProfileFields(Model):
    type: CustomerType | None = None
    name: str | None = Field(default=None, min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=200)
    contacts: list[Contact] | None = None
    industry: str | None = Field(default=None, max_length=100)
    region: str | None = Field(default=None, max_length=100)
    scale: str | None = Field(default=None, max_length=40)
    needs: Needs | None = None
    first_contact: FirstContact | None = None
    preferred_channel: Channel | None = None
    expected_response_hours: int | None = Field(default=None, ge=1, le=720)
    birthday: date | None = None
    anniversary: date | None = None
    contract_end: date | None = None
    owner: str | None = Field(default=None, max_length=100)
    tags: list[str] | None = None
    potential: str | None = Field(default=None, pattern="^(high|medium|low)$")
    locale: str | None = Field(default=None, pattern="^(zh-CN|en)$")
    notes: str | None = Field(default=None, max_length=5000)
    # SEC-3: accepted on input only; stored as a keyed hash and the last 4 digits.
    id_card: str | None = Field(default=None, pattern=r"^\s*\d{17}[\dXx]\s*$")
    bank_card: str | None = Field(default=None, pattern=r"^\s*\d{12,19}\s*$")

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return normalise_phone(value) if value else None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return check_email(value) if value else None

    @field_validator("name", "industry", "region", "scale", "owner")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        return list(dict.fromkeys(t.strip() for t in value if t.strip()))


class ProfilePatch(_ProfileFields):
    """An edit: only the fields given change."""


class CustomerProfile(_ProfileFields):
    """A new record (C-1): a name and at least one way to reach the customer are required (C-3)."""

    type: CustomerType = CustomerType.INDIVIDUAL
    name: str = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _reachable(self) -> CustomerProfile:
        if not (self.phone or self.email or any(c.phone or c.email for c in self.contacts or [])):
            raise ValueError("请至少填写手机号或邮箱之一")
        return self


def column_values(profile: _ProfileFields, key: bytes) -> dict[str, Any]:
    """The ``customers`` columns a profile (or patch) sets; sensitive numbers become digests (SEC-3)."""
    values = profile.model_dump(exclude_unset=True, exclude={"id_card", "bank_card"}, mode="json")
    for date_field in ("birthday", "anniversary", "contract_end"):
        if date_field in values and values[date_field] is not None:
            values[date_field] = getattr(profile, date_field)
    if values.get("needs") is None and "needs" in values:
        values["needs"] = {}
    if values.get("contacts") is None and "contacts" in values:
        values["contacts"] = []
    if values.get("tags") is None and "tags" in values:
        values["tags"] = []
    for kind in ("id_card", "bank_card"):
        raw = getattr(profile, kind)
        if raw:
            values[f"{kind}_hash"], values[f"{kind}_last4"] = sensitive_digest(key, kind, raw)
    return values


TIER_BENEFITS: dict[Tier, str] = {
    # T-5 (002 §二(二)), told to the customer with their tier (T-3).
    Tier.VIP: "专属客户经理与高级技术支持、24 小时电话专线、4 小时内给出解决方案(非工作日 2 小时)、"
    "季度高层拜访、新产品优先试用、10% 服务折扣额度",
    Tier.KEY: "专属客服专员、8 小时内响应、24 小时内给出解决方案、月度服务回顾、5% 服务折扣额度",
    Tier.NORMAL: "标准客服团队、24 小时内响应、48 小时内给出解决方案、季度满意度调研",
    Tier.WATCH: "48 小时内响应、基础产品使用指南、促销活动通知",
}
