"""Value-added push (SPEC VP-1..VP-3, R-6, seed 003 §2.5), top to bottom as the manual lists its steps.

A campaign is one case: push one service to its audience (VP-1/VP-2), wait out the effect window, record
the figures (VP-3), and let customer ops decide in the effect analysis whether the service stays. Two
scheduled workflows start campaigns: the monthly planner (one per active tag → service row) and the daily
occasions (birthdays and renewals). Their campaign numbers are derived from the period, so a repeated run
finds the campaigns it started before instead of pushing again. A campaign outlives the run that started
it, so it is started as a workflow of its own (by an activity), not as a child.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from temporalio import workflow
from temporalio.common import SearchAttributeKey
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.campaigns import CampaignActivities
    from domain import value_push as d
    from domain.i18n import label
    from domain.models import CaseRef, CaseView, Process, Step
    from workflows.case import INVALID, CaseWorkflow
    from workflows.schedules import Recurring
    from workflows.steps import ACTIVITY_TIMEOUT, CaseClosing

# A send batch writes up to SEND_BATCH deliveries and sends their messages; it heartbeats after each one.
SEND_TIMEOUT = timedelta(minutes=10)
SEND_HEARTBEAT = timedelta(minutes=1)
# Periods are China Standard Time days and months (no daylight saving).
_CST = timezone(timedelta(hours=8), "CST")
# Set by a Temporal Schedule on the runs it starts: the nominal time, also for a late (caught-up) run.
SCHEDULED_AT = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")


@workflow.defn
class ValuePushWorkflow(CaseWorkflow):
    ACTIONS = d.ACTIONS

    def __init__(self) -> None:
        super().__init__()
        self.sent: d.BatchSent | None = None
        self.metrics: d.PushMetrics | None = None
        self.analysis: d.EffectAnalysis | None = None

    @workflow.run
    async def run(self, start: d.ValuePushStart) -> str:
        intake = start.intake
        self.owner = intake.owner
        await self.open_case(
            start.case, subject=f"{label(intake.tag)} · {intake.service}", record=intake.record()
        )
        try:
            at = workflow.now()
            self.sent = await self.push(intake, at)
            if not self.sent.delivered:
                return await self.finish(d.OUTCOME_NO_AUDIENCE)
            # VP-3: three days to collect opens, clicks, inquiries and conversions.
            window = self.steps.rule_for(Step.EFFECT_WINDOW).target
            assert window is not None
            await self.effect_window(at + window)
            await self.measure()
            await self.steps.run(Step.EFFECT_ANALYSIS, until=lambda: self.analysis is not None)
            assert self.analysis is not None
            return await self.finish(
                self.analysis.decision.value, actor=self.analysis.actor, note=self.analysis.improvement_note
            )
        except CaseClosing:
            return await self.closed_by_staff()

    async def push(self, intake: d.ValuePushIntake, at: datetime) -> d.BatchSent:
        """VP-1/VP-2: the audience in batches, each customer on their channel, under the frequency cap (R-6)."""
        window = self.steps.rule_for(Step.EFFECT_WINDOW).target
        assert window is not None
        total, after = d.BatchSent(), 0
        while True:
            batch = await workflow.execute_activity_method(
                CampaignActivities.send_batch,
                d.SendBatch(number=self.number, intake=intake, at=at, after=after),
                start_to_close_timeout=SEND_TIMEOUT,
                heartbeat_timeout=SEND_HEARTBEAT,
            )
            total = total.add(batch)
            # Staff closing the case stop a large campaign between batches (the close answers once it ends).
            if batch.last is None or batch.customers < d.SEND_BATCH or self.closing:
                break
            after = batch.last
        ends = at + window
        record = {"pushed_at": at, "count": total.delivered, "capped": total.capped, "window_ends_at": ends}
        self.record_view.update(
            {k: v.isoformat() if isinstance(v, datetime) else v for k, v in record.items()}
        )
        await self.steps.record(
            "push_sent",
            payload=total.model_dump(mode="json", exclude={"last", "customers"}),
            record=record,
            # While the window runs the case list shows it, and its end as the next deadline.
            case_patch={"current_step": Step.EFFECT_WINDOW, "next_deadline": ends}
            if total.delivered
            else None,
        )
        return total

    async def effect_window(self, ends: datetime) -> None:
        """A plain timer, not a deadline: nobody owes anything while the customers respond."""
        while workflow.now() < ends:
            try:
                await self.park(lambda: False, timeout=ends - workflow.now())
            except TimeoutError:
                return
            if self.closing:
                raise CaseClosing

    async def measure(self) -> None:
        self.metrics = await workflow.execute_activity_method(
            CampaignActivities.measure, self.number, start_to_close_timeout=ACTIVITY_TIMEOUT
        )
        self.record_view.update(self.metrics.record())
        await self.steps.record(
            "effect_measured",
            payload=self.metrics.model_dump(mode="json"),
            record={**self.metrics.record(), "metrics_at": workflow.now()},
        )

    # -- staff actions (Updates), each with its validator ------------------------------------------------------

    @workflow.update
    async def record_analysis(self, a: d.EffectAnalysis) -> CaseView:
        self.analysis = a
        return await self.act(
            "record_analysis", a, record={"improvement_note": a.improvement_note, "decision": a.decision}
        )

    @record_analysis.validator
    def _check_analysis(self, a: d.EffectAnalysis) -> None:
        self.check("record_analysis")
        metrics = self.metrics
        if a.decision is d.Decision.KEEP and metrics is not None and metrics.meets_target is False:
            # VP-3: 对低响应率服务类型进行优化或替换.
            raise ApplicationError(
                f"the response rate {metrics.response_rate or 0:.0%} is under the {d.RESPONSE_TARGET:.0%}"
                " target: revise or replace the service",
                "decision",
                type=INVALID,
            )


# -- the schedules ----------------------------------------------------------------------------------------------


def _local_day(at: datetime | None) -> date:
    """The China day a run stands for: the one asked for, else the schedule's nominal time, else now."""
    when = at or workflow.info().typed_search_attributes.get(SCHEDULED_AT) or workflow.now()
    return when.astimezone(_CST).date()


