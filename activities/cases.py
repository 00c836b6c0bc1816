"""Case, step and event rows. Idempotent: every write is keyed and upserts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.calendars import calendars_for
from activities.changes import CaseChange, OpenCaseRequest
from activities.customers import touch
from activities.policy import policy_in_force
from db.engine import transaction
from db.models import Base, Case, CaseEvent, CaseStep, Customer
from db.records import RECORDS
from domain.models import OpenedCase, Process, Tier
from domain.sla import BUSINESS


def _columns(model: type[Base], values: dict[str, Any]) -> dict[str, Any]:
    unknown = set(values) - set(model.__table__.columns.keys())
    if unknown:
        # A workflow bug, not a passing fault: retrying cannot help.
        raise ApplicationError(f"{model.__tablename__} has no column {sorted(unknown)}", non_retryable=True)
    return values


class CaseActivities:
    def __init__(self, database_url: str) -> None:
        self.url = database_url

    @activity.defn
    async def open_case(self, req: OpenCaseRequest) -> OpenedCase:
        """Creates the customer (if new), the case row, its process record and the 'opened' event.

        Returns the policy version in force and the calendars its rules count on: the case keeps both.
        """
        ref = req.case
        async with transaction(self.url) as db:
            policy = await policy_in_force(db)
            rules = policy.for_process(ref.process)
            names = {r.calendar for r in rules if r.calendar} | {BUSINESS}
            calendars = await calendars_for(db, names, req.opened_at)
            # A value-added push campaign reaches many customers and belongs to none.
            customer = None if ref.process == Process.VALUE_PUSH else await self._customer(db, req)
            if customer is not None:
                await touch(db, customer.id, req.opened_at)  # C-5: a case opening is an interaction
            await db.execute(
                pg_insert(Case)
                .values(
                    number=ref.number,
                    process=ref.process,
                    customer_id=customer.id if customer else None,
                    subject=req.subject[:300],
                    tier_at_open=customer.tier if customer else Tier.NORMAL,
                    policy_version=policy.version,
                    external_ref=ref.external_ref,
                    opened_at=req.opened_at,
                )
                .on_conflict_do_nothing()
            )
            if req.record:
                record = RECORDS[ref.process]
                values = {**req.record, "case_number": ref.number}
                if customer is not None:
                    values["customer_id"] = customer.id
                values = _columns(record, values)
                await db.execute(pg_insert(record).values(**values).on_conflict_do_nothing())
            await self._event(
                db,
                CaseChange(
                    number=ref.number,
                    key=f"{ref.number}:opened",
                    at=req.opened_at,
                    actor=ref.actor,
                    kind="opened",
                    payload={"subject": req.subject, "policy_version": policy.version, **req.record},
                ),
            )
        return OpenedCase(
            number=ref.number,
            customer_id=customer.id if customer else None,
            customer_name=customer.name if customer else "",
            tier=Tier(customer.tier) if customer else Tier.NORMAL,
            policy_version=policy.version,
            rules=[r.model_dump(mode="json") for r in rules],
            calendars={name: cal.model_dump(mode="json") for name, cal in calendars.items()},
            opened_at=req.opened_at,
        )

    async def _customer(self, db: AsyncSession, req: OpenCaseRequest) -> Customer:
        ref = req.case
        if ref.customer_id is not None:
            customer = await db.get(Customer, ref.customer_id)
            if customer is None:
                raise ApplicationError(f"customer {ref.customer_id} does not exist", non_retryable=True)
            return customer
        if ref.new_customer is None:
            raise ApplicationError("a case needs customer_id or new_customer", non_retryable=True)
        new = ref.new_customer
        await db.execute(
            pg_insert(Customer)
            .values(
                type=new.type,
                name=new.name,
                phone=new.phone,
                email=new.email,
                industry=new.industry,
                region=new.region,
                contacts=[c.model_dump() for c in new.contacts],
                created_by_case=ref.number,
            )
            .on_conflict_do_nothing(index_elements=["created_by_case"])
        )
        return (await db.execute(select(Customer).where(Customer.created_by_case == ref.number))).scalar_one()

    async def _event(self, db: AsyncSession, change: CaseChange) -> bool:
        """Appends the event; False if this key was recorded before (a retry), so nothing else is applied."""
        inserted = await db.execute(
            pg_insert(CaseEvent)
            .values(
                key=change.key,
                case_number=change.number,
                at=change.at,
                actor=change.actor,
                kind=change.kind,
                step=change.step,
                payload=change.payload,
            )
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(CaseEvent.id)
        )
        return inserted.scalar_one_or_none() is not None

    @activity.defn
    async def record_change(self, change: CaseChange) -> None:
        async with transaction(self.url) as db:
            if not await self._event(db, change):
                return
            if change.step_open is not None:
                await db.execute(
                    insert(CaseStep).values(case_number=change.number, **change.step_open.model_dump())
                )
            if change.step_patch:
                await db.execute(
                    update(CaseStep)
                    .where(
                        CaseStep.case_number == change.number,
                        CaseStep.step == change.step,
                        CaseStep.seq == change.seq,
                    )
                    .values(**_columns(CaseStep, change.step_patch))
                )
            if change.case:
                await db.execute(
                    update(Case).where(Case.number == change.number).values(**_columns(Case, change.case))
                )
            if change.record:
                case = await db.get(Case, change.number)
                assert case is not None
                record = RECORDS[case.process]
                await db.execute(
                    update(record)
                    .where(record.case_number == change.number)  # type: ignore[attr-defined]
                    .values(**_columns(record, change.record))
                )
