"""Monthly compliance sampling (T-7; 002 §四(四) 服务合规性抽查：每月抽查10%服务记录).

A Temporal Schedule starts ComplianceSampleWorkflow early on the 1st of every month; it draws the month
just ended through one activity. Drawing a month is idempotent (activities/compliance.py), so a re-run
or a manual draw of the same month beforehand changes nothing.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.compliance import ComplianceActivities
    from domain.compliance import ComplianceStart, DrawRequest, DrawResult, month_to_draw
    from workflows.schedules import Recurring

DRAW_TIMEOUT = timedelta(minutes=2)


@workflow.defn
class ComplianceSampleWorkflow:
    @workflow.run
    async def run(self, start: ComplianceStart) -> DrawResult:
        now = workflow.now()
        return await workflow.execute_activity_method(
            ComplianceActivities.draw_sample,
            DrawRequest(month=start.month or month_to_draw(now), at=now, actor="schedule"),
            start_to_close_timeout=DRAW_TIMEOUT,
        )


WORKFLOWS: list[type] = [ComplianceSampleWorkflow]

# Asia/Shanghai (workflows/schedules.py): 02:00 on the 1st, once the month's last cases have closed.
RECURRING: list[Recurring] = [
    Recurring(
        id="compliance-sample-monthly",
        workflow=ComplianceSampleWorkflow.run,
        arg=ComplianceStart(),
        cron="0 2 1 * *",
        note="T-7: 每月 1 日 02:00 抽查上月 10% 服务记录",
    ),
]