async def _start(planned: d.Planned, number: str, intake: d.ValuePushIntake) -> None:
    started = await workflow.execute_activity_method(
        CampaignActivities.start_campaign,
        d.ValuePushStart(
            case=CaseRef(number=number, process=Process.VALUE_PUSH, actor="schedule"), intake=intake
        ),
        start_to_close_timeout=ACTIVITY_TIMEOUT,
    )
    (planned.started if started else planned.existing).append(number)


async def _services(kind: d.PushType) -> list[d.TagServiceRow]:
    return await workflow.execute_activity_method(
        CampaignActivities.services, kind, start_to_close_timeout=ACTIVITY_TIMEOUT
    )


@workflow.defn
class MonthlyPushPlanner:
    """VP-2 每月集中推送1次: one campaign per active tag → service row."""

    @workflow.run
    async def run(self, req: d.PlanRequest) -> d.Planned:
        month = _local_day(req.at).replace(day=1)
        planned = d.Planned()
        for row in await _services(d.PushType.MONTHLY):
            await _start(planned, d.monthly_number(month, row.id), row.intake())
        return planned


@workflow.defn
class PushOccasionsWorkflow:
    """VP-2 重要节点额外推送: today's birthdays (R-4) and the contracts ending in 30 days (R-3), each with the
    first active service row of its kind."""

    @workflow.run
    async def run(self, req: d.OccasionRequest) -> d.Planned:
        day = _local_day(req.at)
        found = await workflow.execute_activity_method(
            CampaignActivities.occasions,
            d.OccasionQuery(day=day, contract_end=day + req.renewal_ahead),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        planned = d.Planned()
        for kind, customers in ((d.PushType.BIRTHDAY, found.birthday), (d.PushType.RENEWAL, found.renewal)):
            rows = await _services(kind) if customers else []
            if rows:
                await _start(planned, d.occasion_number(day, kind), rows[0].intake(customer_ids=customers))
        return planned


# Workflows besides the campaign itself, and their schedules (crons in Asia/Shanghai, workflows/schedules.py).
WORKFLOWS: list[type] = [MonthlyPushPlanner, PushOccasionsWorkflow]
RECURRING: list[Recurring] = [
    Recurring(
        id="value-push-monthly",
        workflow=MonthlyPushPlanner.run,
        arg=d.PlanRequest(),
        cron="0 9 1 * *",
        note="VP-2: 每月 1 日 09:00 按客户标签集中推送增值服务",
    ),
    Recurring(
        id="value-push-occasions",
        workflow=PushOccasionsWorkflow.run,
        arg=d.OccasionRequest(),
        cron="30 9 * * *",
        note="VP-2: 每日 09:30 生日（R-4）与合同到期前 30 天续约（R-3）额外推送",
    ),
]
