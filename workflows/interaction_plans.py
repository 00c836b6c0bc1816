"""The monthly interaction plan (SPEC R-1, R-5, R-6; seeds 001 §四, 004 §三.3).

On the 1st of every month a Temporal Schedule starts ``InteractionPlanWorkflow``. It walks the customers in
batches: each batch activity reserves that month's planned touches in the touch ledger under the shared cap,
and adds a reactivation survey for a long non-responder (R-5). Every callback touch becomes an owner task with
a due date (``open_care_task``, kind ``plan_touch``). Then the messages go out on their day: the content, the
benefit notices and the surveys at once, each holiday greeting on its holiday (the workflow sleeps until then).
Everything is keyed by month, entry and customer, so running a month again opens and sends nothing twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from activities.interaction_plans import PlanActivities
    from domain import interaction_plans as d
    from domain.i18n import label
    from workflows.care import open_care_task
    from workflows.schedules import Recurring
    from workflows.steps import ACTIVITY_TIMEOUT

# A planning batch is one statement; a send batch hands up to SendDue.size messages over, with a heartbeat each.
PLAN_TIMEOUT = timedelta(minutes=5)
SEND_TIMEOUT = timedelta(minutes=10)
SEND_HEARTBEAT = timedelta(minutes=1)
# Set by a Temporal Schedule on the runs it starts: the nominal time, also for a late (caught-up) run.
SCHEDULED_AT = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")


@workflow.defn
class InteractionPlanWorkflow:
    @workflow.run
    async def run(self, req: d.PlanRequest) -> d.PlanResult:
        at = req.at or workflow.info().typed_search_attributes.get(SCHEDULED_AT) or workflow.now()
        # The plan's own clock: ``at`` moves on with the workflow's time, so a month planned for another
        # date (a manual re-run) sends each greeting relative to that date.
        offset = req.offset if req.offset is not None else at - workflow.now()
        items, complete = d.month_plan(at)
        month = d.month_label(d.month_of(at))
        done = req.done or d.PlanResult(month=month, holidays_complete=complete)

        after = req.after
        while True:
            batch = await workflow.execute_activity_method(
                PlanActivities.plan_batch,
                d.PlanBatch(
                    month=month,
                    at=at,
                    items=items,
                    after=after,
                    size=req.batch,
                    customer_ids=req.customer_ids,
                ),
                start_to_close_timeout=PLAN_TIMEOUT,
            )
            done = done.add(batch)
            done.tasks += await self.open_tasks(batch.callbacks)
            if batch.last is None or batch.customers < req.batch:
                break
            after = batch.last
            if workflow.info().is_continue_as_new_suggested():
                # A very large customer base: carry on in a fresh history.
                workflow.continue_as_new(
                    req.model_copy(update={"at": at, "after": after, "offset": offset, "done": done})
                )

        for when in sorted({at} | {i.at for i in items if i.kind in d.MESSAGE_KINDS}):
            wait = when - (workflow.now() + offset)
            if wait > timedelta(0):
                await workflow.sleep(wait)
            await self.send(f"plan:{month}", when, done)
        return done

    async def open_tasks(self, callbacks: list[d.CallbackTouch]) -> int:
        """R-1: each planned callback is a task for the customer's owner, due as the plan says."""
        for cb in callbacks:
            await open_care_task("plan_touch", cb.customer_id, due=cb.due, note=label(cb.entry), key=cb.key)
        if callbacks:
            await workflow.execute_activity_method(
                PlanActivities.touches_done,
                [cb.key for cb in callbacks],
                start_to_close_timeout=ACTIVITY_TIMEOUT,
            )
        return len(callbacks)

    async def send(self, source: str, until: datetime, done: d.PlanResult) -> None:
        after = 0
        while True:
            req = d.SendDue(source=source, until=until, after=after)
            sent = await workflow.execute_activity_method(
                PlanActivities.send_due,
                req,
                start_to_close_timeout=SEND_TIMEOUT,
                heartbeat_timeout=SEND_HEARTBEAT,
            )
            done.messages += sent.sent
            done.failed += sent.failed
            if sent.last is None or sent.sent + sent.failed < req.size:
                return
            after = sent.last


WORKFLOWS: list[type] = [InteractionPlanWorkflow]
# Crons in Asia/Shanghai (workflows/schedules.py): before the monthly push at 09:00, so the plan's touches
# are reserved under the shared cap first.
RECURRING: list[Recurring] = [
    Recurring(
        id="interaction-plan-monthly",
        workflow=InteractionPlanWorkflow.run,
        arg=d.PlanRequest(),
        cron=d.PLAN_CRON,
        note="R-1/R-5: 每月 1 日 08:00 按客户分类生成互动计划（回访任务、权益、资讯、案例、节日问候）与再激活调研",
    ),
]
