"""Periodic NPS / CSAT survey rounds (SAT-2; 000 §(四) 主动调研：季度/年度在线问卷).

A Temporal Schedule starts one SurveyRoundWorkflow per round. It walks the active customers with a contact
in batches: each batch activity issues one survey per customer (keyed by round and customer) and sends its
signed link through the notifier. Running a round again therefore sends nothing new. The customer answers
on the same public page as the after-case survey (/s/{token}).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.surveys import SurveyActivities
    from domain.surveys import (
        RoundBatch,
        SurveyKind,
        SurveyRoundResult,
        SurveyRoundStart,
        round_label,
    )
    from workflows.schedules import Recurring

# A batch sends up to SurveyRoundStart.batch messages; a heartbeat after each one shows it is alive.
BATCH_TIMEOUT = timedelta(minutes=10)
BATCH_HEARTBEAT = timedelta(minutes=1)


@workflow.defn
class SurveyRoundWorkflow:
    @workflow.run
    async def run(self, start: SurveyRoundStart) -> SurveyRoundResult:
        at = start.at or workflow.now()
        label = start.round or round_label(start.kind, at)
        done = start.done or SurveyRoundResult(round=label, kind=start.kind)
        after = start.after
        while True:
            batch = await workflow.execute_activity_method(
                SurveyActivities.send_round_batch,
                RoundBatch(kind=start.kind, round=label, at=at, after=after, size=start.batch),
                start_to_close_timeout=BATCH_TIMEOUT,
                heartbeat_timeout=BATCH_HEARTBEAT,
            )
            done = done.add(batch)
            if batch.last is None or batch.customers < start.batch:
                return done
            after = batch.last
            if workflow.info().is_continue_as_new_suggested():
                # A very large customer base: carry on in a fresh history.
                workflow.continue_as_new(
                    start.model_copy(update={"round": label, "at": at, "after": after, "done": done})
                )


WORKFLOWS: list[type] = [SurveyRoundWorkflow]

# Crons in Asia/Shanghai (workflows/schedules.py). Mid-month at 10:00 keeps clear of 元旦 and 国庆, and
# the CSAT round a month before the December NPS round, so no customer gets two surveys at once.
RECURRING: list[Recurring] = [
    Recurring(
        id="survey-round-nps",
        workflow=SurveyRoundWorkflow.run,
        arg=SurveyRoundStart(kind=SurveyKind.NPS),
        cron="0 10 15 3,6,9,12 *",
        note="SAT-2: 每季度 NPS 调查（3/6/9/12 月 15 日 10:00）",
    ),
    Recurring(
        id="survey-round-csat",
        workflow=SurveyRoundWorkflow.run,
        arg=SurveyRoundStart(kind=SurveyKind.CSAT),
        cron="0 10 15 11 *",
        note="SAT-2: 每年 CSAT 满意度调查（11 月 15 日 10:00）",
    ),
]
