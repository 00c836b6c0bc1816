"""Telling a customer's journey what happened (R-2..R-4, R-7): signal-with-start of ``journey-{customer_id}``.

Call ``start_journey`` when a customer is created and ``signal_journey`` where something the journey reacts
to is recorded: an order or transaction (``purchased``), an interaction (``interacted``), a spend drop
(``spend_dropped``), an approved tier change (``tier_changed``), an edit of the customer's dates or owner
(``profile_changed``). A journey that is not running yet is started by the signal; one that runs gets it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from config import Settings
from domain.care import JourneyStart
from workflows.journey import CustomerJourneyWorkflow, journey_id

SIGNALS = ("purchased", "interacted", "spend_dropped", "tier_changed", "profile_changed")


async def start_journey(client: Client, settings: Settings, customer_id: int) -> None:
    """Starts the customer's journey if it is not running (a new customer); a running one is left alone."""
    await client.start_workflow(
        CustomerJourneyWorkflow.run,
        JourneyStart(customer_id=customer_id),
        id=journey_id(customer_id),
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        static_summary=f"客户旅程 · 客户 {customer_id}",
    )


async def signal_journey(
    client: Client, settings: Settings, customer_id: int, signal: str, *args: str
) -> None:
    """Signals the customer's journey, starting it first if it is not running (signal-with-start)."""
    if signal not in SIGNALS:
        raise ValueError(f"a journey has no signal {signal!r} (one of {', '.join(SIGNALS)})")
    await client.start_workflow(
        CustomerJourneyWorkflow.run,
        JourneyStart(customer_id=customer_id),
        id=journey_id(customer_id),
        task_queue=settings.task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        start_signal=signal,
        start_signal_args=list(args),
        static_summary=f"客户旅程 · 客户 {customer_id}",
    )


async def purchased(
    client: Client, settings: Settings, customer_id: int, amount: Decimal | str, at: datetime | None = None
) -> None:
    """An order or transaction of the customer (C-7): the first one sends the welcome (R-2)."""
    when = at or datetime.now(UTC)
    await signal_journey(client, settings, customer_id, "purchased", str(amount), when.isoformat())
