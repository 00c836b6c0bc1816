"""Case service: start, act, read and list cases. Routes and web pages both call these."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ValidationError
from sqlalchemy import func, or_, select, text
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

from api import journeys
from api.auth import CurrentUser, Forbidden
from api.errors import Conflict, Invalid, NotFound
from api.privacy import mask_text
from api.schemas import CaseDetail, CasePage, CaseSummary, EventOut, StartedCase, StepRowOut
from api.web.forms import message
from config import Settings
from db.models import Case, CaseEvent, CaseKey, CaseStep, Customer, case_number_seq
from db.records import RECORDS
from domain.complaint import ComplaintGrading, Grade
from domain.i18n import label
from domain.models import CASE_PREFIX, CaseRef, CaseState, CaseView, Process, Role, SlaState
from domain.permissions import Permission
from domain.sla import PROCESS_STEPS
from workflows import search_attributes as sa
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
    started_at = datetime.now(UTC)  # before the case opens: the journey counts this order as new
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
    if created and process is Process.ORDER_FOLLOWUP and customer_id is not None:
        # An order is a purchase on the customer's journey: the first one sends the welcome.
        await journeys.purchased(client, settings, customer_id, getattr(intake, "amount", 0), at=started_at)
    return StartedCase(
        number=number,
        process=process,
        created=created,
        url=f"/api/v1/cases/{number}",
        temporal_ui=temporal_ui_link(settings, number),
    )


def _details(intake: BaseModel) -> str:
    """The Temporal UI's summary of a case. Supervisors read it there without Careflow's roles, so phone
    numbers and emails in it are masked (SEC-1)."""
    return "\n".join(
        f"**{label(k)}**: {mask_text(label(str(v)))}" for k, v in intake.model_dump(mode="json").items() if v
    )


def permission_for(model: BaseModel) -> Permission | None:
    """What an action's input needs beyond CASES_ACT: CP-2, a major complaint is graded by a supervisor or
    the director (it goes to the director)."""
    if isinstance(model, ComplaintGrading) and model.level is Grade.MAJOR:
        return Permission.COMPLAINTS_GRADE_MAJOR
    return None


async def perform_action(
    *, client: Client, number: str, action: str, payload: dict[str, Any], user: CurrentUser
) -> CaseView:
    definition = process_of(number)
    spec = definition.action(action)
    if spec is None:
        raise NotFound(f"{definition.process} has no action {action!r}")
    try:
        model = spec.model.model_validate(payload)
    except ValidationError as err:
        first = err.errors()[0]
        raise Invalid(".".join(str(p) for p in first["loc"]) or action, message(first)) from None
    needed = permission_for(model)
    if needed is not None and not user.can(needed):
        raise Forbidden(f"您的角色无权执行此操作（需要权限 {needed.value}）", permission=needed.value)
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


LIST_FILTERS = ("process", "state", "sla_state", "owner", "owner_role", "current_step", "escalation_level")


async def list_cases(
    *, db: AsyncSession, filters: Mapping[str, str | int | None], page: int, page_size: int
) -> CasePage:
    query = select(Case)
    for name in LIST_FILTERS:
        value = filters.get(name)
        if value is not None and value != "":
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


# -- the staff workspace: my queue and the supervisor dashboard (issue 6) -----------------------------------

# ESC-1: a breach tells the first rung of the chain (the supervisor) at once, raising the case to level 1,
# and the director at the next rung (level 2); from then on the case is in their queue too.
ESCALATION_RUNG: dict[str, int] = {Role.SUPERVISOR: 1, Role.DIRECTOR: 2}


class QueueItem(CaseSummary):
    customer_name: str | None
    mine: bool = False  # the case is assigned to this user by name, not only to their role


async def queue(*, db: AsyncSession, names: Sequence[str], role: str, limit: int = 200) -> list[QueueItem]:
    """Open cases whose current step is the user's (by name) or their role's, and those escalated to their
    rung; the next deadline first, paused ones (no deadline) last."""
    names = [n for n in names if n]
    whose = [Case.owner_role == role]
    if names:
        whose.append(Case.owner.in_(names))
    if role in ESCALATION_RUNG:
        whose.append(Case.escalation_level >= ESCALATION_RUNG[role])
    rows = await db.execute(
        select(Case, Customer.name)
        .outerjoin(Customer, Customer.id == Case.customer_id)
        .where(Case.state == CaseState.OPEN, or_(*whose))
        .order_by(Case.next_deadline.asc().nulls_last(), Case.opened_at)
        .limit(limit)
    )
    return [_item(case, name, mine=case.owner in names) for case, name in rows]


def _item(case: Case, customer_name: str | None, mine: bool = False) -> QueueItem:
    summary = CaseSummary.model_validate(case, from_attributes=True)
    return QueueItem(**summary.model_dump(), customer_name=customer_name, mine=mine)


class Backlog(BaseModel):
    process: str
    step: str | None  # None: the whole process
    open: int = 0
    warning: int = 0
    breached: int = 0


class Dashboard(BaseModel):
    breached: list[QueueItem]
    warning: list[QueueItem]
    processes: list[Backlog]
    steps: list[Backlog]
    levels: dict[int, int]  # escalation level -> breached cases at that level
    total_open: int


async def dashboard(*, db: AsyncSession, limit: int = 100) -> Dashboard:
    """Breaches and warnings now, the open backlog per process and per step, breaches per escalation level."""
    counts = await db.execute(
        select(Case.process, Case.current_step, Case.sla_state, Case.escalation_level, func.count())
        .where(Case.state == CaseState.OPEN)
        .group_by(Case.process, Case.current_step, Case.sla_state, Case.escalation_level)
    )
    processes: dict[str, Backlog] = {}
    steps: dict[tuple[str, str | None], Backlog] = {}
    levels: dict[int, int] = {}
    for process, step, sla_state, level, n in counts:
        for row in (
            processes.setdefault(process, Backlog(process=process, step=None)),
            steps.setdefault((process, step), Backlog(process=process, step=step)),
        ):
            row.open += n
            if sla_state in (SlaState.WARNING, SlaState.BREACHED):
                setattr(row, sla_state, getattr(row, sla_state) + n)
        if sla_state == SlaState.BREACHED:
            levels[level] = levels.get(level, 0) + n
    lists: dict[str, list[QueueItem]] = {}
    for state in (SlaState.BREACHED, SlaState.WARNING):
        rows = await db.execute(
            select(Case, Customer.name)
            .outerjoin(Customer, Customer.id == Case.customer_id)
            .where(Case.state == CaseState.OPEN, Case.sla_state == state)
            .order_by(Case.escalation_level.desc(), Case.next_deadline.asc().nulls_last())
            .limit(limit)
        )
        lists[state] = [_item(case, name) for case, name in rows]
    return Dashboard(
        breached=lists[SlaState.BREACHED],
        warning=lists[SlaState.WARNING],
        processes=sorted(processes.values(), key=_backlog_order),
        steps=sorted(steps.values(), key=_backlog_order),
        levels=dict(sorted(levels.items())),
        total_open=sum(p.open for p in processes.values()),
    )


def _backlog_order(row: Backlog) -> tuple[int, int, str]:
    order = list(PROCESSES)
    known = PROCESS_STEPS.get(row.process, [])
    return (
        order.index(row.process) if row.process in order else len(order),
        known.index(row.step) if row.step in known else (-1 if row.step is None else len(known)),
        row.step or "",
    )


def visibility_query(
    *,
    process: str | None = None,
    steps: Sequence[str] = (),
    sla_state: str | None = None,
    escalation_level: int | None = None,
) -> str:
    """The Temporal visibility query for the same set of running cases, on the search attributes every case
    upserts (workflows/search_attributes.py)."""
    parts = [f"{sa.CASE_PROCESS.name}='{process}'"] if process else []
    if len(steps) == 1:
        parts.append(f"{sa.CASE_STEP.name}='{steps[0]}'")
    elif steps:
        quoted = ", ".join(f"'{step}'" for step in steps)
        parts.append(f"{sa.CASE_STEP.name} IN ({quoted})")
    if sla_state:
        parts.append(f"{sa.SLA_STATE.name}='{sla_state}'")
    if escalation_level is not None:
        parts.append(f"{sa.ESCALATION_LEVEL.name}={int(escalation_level)}")
    return " AND ".join([*parts, "ExecutionStatus='Running'"])


async def ping(db: AsyncSession) -> None:
    await db.execute(text("SELECT 1"))
