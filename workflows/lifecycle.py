"""The quarterly lifecycle pass (C-5; 000 §(一) 活跃 / 沉睡 / 流失).

A Temporal Schedule starts one LifecycleRefreshWorkflow at the start of every quarter; its one activity
re-derives every customer's status in a single statement, so running it again changes nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.customers import CustomerActivities, LifecycleCounts
    from domain.models import Model
    from workflows.schedules import Recurring

REFRESH_TIMEOUT = timedelta(minutes=10)


class LifecycleRefreshStart(Model):
    at: datetime | None = None  # None: the workflow's start time


@workflow.defn
class LifecycleRefreshWorkflow:
    @workflow.run
    async def run(self, start: LifecycleRefreshStart) -> LifecycleCounts:
        return await workflow.execute_activity_method(
            CustomerActivities.refresh_lifecycles,
            start.at or workflow.now(),
            start_to_close_timeout=REFRESH_TIMEOUT,
        )


WORKFLOWS: list[type] = [LifecycleRefreshWorkflow]

# 02:00 Asia/Shanghai on the first day of each quarter, before the working day and the mid-month NPS round.
RECURRING: list[Recurring] = [
    Recurring(
        id="customer-lifecycle",
        workflow=LifecycleRefreshWorkflow.run,
        arg=LifecycleRefreshStart(),
        cron="0 2 1 1,4,7,10 *",
        note="C-5: 每季度重新判定客户生命周期（活跃/沉睡/流失），1/4/7/10 月 1 日 02:00",
    ),
]
