"""Case service: start, act, read and list cases. Routes and web pages both call these."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.common import (
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.errors import Conflict, Invalid, NotFound
from api.schemas import CaseDetail, CasePage, CaseSummary, EventOut, StartedCase, StepRowOut
from api.web.forms import message
from config import Settings
from db.models import Case, CaseEvent, CaseKey, CaseStep, Customer, case_number_seq
from db.records import RECORDS
from domain.i18n import label
from domain.models import CASE_PREFIX, CaseRef, CaseView, Process
from workflows.case import INVALID, STEP_NOT_OPEN
from workflows.registry import PROCESSES, ProcessDef

_PREFIX_TO_PROCESS = {prefix: process for process, prefix in CASE_PREFIX.items()}


def process_of(number: str) -> ProcessDef:
    process = _PREFIX_TO_PROCESS.get(number.split("-", 1)[0])
    if process is None or process not in PROCESSES:
        raise NotFound(f"no case {number}")
    return PROCESSES[process]


def temporal_ui_link(settings: Settings, number: str | None = None, query: str | None = None) -> str:
    base = f"{settings.temporal_ui_url.rstrip('/')}/namespaces/{settings.temporal_namespace}/workflows"
    if number:
        return f"{base}/{quote(number)}"
    return f"{base}?query={quote(query)}" if query else base


class _NumberBlocks:
    """Case numbers from the Postgres sequence, taken a block at a time.

    One round trip per ``size`` starts instead of one per start; a restart leaves a gap in the numbers,
    as every sequence-based numbering does, never a duplicate.
    """

    def __init__(self, size: int = 50) -> None:
        self.size = size
        self._free: dict[str, list[int]] = {}
        self._lock = asyncio.Lock()

    async def next(self, db: AsyncSession) -> int:
        database = db.get_bind().url.render_as_string(hide_password=True)
        async with self._lock:
            free = self._free.setdefault(database, [])
            if not free:
                taken = await db.scalars(
                    select(case_number_seq.next_value()).select_from(func.generate_series(1, self.size))
                )
                free.extend(sorted(taken, reverse=True))
            return free.pop()


_numbers = _NumberBlocks()


async def _case_number(db: AsyncSession, definition: ProcessDef, key: str | None) -> tuple[str, bool]:
    """A fresh number, or the one an earlier request with the same key got."""
    fresh = f"{CASE_PREFIX[definition.process]}-{await _numbers.next(db)}"
    if key is None:
        return fresh, True
    got = await db.scalar(
        pg_insert(CaseKey)
        .values(process=definition.process, key=key, case_number=fresh)
        .on_conflict_do_nothing()
        .returning(CaseKey.case_number)
    )
    await db.commit()
    if got is not None:
        return got, True
    existing = await db.scalar(
        select(CaseKey.case_number).where(CaseKey.process == definition.process, CaseKey.key == key)
    )
    assert existing is not None
    return existing, False


async def start_case(
    *,
    db: AsyncSession,
    client: Client,
    settings: Settings,
    process: Process,
    body: BaseModel,
    idempotency_key: str | None,
    actor: str,
) -> StartedCase:
    definition = PROCESSES[process]
    fields = body.model_dump()
    # A value-added push campaign names no customer (its start request has no customer fields).
    customer_id = fields.pop("customer_id", None)
    new_customer = fields.pop("customer", None)
    external_ref = fields.pop("external_ref")
    on_file = await db.get(Customer, customer_id) if customer_id is not None else None
    if customer_id is not None and on_file is None:
        raise Invalid("customer_id", f"customer {customer_id} does not exist")
    intake = definition.intake_model.model_validate(fields)
    # An intake that names its own business key (an order number) gets one case per key: a keyed resend is
    # a retry and gets that case; an unkeyed start for a key on file is refused, naming the case.
    natural = intake.case_key() if hasattr(intake, "case_key") else None
    key = natural or idempotency_key or (f"ref:{external_ref}" if external_ref else None)
    number, created = await _case_number(db, definition, key)
    if natural and not created and not (idempotency_key or external_ref):
        raise Conflict(f"{natural} is on file already as case {number}", case=number)
    # Give the connection back before the Temporal round trip, so C starts in flight do not pin C connections.
    await db.commit()
    start = definition.start_model.model_validate(
        {
            "case": CaseRef(
                number=number,
                process=process,
                customer_id=customer_id,
                new_customer=new_customer,
                external_ref=external_ref,
                actor=actor,
            ),
            "intake": intake,
        }
    )
    customer_name = new_customer["name"] if new_customer else (on_file.name if on_file else "")
    what = fields.get("product") or fields.get("service") or ""
    try:
        await client.start_workflow(
            definition.workflow.run,
            start,
            id=number,
            task_queue=settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=" · ".join(p for p in (label(process), customer_name, what) if p)[:200],
            static_details=_details(intake),
        )
    except WorkflowAlreadyStartedError:
        created = False  # the case ran before and has finished: the same key still names it
    return StartedCase(
        number=number,
        process=process,
        created=created,
        url=f"/api/v1/cases/{number}",
        temporal_ui=temporal_ui_link(settings, number),
    )


def _details(intake: BaseModel) -> str:
    return "\n".join(
        f"**{label(k)}**: {label(str(v))}" for k, v in intake.model_dump(mode="json").items() if v
    )


async def perform_action(*, client: Client, number: str, action: str, payload: dict[str, Any]) -> CaseView:
    definition = process_of(number)
    spec = definition.action(action)
    if spec is None:
        raise NotFound(f"{definition.process} has no action {action!r}")
    try:
        model = spec.model.model_validate(payload)
    except ValidationError as err:
        first = err.errors()[0]
        raise Invalid(".".join(str(p) for p in first["loc"]) or action, message(first)) from None
    handle = client.get_workflow_handle(number)
    try:
        return await handle.execute_update(action, model, result_type=CaseView)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type == STEP_NOT_OPEN:
            raise Conflict(cause.message) from None
        if isinstance(cause, ApplicationError) and cause.type == INVALID:
            raise Invalid(str((cause.details or ["input"])[0]), cause.message) from None
        raise
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            await _raise_closed_or_missing(client, number)
        raise


async def _raise_closed_or_missing(client: Client, number: str) -> None:
    try:
        # The raw description: only the status is needed, and no search attribute has to be decoded for it.
        described = await client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=client.namespace, execution=WorkflowExecution(workflow_id=number)
            )
        )
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise NotFound(f"no case {number}") from None
        raise
    if described.workflow_execution_info.status != WorkflowExecutionStatus.RUNNING.value:
        raise Conflict(f"case {number} is closed")


async def get_case(*, db: AsyncSession, client: Client, settings: Settings, number: str) -> CaseDetail:
    definition = process_of(number)
    case = await db.get(Case, number)
    live: CaseView | None = None
    if case is None or case.state != "closed":
        try:
            live = await client.get_workflow_handle(number).query(definition.workflow.view)
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
    if case is None and live is None:
        raise NotFound(f"no case {number}")
    record_model = RECORDS.get(definition.process)
    record = await db.get(record_model, number) if record_model else None
    steps = (
        await db.execute(
            select(CaseStep).where(CaseStep.case_number == number).order_by(CaseStep.opened_at, CaseStep.id)
        )
    ).scalars()
    events = (
        await db.execute(
            select(CaseEvent).where(CaseEvent.case_number == number).order_by(CaseEvent.at, CaseEvent.id)
        )
    ).scalars()
    return CaseDetail(
        number=number,
        process=definition.process,
        case=CaseSummary.model_validate(case, from_attributes=True) if case else None,
        record={col.key: getattr(record, col.key) for col in record.__table__.columns} if record else None,
        live=live,
        steps=[StepRowOut.model_validate(s, from_attributes=True) for s in steps],
        timeline=[EventOut.model_validate(e, from_attributes=True) for e in events],
        temporal_ui=temporal_ui_link(settings, number),
    )


LIST_FILTERS = ("process", "state", "sla_state", "owner", "owner_role", "current_step")


async def list_cases(
    *, db: AsyncSession, filters: dict[str, str | None], page: int, page_size: int
) -> CasePage:
    query = select(Case)
    for name in LIST_FILTERS:
        value = filters.get(name)
        if value:
            query = query.where(getattr(Case, name) == value)
    total = await db.scalar(select(func.count()).select_from(query.subquery()))
    rows = (
        await db.execute(
            query.order_by(Case.next_deadline.asc().nulls_last(), Case.opened_at.desc())
            .limit(page_size)
            .offset((page - 1) * page_size)
        )
    ).scalars()
    return CasePage(
        items=[CaseSummary.model_validate(r, from_attributes=True) for r in rows],
        total=total or 0,
        page=page,
        page_size=page_size,
    )


async def ping(db: AsyncSession) -> None:
    await db.execute(text("SELECT 1"))
