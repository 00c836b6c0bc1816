"""C-6: every interaction with a customer in one list, newest first, read in one SQL statement.

The sources, each a branch of one ``UNION ALL``: cases opened and closed (inquiry, order, issue, complaint);
the case events where staff reached the customer (first response, proposal, callback, visit …); orders
(C-7 ``transactions``: the first is an order, every later one a repurchase); satisfaction answers (link or
phone callback, from ``surveys``); value-added pushes delivered and each response to them (open, click,
inquiry, conversion); and the messages sent to the customer (a push's own message is its delivery).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.i18n import label

# Case events that are a contact with the customer: the staff action (an event's kind, or the ``action`` of
# the ``step_done`` event an action that completes its step writes).
CONTACT_EVENTS = (
    "respond",
    "contact_customer",
    "contact_complainant",
    "calm_customer",
    "send_proposal",
    "record_follow_up",
    "confirm_order",
    "clear_doubt",
    "record_visit",
    "report_result",
    "callback_recorded",
)

_SQL = """
SELECT * FROM (
    SELECT c.opened_at AS at, 'case_opened' AS kind, c.number AS ref, c.process, NULL AS step,
           c.subject AS info, NULL::numeric AS amount, NULL::int AS score, NULL AS extra
    FROM cases c WHERE c.customer_id = :cid
  UNION ALL
    SELECT c.closed_at, 'case_closed', c.number, c.process, NULL, c.outcome, NULL, NULL, NULL
    FROM cases c WHERE c.customer_id = :cid AND c.closed_at IS NOT NULL
  UNION ALL
    SELECT e.at, 'contact', e.case_number, c.process, e.step,
           coalesce(e.payload->>'note', e.payload->>'summary', e.payload->>'result', e.payload->>'comment'),
           NULL, NULL, coalesce(e.payload->>'action', e.kind)
    FROM case_events e JOIN cases c ON c.number = e.case_number
    WHERE c.customer_id = :cid
      AND coalesce(e.payload->>'action', e.kind) = ANY(CAST(:contact_events AS text[]))
  UNION ALL
    SELECT t.occurred_at,
           CASE WHEN row_number() OVER (ORDER BY t.occurred_at, t.id) > 1 THEN 'repurchase' ELSE 'order' END,
           o.case_number, CASE WHEN o.case_number IS NOT NULL THEN 'order_followup' END, NULL,
           t.external_id, t.amount, NULL, t.source
    FROM transactions t
    LEFT JOIN order_records o ON o.order_no = t.external_id AND o.customer_id = t.customer_id
    WHERE t.customer_id = :cid
  UNION ALL
    SELECT s.answered_at, CASE WHEN s.answered_via = 'callback' THEN 'callback' ELSE 'survey_answered' END,
           s.case_number, s.process, s.step, s.comment, NULL, s.score, s.kind
    FROM surveys s WHERE s.customer_id = :cid AND s.answered_at IS NOT NULL
  UNION ALL
    SELECT d.sent_at, 'push_sent', d.case_number, 'value_push', NULL, r.service, NULL, NULL, d.channel
    FROM push_deliveries d JOIN push_records r ON r.case_number = d.case_number
    WHERE d.customer_id = :cid
  UNION ALL
    SELECT x.at, 'push_response', d.case_number, 'value_push', NULL, r.service, NULL, NULL, x.what
    FROM push_deliveries d JOIN push_records r ON r.case_number = d.case_number
    CROSS JOIN LATERAL (VALUES (d.opened_at, 'opened'), (d.clicked_at, 'clicked'),
                               (d.inquired_at, 'inquired'), (d.converted_at, 'converted')) AS x(at, what)
    WHERE d.customer_id = :cid AND x.at IS NOT NULL
  UNION ALL
    SELECT coalesce(n.sent_at, n.created_at), 'message', n.case_number, c.process, NULL, n.subject,
           NULL, NULL, n.channel
    FROM notifications n LEFT JOIN cases c ON c.number = n.case_number
    WHERE n.recipient = :recipient AND n.status IN ('sent', 'pending')
      AND c.process IS DISTINCT FROM 'value_push'
) i
ORDER BY at DESC, kind
LIMIT :limit
"""


class TimelineEntry(BaseModel):
    at: datetime
    kind: str  # case_opened | case_closed | contact | order | repurchase | survey_answered | callback | ...
    title: str
    detail: str = ""
    link: str | None = None


def _link(ref: str | None, process: str | None) -> str | None:
    if ref is None:
        return None
    return f"/pushes/{ref}" if process == "value_push" else f"/cases/{ref}"


def _entry(row: Any, locale: str) -> TimelineEntry:
    kind, info, extra = row.kind, row.info or "", row.extra
    what = label(f"Timeline.{kind}", locale)
    parts: list[str]
    detail = info
    if kind in ("case_opened", "case_closed"):
        parts = [label(row.process, locale), what]
        detail = label(info, locale) if kind == "case_closed" else info
    elif kind == "contact":
        parts = [label(row.process, locale), label(extra, locale)]
    elif kind in ("order", "repurchase"):
        parts = [what, f"¥{_money(row.amount)}"]
        detail = f"{info} · {label(f'Source.{extra}', locale)}"
    elif kind in ("survey_answered", "callback"):
        scale = 10 if extra == "nps" else 5
        parts = [what, label(row.step, locale) if row.step else label(extra, locale), f"{row.score}/{scale}"]
    elif kind in ("push_sent", "push_response"):
        parts = [label(f"Timeline.push_{extra}", locale) if kind == "push_response" else what]
        detail = info if kind == "push_response" else f"{info} · {label(extra, locale)}"
    else:  # message
        parts = [what, label(extra, locale)]
    return TimelineEntry(
        at=row.at,
        kind=kind,
        title=" · ".join(p for p in parts if p),
        detail=detail,
        link=_link(row.ref, row.process),
    )


def _money(amount: Decimal | None) -> str:
    return f"{amount:,.2f}" if amount is not None else "—"


async def timeline(
    db: AsyncSession, customer_id: int, *, limit: int = 200, locale: str = "zh-CN"
) -> list[TimelineEntry]:
    """The customer's interactions, newest first (at most ``limit``)."""
    rows = await db.execute(
        text(_SQL),
        {
            "cid": customer_id,
            "recipient": f"customer:{customer_id}",
            "contact_events": list(CONTACT_EVENTS),
            "limit": limit,
        },
    )
    return [_entry(r, locale) for r in rows]
