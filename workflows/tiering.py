"""Tier re-evaluation (T-4) and the follow-up of an approved tier change (T-3).

``TierEvaluationWorkflow`` is started by Temporal Schedules: VIP customers quarterly, the other tiers
half-yearly, and a monthly spend-drop check. Each run scores every customer set-based and opens a pending
review for each evaluated customer whose computed tier differs from the approved one; the spend-drop run
first records the customers whose spend dropped, reviews those, and tells their journeys.

``TierChangeWorkflow`` is started by the approval (api/tiering.py), workflow id ``tier-change-{review}``:
it tells the customer their new tier and its benefits through the notifier and signals the customer's
journey ``tier_changed(tier)``.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.steps import NOTIFY_RETRY  # a channel that is down: retried as for case notices

with workflow.unsafe.imports_passed_through():
    from activities.notify import NotifyActivities
    from activities.tier_reviews import (
        TIER_CHANGED,
        EvaluationRun,
        JourneySignal,
        SignalBatch,
        TierActivities,
        TierChangeNotice,
    )
    from domain.models import Tier
    from domain.tiering import ReviewCause, TierEvaluationResult, TierEvaluationStart
    from workflows.schedules import Recurring

# A million customers score in well under a minute (docs/tiering.md); the timeout leaves room for a
# pass waiting on another one's lock.
EVALUATION_TIMEOUT = timedelta(minutes=15)
SHORT = timedelta(minutes=1)
SIGNAL_BATCH_TIMEOUT = timedelta(minutes=10)
HEARTBEAT = timedelta(minutes=1)


@workflow.defn
class TierEvaluationWorkflow:
    @workflow.run
    async def run(self, start: TierEvaluationStart) -> TierEvaluationResult:
        at = start.as_of or workflow.now()
        result = TierEvaluationResult()
        month = None
        if start.cause is ReviewCause.SPEND_DROP:
            drops = await workflow.execute_activity_method(
                TierActivities.detect_spend_drops, at, start_to_close_timeout=EVALUATION_TIMEOUT
            )
            # Reviews and signals follow for every customer recorded for the month, not only the new ones:
            # a run that stopped half-way is completed by the next.
            result.spend_drops, month = drops.found, drops.month
        done = await workflow.execute_activity_method(
            TierActivities.evaluate_tiers,
            EvaluationRun(start=start, as_of=at, month=month),
            start_to_close_timeout=EVALUATION_TIMEOUT,
        )
        result.scored, result.reviews = done.scored, done.reviews
        if month is not None:
            while True:
                handled = await workflow.execute_activity_method(
                    TierActivities.signal_spend_drops,
                    SignalBatch(month=month, size=start.batch),
                    start_to_close_timeout=SIGNAL_BATCH_TIMEOUT,
                    heartbeat_timeout=HEARTBEAT,
                )
                result.signalled += handled
                if handled < start.batch:
                    break
        return result


@workflow.defn
class TierChangeWorkflow:
    @workflow.run
    async def run(self, req: TierChangeNotice) -> bool:
        """True once the customer was told (or their message failed: the outbox shows it) and the journey
        signalled; False if the review was not approved with a change after all (the approval rolled back)."""
        notice = await workflow.execute_activity_method(
            TierActivities.tier_change_notice, req, start_to_close_timeout=SHORT
        )
        if notice is None:
            return False
        try:
            await workflow.execute_activity_method(
                NotifyActivities.notify, notice, start_to_close_timeout=SHORT, retry_policy=NOTIFY_RETRY
            )
        except ActivityError as err:
            # The tier change stands; the outbox shows the message that could not be sent.
            workflow.logger.warning("tier change %s: the customer was not told: %s", req.review_id, err.cause)
        await workflow.execute_activity_method(
            TierActivities.signal_journey,
            JourneySignal(
                customer_id=int(notice.context["customer_id"]),
                signal=TIER_CHANGED,
                args=[str(notice.context["after"])],
            ),
            start_to_close_timeout=SHORT,
        )
        return True


WORKFLOWS: list[type] = [TierEvaluationWorkflow, TierChangeWorkflow]

_OTHERS = [Tier.KEY, Tier.NORMAL, Tier.WATCH]
# Crons in Asia/Shanghai (workflows/schedules.py), at night and an hour apart: each run scores every
# customer, and the runs that fall on the same day (1 January, 1 July) do not wait on each other.
RECURRING: list[Recurring] = [
    Recurring(
        id="tier-evaluation-vip",
        workflow=TierEvaluationWorkflow.run,
        arg=TierEvaluationStart(cause=ReviewCause.SCHEDULED, tiers=[Tier.VIP]),
        cron="0 2 1 1,4,7,10 *",
        note="T-4: VIP 客户每季度重评（1/4/7/10 月 1 日 02:00）",
    ),
    Recurring(
        id="tier-evaluation-others",
        workflow=TierEvaluationWorkflow.run,
        arg=TierEvaluationStart(cause=ReviewCause.SCHEDULED, tiers=_OTHERS),
        cron="0 3 1 1,7 *",
        note="T-4: 重点/普通/观察客户每半年重评（1/7 月 1 日 03:00）",
    ),
    Recurring(
        id="tier-spend-drop",
        workflow=TierEvaluationWorkflow.run,
        arg=TierEvaluationStart(cause=ReviewCause.SPEND_DROP),
        cron="0 4 1 * *",
        note="T-4: 连续 2 个月消费下降 50% 立即重评（每月 1 日 04:00 检查上两个月）",
    ),
]
