"""Order follow-up (SPEC OF-1..OF-4, seed 003 §2.2), top to bottom as the manual lists its steps.

Other systems report what happens to the order as events: the ``order_event`` signal, sent by
``POST /api/v1/orders/{order_no}/events`` once the event is stored; staff may enter one by hand
(``record_order_event``). Events queue and are handled one at a time in arrival order, so one that arrives
while a step is open waits for that step and is never dropped. The customer's milestone notices run beside
the steps on their own timer, since they wait for nobody.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from activities.orders import OrderActivities, StoredEvent
    from domain import order_followup as d
    from domain.i18n import label
    from domain.models import CaseState, CaseView, Role, Step
    from workflows.case import CaseWorkflow
    from workflows.steps import ACTIVITY_TIMEOUT, CaseClosing

EventType = d.EventType
STATUS_RANK = list(d.OrderStatus)


def _notice_key(milestone: d.Milestone, at: datetime) -> str:
    """One notice per milestone date, whatever offset the date was written with."""
    return f"{milestone}@{at.astimezone(UTC).isoformat()}"


@workflow.defn
class OrderFollowupWorkflow(CaseWorkflow):
    ACTIONS = d.ACTIONS

    def __init__(self) -> None:
        super().__init__()
        self.plan: dict[d.Milestone, datetime] = {}
        self.done: dict[d.Milestone, datetime] = {}
        self.status = d.OrderStatus.PENDING_PRODUCTION
        self.inbox: list[tuple[d.ReceivedEvent, datetime]] = []  # (event, when it reached the case)
        self.seen: set[str] = set()
        self.confirmation: d.OrderConfirmation | None = None
        self.doubt_answer: d.DoubtCleared | None = None
        self.delay: d.ReceivedEvent | None = None  # the delay being warned about
        self.delay_warning: d.DelayWarning | None = None
        self.acknowledged: d.ExceptionAck | None = None
        self.resolution: d.ExceptionResolution | None = None
        self.exceptions: list[str] = []  # the record's exception column, one line per exception
        self.noticed: set[str] = set()  # _notice_key of every notice sent
        self.replanned = 0  # bumped whenever the plan changes, so the notice timer starts over
        self.confirmed = False  # the customer has the checked order facts (OF-1)
        self.tracking = True

    @workflow.run
    async def run(self, start: d.OrderFollowupStart) -> str:
        intake = start.intake
        await self.open_case(
            start.case,
            subject=f"{intake.order_no} · {intake.model} × {intake.quantity}",
            record=intake.record(),
            channel=intake.channel,
        )
        self.plan = {p.milestone: p.planned_at for p in intake.planned}
        notices = asyncio.create_task(self.milestone_notices())
        try:
            await self.confirm()
            await self.track(until=self.fulfilled)
            # OF-4: the customer's satisfaction with the delivery (link or phone) within 24 h of receipt,
            # counted from the receipt itself, also when its event waited in the queue or came late.
            answer = await self.steps.satisfaction(Step.DELIVERY_SATISFACTION, since=self.fulfilled_at())
            await self.track(until=lambda: True)  # what arrived meanwhile is still handled
            await self._save(
                "order_fulfilled", payload={"score": answer.score}, record={"satisfaction": answer.score}
            )
        except CaseClosing:
            await self._stop(notices)
            return await self.closed_by_staff()
        await self._stop(notices)
        return await self.finish(d.OUTCOME_FULFILLED)

    # -- OF-1: check the order, clear a doubt with sales, confirm to the customer ----------------------------

    async def confirm(self) -> None:
        """OF-1: facts checked within 2 h; a doubt goes to the sales consultant (30 min); then the customer gets
        the order number and key facts."""
        await self.steps.run(Step.ORDER_CONFIRMATION, until=lambda: self.confirmation is not None)
        assert self.confirmation is not None
        doubt = self.confirmation.doubt
        if doubt:
            await self.run_and_tell(
                Step.ORDER_DOUBT,
                until=lambda: self.doubt_answer is not None,
                tell=lambda: self.steps.notify(
                    "order_doubt",
                    recipient_role=Role.SALES_CONSULTANT,
                    context={**self.facts(), "doubt": doubt},
                ),
            )
        await self.steps.notify("order_confirmation", audience="customer", context=self.facts())
        await self._save(
            "order_confirmation_sent",
            payload=self.facts(),
            record={"confirmed_at": workflow.now().isoformat()},
        )
        self.confirmed = True

    # -- OF-2 / OF-3: the order's events, one at a time ------------------------------------------------------

    def fulfilled(self) -> bool:
        """Received, and installed too when an installation was planned (an installed order was received,
        even if no ``delivered`` event ever comes)."""
        return d.Milestone.INSTALL in self.done or (
            d.Milestone.DELIVERY in self.done and d.Milestone.INSTALL not in self.plan
        )

    def fulfilled_at(self) -> datetime:
        """When the order was received, or installed if that came later: OF-4's 24 h count from here."""
        return max(self.done[m] for m in (d.Milestone.DELIVERY, d.Milestone.INSTALL) if m in self.done)

    async def track(self, until: Callable[[], bool]) -> None:
        """Handles queued events in arrival order until none is left and ``until`` holds."""
        while self.inbox or not until():
            if self.closing:
                raise CaseClosing
            if not self.inbox:
                await self.park(lambda: bool(self.inbox), timeout=None)
                continue
            event, received = self.inbox.pop(0)
            await self.handle(event, received)

    async def handle(self, e: d.ReceivedEvent, received: datetime) -> None:
        record: dict[str, Any] = {}
        if e.type is EventType.SCHEDULED:
            assert e.milestone is not None and e.planned_at is not None
            self.plan[e.milestone] = e.planned_at
            self.replanned += 1
        elif e.type in d.STATUS_EVENTS:
            milestone, status = d.STATUS_EVENTS[e.type]
            self.done[milestone] = e.occurred_at or received
            # Events may arrive out of order: the status only moves forward.
            if STATUS_RANK.index(status) > STATUS_RANK.index(self.status):
                self.status = status
            record["order_status"] = self.status.value
        elif e.type is EventType.EXCEPTION:
            assert e.kind is not None
            self.exceptions.append(f"{label(e.kind)}：{e.detail}")
            record["exception"] = "\n".join(self.exceptions)
        payload = {**e.model_dump(mode="json", exclude_none=True), "received_at": received.isoformat()}
        await self._save(
            f"order_{e.type}", actor=e.source, payload=payload, record={**record, **self.columns()}
        )
        if e.type is EventType.DELAY_EXPECTED and e.milestone not in self.done:
            await self.warn_of_delay(e)
        elif e.type is EventType.EXCEPTION:
            await self.handle_exception(e, received)

    async def warn_of_delay(self, e: d.ReceivedEvent) -> None:
        """OF-2: the customer hears of a likely delay 48 h before the milestone, with reason and new date."""
        assert e.milestone is not None and e.new_date is not None
        planned = self.plan.get(e.milestone, e.new_date)
        self.delay, self.delay_warning = e, None
        self.replanned += 1  # no "coming tomorrow" notice for a milestone that is being warned about
        context = {**self.facts(), "milestone": e.milestone.value, "reason": e.reason, "new_date": e.new_date}
        # The deadline lies the policy's advance before the milestone; none left: the step opens breached.
        await self.run_and_tell(
            Step.DELAY_WARNING,
            until=lambda: self.delay_warning is not None,
            before=planned,
            tell=lambda: self.steps.notify(
                "delay_expected", recipient_role=Role.LOGISTICS_COORDINATOR, context=context
            ),
        )
        w = self.delay_warning
        assert w is not None
        self.delay = None
        await self.steps.notify(
            "delay_warning",
            audience="customer",
            context={**context, "reason": w.reason, "new_date": w.new_date, "message": w.message},
        )
        await self._replan(e.milestone, w.new_date, reason=w.reason)

    async def handle_exception(self, e: d.ReceivedEvent, reported: datetime) -> None:
        """OF-3: respond within 1 h and agree a resolution within 4 h, both counted from the report."""
        self.acknowledged, self.resolution = None, None
        context = {**self.facts(), "kind": e.kind, "exception": e.detail}
        await self.run_and_tell(
            Step.EXCEPTION_RESPONSE,
            until=lambda: self.acknowledged is not None,
            since=reported,
            tell=lambda: self.steps.notify(
                "order_exception", recipient_role=Role.ORDER_SPECIALIST, context=context
            ),
        )
        await self.steps.run(
            Step.EXCEPTION_RESOLUTION, until=lambda: self.resolution is not None, since=reported
        )
        r = self.resolution
        assert r is not None
        await self.steps.notify(
            "exception_resolved",
            audience="customer",
            context={
                **self.facts(),  # the address may be the new one
                "kind": e.kind,
                "exception": e.detail,
                "resolution": r.resolution,
                "solution": r.detail,
                "new_date": r.new_date,
            },
        )
        if r.new_date is not None:
            await self._replan(r.milestone or self._next_milestone(), r.new_date, reason=r.detail)

    async def _replan(self, milestone: d.Milestone, at: datetime, *, reason: str) -> None:
        self.plan[milestone] = at
        self.replanned += 1
        await self._save(
            "milestone_replanned",
            payload={"milestone": milestone.value, "planned_at": at.isoformat(), "reason": reason},
            record=self.columns(),
        )

    def _next_milestone(self) -> d.Milestone:
        pending = [m for m in d.MILESTONE_ORDER if m in self.plan and m not in self.done]
        return pending[0] if pending else d.Milestone.DELIVERY

    # -- OF-2: the customer hears of each milestone a day ahead ----------------------------------------------

    async def milestone_notices(self) -> None:
        """The policy's advance (24 h) before each planned milestone, once per planned date. A plain timer
        beside the steps (not ``park``, which belongs to the step the main line waits in)."""
        advance = self.steps.rule_for(Step.MILESTONE_NOTICE).target
        assert advance is not None
        # No dates (nor an address still in doubt) before the customer has the confirmed order: a notice
        # already due goes right after the confirmation.
        await workflow.wait_condition(lambda: self.confirmed or not self.tracking)
        while self.tracking:
            version = self.replanned
            upcoming = self._next_notice()
            wait = None if upcoming is None else upcoming[1] - advance - workflow.now()
            if wait is None or wait > timedelta(0):
                try:
                    await workflow.wait_condition(partial(self._moved_since, version), timeout=wait)
                    continue
                except TimeoutError:
                    if self._next_notice() != upcoming:
                        continue
            assert upcoming is not None
            milestone, planned = upcoming
            self.noticed.add(_notice_key(milestone, planned))
            when = {"milestone": milestone.value, "planned_at": planned.isoformat()}
            await self.steps.notify("milestone_notice", audience="customer", context={**self.facts(), **when})
            await self.steps.record("milestone_notice_sent", payload=when)

    def _moved_since(self, version: int) -> bool:
        return self.replanned != version or not self.tracking

    def _next_notice(self) -> tuple[d.Milestone, datetime] | None:
        now = workflow.now()
        warned_of = self.delay.milestone if self.delay else None
        due = [
            (at, m)
            for m, at in self.plan.items()
            if at > now and m not in self.done and m != warned_of and _notice_key(m, at) not in self.noticed
        ]
        if not due:
            return None
        at, milestone = min(due)
        return milestone, at

    async def _stop(self, notices: asyncio.Task[None]) -> None:
        self.tracking = False
        await notices

    # -- helpers --------------------------------------------------------------------------------------------

    async def run_and_tell(self, step: Step, *, tell: Callable[[], Awaitable[None]], **run: Any) -> None:
        """Runs ``step`` and, as soon as it is open (its deadline known), tells whoever has to act on it."""
        task = asyncio.create_task(self.steps.run(step, **run))

        def opened() -> bool:
            return self.steps.current is not None and self.steps.current.step is step

        await workflow.wait_condition(lambda: task.done() or opened())
        if not task.done():
            await tell()
        await task

    def facts(self) -> dict[str, Any]:
        """The order's key facts, for the messages."""
        keys = (
            "order_no",
            "model",
            "quantity",
            "amount",
            "payment_status",
            "address",
            "contact",
            "milestones",
        )
        return {k: self.record_view.get(k) for k in keys}

    def columns(self) -> dict[str, Any]:
        return d.milestone_columns(self.plan, self.done)

    async def _save(
        self, kind: str, *, payload: dict[str, Any], record: dict[str, Any], actor: str = "system"
    ) -> None:
        self.record_view.update(record)
        await self.steps.record(kind, actor=actor, payload=payload, record=record)

    async def _act(self, name: str, payload: BaseModel, record: dict[str, Any] | None = None) -> CaseView:
        self.record_view.update(record or {})
        return await self.act(name, payload, record)

    # -- events (signal) and staff actions (Updates), each with its validator ---------------------------------

    @workflow.signal
    def order_event(self, e: d.ReceivedEvent) -> None:
        """An order event, already stored; a resend of one received before changes nothing."""
        if e.event_id in self.seen or self.state is CaseState.CLOSED:
            return
        self.seen.add(e.event_id)
        self.inbox.append((e, workflow.now()))

    @workflow.update
    async def record_order_event(self, e: d.StaffOrderEvent) -> CaseView:
        """Staff enter an event by hand. It does not complete the open step, so it answers at once (no act())."""
        event = d.ReceivedEvent(
            **e.model_dump(exclude={"actor"}),
            event_id=self.next_event_key("order_event"),
            source=f"staff:{e.actor}",
        )
        await workflow.execute_activity_method(
            OrderActivities.store_event,
            StoredEvent(
                event_id=event.event_id,
                order_no=self.record_view["order_no"],
                case_number=self.number,
                type=event.type.value,
                payload=e.model_dump(mode="json", exclude={"actor"}, exclude_none=True),
                source=event.source,
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        self.order_event(event)
        return self.view()

    @record_order_event.validator
    def _check_order_event(self, e: d.StaffOrderEvent) -> None:
        self.check("record_order_event")

    @workflow.update
    async def confirm_order(self, c: d.OrderConfirmation) -> CaseView:
        self.confirmation = c
        return await self._act("confirm_order", c)

    @confirm_order.validator
    def _check_confirm(self, c: d.OrderConfirmation) -> None:
        self.check("confirm_order")

    @workflow.update
    async def clear_doubt(self, c: d.DoubtCleared) -> CaseView:
        self.doubt_answer = c
        return await self._act("clear_doubt", c, c.corrections())

    @clear_doubt.validator
    def _check_doubt(self, c: d.DoubtCleared) -> None:
        self.check("clear_doubt")

    @workflow.update
    async def warn_delay(self, w: d.DelayWarning) -> CaseView:
        self.delay_warning = w
        return await self._act("warn_delay", w)

    @warn_delay.validator
    def _check_delay(self, w: d.DelayWarning) -> None:
        self.check("warn_delay")

    @workflow.update
    async def acknowledge_exception(self, a: d.ExceptionAck) -> CaseView:
        self.acknowledged = a
        return await self._act("acknowledge_exception", a)

    @acknowledge_exception.validator
    def _check_acknowledge(self, a: d.ExceptionAck) -> None:
        self.check("acknowledge_exception")

    @workflow.update
    async def resolve_exception(self, r: d.ExceptionResolution) -> CaseView:
        self.resolution = r
        self.exceptions[-1] += f" → {label(r.resolution)}：{r.detail}"
        record: dict[str, Any] = {"exception": "\n".join(self.exceptions)}
        if r.new_address:
            record["address"] = r.new_address
        return await self._act("resolve_exception", r, record)

    @resolve_exception.validator
    def _check_resolve(self, r: d.ExceptionResolution) -> None:
        self.check("resolve_exception")
