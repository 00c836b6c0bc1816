"""C-3 data quality: the keys that make two records possible duplicates, and how a merge combines them.

Two records are possible duplicates when they share a key:

* ``phone``: the last 11 of the phone number's ASCII digits (so ``+86 138-1234-5678`` and ``13812345678``
  agree); numbers with fewer than 7 digits give no key.
* ``email``: the address trimmed and lower-cased.
* ``company`` (enterprise records only): the company name NFKC-normalised (full-width letters, digits and
  brackets become half-width) and lower-cased, anything in brackets dropped, then the legal-form suffixes
  stripped from the end, repeatedly — Chinese ``COMPANY_SUFFIXES`` (有限公司, 股份有限公司, 集团, …) and
  English ``ENGLISH_SUFFIX`` words (Co., Ltd., Inc., Group, …) — and finally spaces and punctuation removed.
  So ``西门子（中国）有限公司``, ``西门子 集团`` and ``西门子股份有限公司`` all give ``西门子``, and
  ``ABC Co., Ltd.`` gives ``abc``. A name that is nothing but a suffix gives no key.

The rules are deliberately simple: they find candidates for a person to review, and nothing is merged
without someone choosing to.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class DuplicateKind(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    COMPANY = "company"


# Longest first: "股份有限公司" must go before "有限公司" leaves "股份" behind.
COMPANY_SUFFIXES: tuple[str, ...] = (
    "集团股份有限公司",
    "股份有限公司",
    "有限责任公司",
    "集团有限公司",
    "有限公司",
    "集团公司",
    "分公司",
    "总公司",
    "集团",
    "公司",
)
# English legal forms, only as a whole word at the end ("Zinc" keeps its "inc").
ENGLISH_SUFFIX = re.compile(r"(?<![a-z0-9])(co|ltd|limited|inc|incorporated|corp|corporation|group|company)$")
_BRACKETED = re.compile(r"\([^)]*\)|\[[^\]]*\]|【[^】]*】|〔[^〕]*〕")
_NOT_WORD = re.compile(r"[\W_]+")
_TRAILING = re.compile(r"[\W_]+$")
_NON_DIGIT = re.compile(r"[^0-9]")


def phone_key(phone: str | None) -> str | None:
    digits = _NON_DIGIT.sub("", phone or "")
    return digits[-11:] if len(digits) >= 7 else None


def email_key(email: str | None) -> str | None:
    value = (email or "").strip().lower()
    return value or None


def company_key(name: str | None) -> str | None:
    value = _BRACKETED.sub("", unicodedata.normalize("NFKC", name or "").lower())
    while True:
        value = _TRAILING.sub("", value)
        if not value or value in COMPANY_SUFFIXES or ENGLISH_SUFFIX.fullmatch(value):
            return None
        english = ENGLISH_SUFFIX.search(value)
        if english:
            value = value[: english.start()]
            continue
        chinese = next((s for s in COMPANY_SUFFIXES if value.endswith(s)), None)
        if chinese is None:
            return _NOT_WORD.sub("", value) or None
        value = value[: -len(chinese)]


def keys(*, type: str | None, name: str | None, phone: str | None, email: str | None) -> set[tuple[str, str]]:
    """The (kind, key) pairs a record is matched on."""
    found = {(DuplicateKind.PHONE.value, phone_key(phone)), (DuplicateKind.EMAIL.value, email_key(email))}
    if type == "enterprise":
        found.add((DuplicateKind.COMPANY.value, company_key(name)))
    return {(kind, key) for kind, key in found if key}


class DuplicateIndex:
    """Which records hold each key; built from the records on file, grown as an import adds more."""

    def __init__(self) -> None:
        self._ids: dict[tuple[str, str], set[int]] = defaultdict(set)

    def add(self, customer_id: int, record_keys: Iterable[tuple[str, str]]) -> None:
        for key in record_keys:
            self._ids[key].add(customer_id)

    def matches(
        self, record_keys: Iterable[tuple[str, str]], *, exclude: int | None = None
    ) -> dict[int, list[str]]:
        """Other records sharing a key, each with the kinds it shares (phone, email, company)."""
        found: dict[int, list[str]] = defaultdict(list)
        for kind, key in sorted(record_keys):
            for other in sorted(self._ids.get((kind, key), ())):
                if other != exclude and kind not in found[other]:
                    found[other].append(kind)
        return dict(found)

    def groups(self) -> list[DuplicateGroup]:
        """Each set of two or more records sharing a key; a set sharing several keys is one group."""
        by_members: dict[tuple[int, ...], DuplicateGroup] = {}
        for (kind, key), ids in sorted(self._ids.items()):
            if len(ids) < 2:
                continue
            members = tuple(sorted(ids))
            group = by_members.setdefault(members, DuplicateGroup(members=members, reasons=[]))
            group.reasons.append((kind, key))
        return sorted(by_members.values(), key=lambda g: g.members)


@dataclass
class DuplicateGroup:
    members: tuple[int, ...]
    reasons: list[tuple[str, str]]


# -- merge -------------------------------------------------------------------------------------------------

# Profile columns a merge copies from the duplicate where the survivor has none. Not copied: the identity and
# bookkeeping columns (id, source/external_id, created_*, verification, merged_into, tier — the tier is an
# approved decision of the survivor's own, T-3).
FILLABLE: tuple[str, ...] = (
    "phone",
    "email",
    "industry",
    "region",
    "potential",
    "referred_by",
    "preferred_channel",
    "birthday",
    "contract_end",
    "scale",
    "first_contact",
    "expected_response_hours",
    "anniversary",
    "owner",
    "id_card_hash",
    "id_card_last4",
    "bank_card_hash",
    "bank_card_last4",
)
# Filled as a pair: a hash without its last 4 digits (or the other card's) would mislead.
PAIRS = {"id_card_hash": "id_card_last4", "bank_card_hash": "bank_card_last4"}


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _contact_key(contact: dict[str, Any]) -> tuple[str, str, str]:
    return (
        str(contact.get("name") or "").strip(),
        phone_key(contact.get("phone")) or "",
        email_key(contact.get("email")) or "",
    )


def merged_values(survivor: dict[str, Any], duplicate: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The survivor's changed columns after taking in ``duplicate`` (both as column dicts), and the names of
    the columns filled or extended.

    * empty columns of ``FILLABLE`` are filled from the duplicate (``referred_by`` not with the survivor itself);
    * tags and contacts are unions (survivor's first); the duplicate's own phone or email, where it differs
      from the survivor's, is kept as a contact named after the duplicate, so no way to reach them is lost;
    * needs: the duplicate's answers fill the survivor's missing ones;
    * notes: the duplicate's are appended under a line naming it;
    * last_interaction_at: the later of the two.
    """
    changes: dict[str, Any] = {}
    for column in FILLABLE:
        if column in PAIRS.values():
            continue
        if _empty(survivor.get(column)) and not _empty(duplicate.get(column)):
            if column == "referred_by" and duplicate[column] == survivor.get("id"):
                continue
            changes[column] = duplicate[column]
            if column in PAIRS:
                changes[PAIRS[column]] = duplicate.get(PAIRS[column])

    tags = list(dict.fromkeys([*(survivor.get("tags") or []), *(duplicate.get("tags") or [])]))
    if tags != list(survivor.get("tags") or []):
        changes["tags"] = tags

    contacts = [dict(c) for c in survivor.get("contacts") or []]
    seen = {_contact_key(c) for c in contacts}
    extra = list(duplicate.get("contacts") or [])
    own_phone = (
        duplicate.get("phone")
        if phone_key(duplicate.get("phone")) != phone_key(survivor.get("phone"))
        else None
    )
    own_email = (
        duplicate.get("email")
        if email_key(duplicate.get("email")) != email_key(survivor.get("email"))
        else None
    )
    if (own_phone and "phone" not in changes) or (own_email and "email" not in changes):
        extra.append(
            {
                "name": duplicate.get("name") or "",
                "role": "contact",
                "phone": own_phone if "phone" not in changes else None,
                "email": own_email if "email" not in changes else None,
            }
        )
    for contact in extra:
        if _contact_key(contact) not in seen:
            seen.add(_contact_key(contact))
            contacts.append(dict(contact))
    if contacts != list(survivor.get("contacts") or []):
        changes["contacts"] = contacts

    needs = dict(survivor.get("needs") or {})
    for key, value in (duplicate.get("needs") or {}).items():
        if _empty(needs.get(key)) and not _empty(value):
            needs[key] = value
    if needs != dict(survivor.get("needs") or {}):
        changes["needs"] = needs

    if (duplicate.get("notes") or "").strip():
        heading = f"【合并自客户 #{duplicate.get('id')} {duplicate.get('name') or ''}】".replace(" 】", "】")
        changes["notes"] = "\n\n".join(
            p for p in ((survivor.get("notes") or "").strip(), heading, duplicate["notes"].strip()) if p
        )

    later = max(
        (v for v in (survivor.get("last_interaction_at"), duplicate.get("last_interaction_at")) if v),
        default=None,
    )
    if later is not None and later != survivor.get("last_interaction_at"):
        changes["last_interaction_at"] = later
    return changes, sorted(changes)
