"""Optional panels on the customer page. Each feature that shows something there (tiers, care journeys,
review) appends a loader here — ``PANELS.append(load_tier_panel)`` — and ships its own template, which the
page includes if it exists (``_customer_tier_panel.html``, ``_customer_care_panel.html``,
``_customer_review_panel.html``). A loader answers the template variables its panel needs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

PanelLoader = Callable[[AsyncSession, int], Awaitable[dict[str, Any]]]

PANELS: list[PanelLoader] = []

# The page includes these in this order; a missing one is skipped.
TEMPLATES = ("_customer_review_panel.html", "_customer_tier_panel.html", "_customer_care_panel.html")


async def panels(db: AsyncSession, customer_id: int) -> dict[str, Any]:
    """Every registered loader's variables, merged (a later loader wins on a shared name)."""
    merged: dict[str, Any] = {}
    for load in PANELS:
        merged.update(await load(db, customer_id))
    return merged
