"""Care tasks and customer journeys (R-1..R-4, R-7): the facts a journey reads and the rows it keeps.

The journey workflow is deterministic, so everything it knows about its customer comes from here: the dates
(birthday, company anniversary, contract end), the tier and owner, the first and last purchase, and the
journey timings of the policy in force. Care task numbers are allocated here too: a task raised from inside
a workflow is keyed by its raiser's key in ``case_keys`` (process ``care``), so raising it again names the
same case.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.policy import policy_in_force
from db.care import CustomerJourney
from db.engine import transaction
from db.models import Case, CaseKey, Customer, case_number_seq
from db.tiering import Transaction
from domain.care import CareIntake, CareStart, CustomerFacts, JourneyTimings, task_subject
from domain.i18n import label
from domain.models import CASE_PREFIX, CaseRef, Model, Process, Step, Tier
from domain.sla import NoPolicy, resolve


class StartTask(Model):
    """A care task to start under its raiser's key (one per customer and key)."""

    customer_id: int
    key: str
    intake: CareIntake
    actor: str = "journey"


class EarlierPurchase(Model):
    customer_id: int
    before: datetime


class JourneyRow(Model):
    """Where a journey stands (the ``customer_journeys`` columns)."""

    customer_id: int
    first_purchase_at: datetime | None = None
    last_purchase_at: datetime | None = None
    welcomed_at: datetime | None = None
    purchases: int = 0
    interactions: int = 0
    last_interaction_at: datetime | None = None
    next_occasion: str | None = None
    next_at: datetime | None = None
    runs: int = 1


async def _purchases(db: AsyncSession, customer_id: int) -> tuple[datetime | None, datetime | None]:
    """First and last purchase: transactions (C-7) and order follow-up cases (orders staff took)."""
    sold = (
        await db.execute(
            select(func.min(Transaction.occurred_at), func.max(Transaction.occurred_at)).where(
                Transaction.customer_id == customer_id
            )
        )
    ).one()
    ordered = (
        await db.execute(
            select(func.min(Case.opened_at), func.max(Case.opened_at)).where(
                Case.customer_id == customer_id, Case.process == Process.ORDER_FOLLOWUP
            )
        )
    ).one()
    firsts = [t for t in (sold[0], ordered[0]) if t is not None]
    lasts = [t for t in (sold[1], ordered[1]) if t is not None]
    return (min(firsts) if firsts else None), (max(lasts) if lasts else None)


async def _timings(db: AsyncSession, tier: str) -> JourneyTimings:
    rules = (await policy_in_force(db)).for_process(Process.CARE)
    seed = JourneyTimings()
    values = {}
    for step, name in ((Step.RENEWAL_NOTICE, "renewal_ahead"), (Step.CHURN_WATCH, "churn_after")):
        try:
            values[name] = resolve(rules, process=Process.CARE, step=step, tier=tier).target
        except NoPolicy:
            values[name] = getattr(seed, name)
    return JourneyTimings(**values)


class CareActivities:
    def __init__(self, database_url: str) -> None:
        self.url = database_url

    @activity.defn
    async def start_task(self, req: StartTask) -> str:
        """Starts the care task raised under ``key`` for this customer and returns its case number.

        The number is allocated once per (customer, key) in ``case_keys``; the workflow is started with that
        number as its id and ``REJECT_DUPLICATE``, so a retry, or the same task raised again, finds the task
        that runs or ran and starts nothing. Started here, not as a child: a task outlives the run that raised
        it (a journey continues as new every year), as a scheduled campaign does."""
        number = await self._number(req.customer_id, req.key)
        start = CareStart(
            case=CaseRef(number=number, process=Process.CARE, customer_id=req.customer_id, actor=req.actor),
            intake=req.intake,
        )
        intake = req.intake
        summary = f"{label(Process.CARE)} · {task_subject(intake.kind, intake.occasion, intake.note)}"
        try:
            await activity.client().start_workflow(
                "CareTaskWorkflow",
                start,
                id=number,
                task_queue=activity.info().task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=summary[:200],
            )
        except WorkflowAlreadyStartedError:
            activity.logger.info("care task %s (key %s) exists already", number, req.key)
        return number

    async def _number(self, customer_id: int, raiser_key: str) -> str:
        key = f"{customer_id}:{raiser_key}"[:200]
        async with transaction(self.url) as db:
            fresh = f"{CASE_PREFIX[Process.CARE]}-{await db.scalar(select(case_number_seq.next_value()))}"
            got = await db.scalar(
                pg_insert(CaseKey)
                .values(process=Process.CARE, key=key, case_number=fresh)
                .on_conflict_do_nothing()
                .returning(CaseKey.case_number)
            )
            if got is not None:
                return got
            existing = await db.scalar(
                select(CaseKey.case_number).where(CaseKey.process == Process.CARE, CaseKey.key == key)
            )
            assert existing is not None
            return existing

    @activity.defn
    async def customer_owner(self, customer_id: int) -> str | None:
        """The customer's account manager (customers.owner), if one is set."""
        async with transaction(self.url) as db:
            return await db.scalar(select(Customer.owner).where(Customer.id == customer_id))

    @activity.defn
    async def customer_facts(self, customer_id: int) -> CustomerFacts | None:
        """What the journey needs to know; None when the customer is not on file."""
        async with transaction(self.url) as db:
            customer = await db.get(Customer, customer_id)
            if customer is None:
                return None
            first, last = await _purchases(db, customer_id)
            return CustomerFacts(
                customer_id=customer.id,
                name=customer.name,
                tier=Tier(customer.tier),
                owner=customer.owner,
                birthday=customer.birthday,
                anniversary=customer.anniversary,
                contract_end=customer.contract_end,
                created_at=customer.created_at,
                first_purchase_at=first,
                last_purchase_at=last,
                merged_into=customer.merged_into,
                timings=await _timings(db, customer.tier),
            )

    @activity.defn
    async def earlier_purchase(self, req: EarlierPurchase) -> datetime | None:
        """The customer's first purchase before ``before``, if any: None means this purchase is the first."""
        async with transaction(self.url) as db:
            sold = await db.scalar(
                select(func.min(Transaction.occurred_at)).where(
                    Transaction.customer_id == req.customer_id, Transaction.occurred_at < req.before
                )
            )
            ordered = await db.scalar(
                select(func.min(Case.opened_at)).where(
                    Case.customer_id == req.customer_id,
                    Case.process == Process.ORDER_FOLLOWUP,
                    Case.opened_at < req.before,
                )
            )
        found = [t for t in (sold, ordered) if t is not None]
        return min(found) if found else None

    @activity.defn
    async def save_journey(self, row: JourneyRow) -> None:
        """Upserts where the journey stands (the customer page reads it; Temporal keeps the truth)."""
        async with transaction(self.url) as db:
            exists = await db.scalar(select(Customer.id).where(Customer.id == row.customer_id))
            if exists is None:
                return
            values = row.model_dump()
            changes = {k: v for k, v in values.items() if k != "customer_id"}
            await db.execute(
                pg_insert(CustomerJourney)
                .values(**values)
                .on_conflict_do_update(
                    index_elements=["customer_id"], set_={**changes, "updated_at": func.now()}
                )
            )
