"""The customer journey (SPEC R-2, R-3, R-4, R-7; seeds 001 §四, 000 §(二)): one long-lived workflow per customer.

Workflow id ``journey-{customer_id}``. Other parts of Careflow tell it what happened by signal — ``purchased``
(an order or transaction), ``interacted``, ``spend_dropped`` (T-4's two-month 50% drop), ``tier_changed``,
``profile_changed`` — and it keeps a timer to the next occasion of the customer's calendar:

- the first purchase: the welcome guide to the customer at once (R-2, within 24 h) and a ``welcome_callback``
  task for the owner (48 h);
- the renewal reminder the policy's ``renewal_notice`` (30 days) before the contract ends: the reminder to
  the customer and a ``renewal_follow_up`` task (R-3);
- the birthday, the company anniversary and each year of partnership (R-4): a ``milestone_care`` task, and a
  greeting for the anniversary and the partnership (the birthday message is the value-added push's birthday
  campaign, so the customer is not greeted twice);
- a watch customer without a purchase for the policy's ``churn_watch`` (3 months), or a spend drop: a
  ``retention`` task (R-7).

Dates come from an activity (``CareActivities.customer_facts``), read again every week, on ``profile_changed`` and
before an occasion fires. The workflow continues as new after a year or a few hundred events, carrying
its state.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.care import CareActivities, EarlierPurchase, JourneyRow
    from activities.changes import Notice
    from activities.notify import NotifyActivities
    from activities.touches import TouchActivities
    from domain import care as c
    from domain.models import Tier
    from workflows.care import open_care_task
    from workflows.steps import ACTIVITY_TIMEOUT, NOTIFY_RETRY


def journey_id(customer_id: int) -> str:
    return f"journey-{customer_id}"


# Timers fire on whole milliseconds while the instants they wait for (a purchase time plus 90 days) may carry
# microseconds: whatever falls due within this slack of now counts as due, so a timer never re-arms for ~0.
SLACK = timedelta(seconds=1)


def due(at: datetime) -> bool:
    return at <= workflow.now() + SLACK


@workflow.defn
class CustomerJourneyWorkflow:
    def __init__(self) -> None:
        self.customer_id = 0
        self.state = c.JourneyState()
        self.facts: c.CustomerFacts | None = None
        self.read_at: datetime | None = None
        self.pending: list[c.PendingSignal] = []
        self.run_started_at: datetime | None = None
        self.events_at_start = 0
        self.next: c.Planned | None = None
        self.saved: JourneyRow | None = None

    @workflow.run
    async def run(self, start: c.JourneyStart) -> str:
        self.customer_id = start.customer_id
        self.state = start.state or c.JourneyState()
        self.pending = [*start.pending, *self.pending]
        self.run_started_at = workflow.now()
        self.events_at_start = self.state.events
        await self.read_facts()
        while True:
            await self.handle_signals()
            if not self.on_file():
                return "ended"  # signals left unhandled concern a record that is no more
            await self.fire_due()
            if not self.on_file():
                return "ended"
            await self.save()
            if self.should_continue():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    c.JourneyStart(
                        customer_id=self.customer_id,
                        state=self.carried(),
                        pending=self.pending,
                    )
                )
            assert self.read_at is not None
            wake = min(self.read_at + c.FACTS_REFRESH, self.run_started_at + c.RUN_LENGTH)
            if self.next is not None and self.next.at < wake:
                wake = self.next.at
            delay = wake - workflow.now()
            if delay > SLACK:  # within the slack it is due: handled above or read below
                try:
                    await workflow.wait_condition(lambda: bool(self.pending), timeout=delay)
                    continue
                except TimeoutError:
                    pass
            if due(self.read_at + c.FACTS_REFRESH):
                await self.read_facts()

    def on_file(self) -> bool:
        """False once the customer is gone or merged into another record (whose own journey goes on)."""
        return self.facts is not None and self.facts.merged_into is None

    # -- signals: queued by the handlers, handled one at a time by the main loop --------------------------------

    @workflow.signal
    def purchased(self, amount: str, at: str) -> None:
        self.pending.append(c.PendingSignal(name="purchased", args=[amount, at]))

    @workflow.signal
    def interacted(self, kind: str) -> None:
        self.pending.append(c.PendingSignal(name="interacted", args=[kind]))

    @workflow.signal
    def spend_dropped(self) -> None:
        self.pending.append(c.PendingSignal(name="spend_dropped"))

    @workflow.signal
    def tier_changed(self, tier: str) -> None:
        self.pending.append(c.PendingSignal(name="tier_changed", args=[tier]))

    @workflow.signal
    def profile_changed(self) -> None:
        """The customer's dates or owner were edited: read them again now."""
        self.pending.append(c.PendingSignal(name="profile_changed"))

    @workflow.query
    def view(self) -> c.JourneyView:
        return c.JourneyView(
            customer_id=self.customer_id, state=self.state, next=self.next, run_started_at=self.run_started_at
        )

    async def handle_signals(self) -> None:
        while self.pending and self.on_file():
            signal = self.pending.pop(0)
            now = workflow.now()
            if signal.name == "purchased":
                await self.on_purchase(c.parse_instant(signal.args[1], now))
            elif signal.name == "interacted":
                self.state.interactions += 1
                self.state.last_interaction_at, self.state.last_interaction = now, signal.args[0][:40]
            elif signal.name == "spend_dropped":
                # R-7 / T-4: spend fell 50% two months running; one retention task a day at most.
                await self.raise_task(
                    c.CareKind.RETENTION,
                    c.Occasion.SPEND_DROP,
                    key=f"drop:{c.day_of(now).isoformat()}",
                    note="消费连续两个月下降 50%，请联系客户了解原因并挽留",
                )
            elif signal.name == "tier_changed":
                # Effective at once; the approved tier on file is read again with the other facts.
                if signal.args[0] in {t.value for t in Tier}:
                    self.state.tier = Tier(signal.args[0])
            elif signal.name == "profile_changed":
                await self.read_facts()
            self.state.events += 1  # handled

    async def on_purchase(self, at: datetime) -> None:
        state = self.state
        state.purchases += 1
        if state.last_purchase_at is None or at > state.last_purchase_at:
            state.last_purchase_at = at
        if state.welcomed_at is not None:
            return
        if state.first_purchase_at is None:
            earlier = await workflow.execute_activity_method(
                CareActivities.earlier_purchase,
                EarlierPurchase(customer_id=self.customer_id, before=at),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
            )
            state.first_purchase_at = earlier or at
            if earlier is not None:
                return  # a customer who bought before the journey began: no welcome for a repeat purchase
        if state.first_purchase_at != at:
            return
        # the welcome guide within 24 h of the first transaction (at once), the callback within 48 h.
        await self.tell_customer("welcome", key="welcome", context={})
        state.welcomed_at = workflow.now()
        await self.raise_task(
            c.CareKind.WELCOME_CALLBACK,
            c.Occasion.FIRST_PURCHASE,
            key="welcome",
            note="首次交易后回访：确认使用情况，收集初步反馈，介绍试用优惠",
        )

    # -- occasions on the customer's calendar ---------------------------------------------------------------

    async def fire_due(self) -> None:
        """Handles every occasion that is due; the dates are read again first, they may have been edited."""
        if self.facts is None:
            return
        if any(due(p.at) for p in c.planned(self.facts, self.state, workflow.now())):
            await self.read_facts()
        while self.facts is not None:
            planned = c.planned(self.facts, self.state, workflow.now())
            self.next = planned[0] if planned else None
            if self.next is None or not due(self.next.at):
                return
            await self.fire(self.next)
            self.state.done = [*self.state.done, self.next.key][-c.KEEP :]
            self.state.events += 1

    async def fire(self, occasion: c.Planned) -> None:
        facts = self.facts
        assert facts is not None
        if occasion.occasion is c.Occasion.CONTRACT_END:
            # a service message (not capped): the reminder with the renewal guide; the owner follows up.
            await self.tell_customer(
                "reminder", key=occasion.key, context={"topic": "合同续约", "when": occasion.detail}
            )
            await self.raise_task(
                c.CareKind.RENEWAL_FOLLOW_UP,
                c.Occasion.CONTRACT_END,
                key=occasion.key,
                note=f"合同将于 {occasion.detail} 到期：续约提醒已发送，请跟进续约",
            )
        elif occasion.occasion is c.Occasion.QUIET:
            await self.raise_task(
                c.CareKind.RETENTION,
                c.Occasion.QUIET,
                key=occasion.key,
                note=f"观察客户自 {occasion.detail} 起无消费：流失预警，请联系客户了解需求并挽留",
            )
        else:
            words = {
                c.Occasion.BIRTHDAY: "生日",
                c.Occasion.ANNIVERSARY: f"公司成立 {occasion.detail} 周年",
                c.Occasion.PARTNERSHIP: f"合作满 {occasion.detail} 周年",
            }[occasion.occasion]
            # The birthday greeting is the value-added push's birthday campaign (docs/journeys.md); a greeting
            # is a touch, so it goes out only under the customer's monthly cap.
            if occasion.occasion is not c.Occasion.BIRTHDAY and await self.reserve_touch(
                "greeting", occasion
            ):
                await self.tell_customer("care", key=occasion.key, context={"occasion": words})
            await self.raise_task(
                c.CareKind.MILESTONE_CARE,
                occasion.occasion,
                key=occasion.key,
                note=f"{words}：致电祝贺或寄送小礼物",
            )

    # -- effects ------------------------------------------------------------------------------------------

    async def raise_task(self, kind: c.CareKind, occasion: c.Occasion, *, key: str, note: str) -> None:
        number = await open_care_task(
            kind.value, self.customer_id, note=note, key=key, occasion=occasion.value
        )
        if number not in self.state.tasks:
            self.state.tasks = [*self.state.tasks, number][-c.KEEP :]

    async def reserve_touch(self, kind: str, occasion: c.Planned) -> bool:
        """R-6: a marketing-like message takes a place under the customer's monthly cap first (H4b's ledger);
        False: the cap is reached and the message is skipped (the owner's task still opens)."""
        allowed = await workflow.execute_activity_method(
            TouchActivities.reserve_touch,
            args=[
                self.customer_id,
                kind,
                "journey",
                f"journey:{self.customer_id}:{occasion.key}",
                workflow.now(),
            ],
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        if not allowed:
            workflow.logger.info("journey %s: %s over the frequency cap", self.customer_id, occasion.key)
        return bool(allowed)

    async def tell_customer(self, purpose: str, *, key: str, context: dict[str, Any]) -> None:
        """A message to the customer through the notifier (templates per purpose, tier and channel, COM-2),
        keyed by the occasion so a repeat never sends it twice."""
        notice = Notice(
            key=f"{journey_id(self.customer_id)}:{key}:{purpose}",
            purpose=purpose,
            audience="customer",
            context={"customer_id": self.customer_id, **context},
        )
        try:
            await workflow.execute_activity_method(
                NotifyActivities.notify,
                notice,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=NOTIFY_RETRY,
            )
        except ActivityError as err:
            # The row is written before sending: the outbox shows the failure; the journey goes on.
            workflow.logger.warning("journey %s: %s not delivered: %s", self.customer_id, purpose, err.cause)

    async def read_facts(self) -> None:
        self.facts = await workflow.execute_activity_method(
            CareActivities.customer_facts, self.customer_id, start_to_close_timeout=ACTIVITY_TIMEOUT
        )
        self.read_at = workflow.now()
        if self.facts is not None:
            self.state.tier = self.facts.tier  # the approved tier on file wins over an older signal
            planned = c.planned(self.facts, self.state, workflow.now())
            self.next = planned[0] if planned else None

    async def save(self) -> None:
        """Writes where the journey stands when that changed (the customer page reads it)."""
        state, upcoming = self.state, self.next
        row = JourneyRow(
            customer_id=self.customer_id,
            first_purchase_at=state.first_purchase_at,
            last_purchase_at=state.last_purchase_at,
            welcomed_at=state.welcomed_at,
            purchases=state.purchases,
            interactions=state.interactions,
            last_interaction_at=state.last_interaction_at,
            next_occasion=upcoming.occasion.value if upcoming else None,
            next_at=upcoming.at if upcoming else None,
            runs=state.runs,
        )
        if row == self.saved:
            return
        await workflow.execute_activity_method(
            CareActivities.save_journey, row, start_to_close_timeout=ACTIVITY_TIMEOUT
        )
        self.saved = row

    # -- continue-as-new ----------------------------------------------------------------------------------

    def should_continue(self) -> bool:
        assert self.run_started_at is not None
        return (
            self.state.events - self.events_at_start >= c.EVENTS_PER_RUN
            or due(self.run_started_at + c.RUN_LENGTH)
            or workflow.info().is_continue_as_new_suggested()
        )

    def carried(self) -> c.JourneyState:
        return self.state.model_copy(update={"runs": self.state.runs + 1})
