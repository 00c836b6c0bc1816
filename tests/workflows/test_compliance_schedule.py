"""T-7: the monthly Temporal Schedule that draws the compliance sample, and its workflow on the
time-skipping server with the real activity on real Postgres."""

from __future__ import annotations

import math
import uuid
from datetime import datetime

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from config import Settings
from domain.compliance import ComplianceStart, DrawResult, month_to_draw
from tests.api.test_tier_report import Built, at, step
from tests.workflows.helpers import rows
from tests.workflows.test_survey_rounds import cron_values
from workflows import registry
from workflows.compliance import RECURRING, ComplianceSampleWorkflow
from workflows.schedules import TIME_ZONE, schedule_of


async def run_draw(env: WorkflowEnvironment, settings: Settings, start: ComplianceStart) -> DrawResult:
    # No timer to skip: a plain client on the same connection keeps the test server from skipping time.
    plain = Client(
        env.client.service_client, namespace=env.client.namespace, data_converter=env.client.data_converter
    )
    return await plain.execute_workflow(
        ComplianceSampleWorkflow.run,
        start,
        id=f"compliance-sample-test-{uuid.uuid4().hex[:8]}",
        task_queue=settings.task_queue,
    )


def test_t7_monthly_schedule_is_well_formed(settings):
    [item] = RECURRING
    assert ComplianceSampleWorkflow in registry.WORKFLOWS
    assert item.id in [r.id for r in registry.RECURRING]
    minute, hour, day, month, weekday = item.cron.split()
    assert cron_values(minute, 0, 59) == {0}
    assert cron_values(day, 1, 31) == {1} and cron_values(month, 1, 12) == set(range(1, 13))
    assert cron_values(weekday, 0, 6) == set(range(7)) and cron_values(hour, 0, 23) == {2}
    assert item.workflow is ComplianceSampleWorkflow.run and item.arg.month is None and "T-7" in item.note
    schedule = schedule_of(item, settings)
    assert schedule.spec.time_zone_name == TIME_ZONE == "Asia/Shanghai"
    assert schedule.spec.cron_expressions == [item.cron]
    assert schedule.action.task_queue == settings.task_queue  # type: ignore[attr-defined]
    # The run at 02:00 on 1 January in Shanghai (31 December in UTC) draws December.
    assert month_to_draw(datetime.fromisoformat("2026-12-31T18:00:00+00:00")) == "2026-12"
    assert month_to_draw(datetime.fromisoformat("2027-01-01T02:00:00+08:00")) == "2026-12"


async def test_t7_scheduled_run_draws_once_per_month(env, settings, worker):
    built = Built(settings.sqlalchemy_url())
    for day in range(1, 13):
        done = at(f"2012-08-{day:02d}", "15:00")
        await built.case("key", at(f"2012-08-{day:02d}"), closed_at=done, outcome="resolved", steps=[step()])
    first = await run_draw(env, settings, ComplianceStart(month="2012-08"))
    assert (first.month, first.population, first.size, first.created) == ("2012-08", 12, 2, True)
    assert first.drawn_by == "schedule" and set(first.cases) <= set(built.cases)
    again = await run_draw(env, settings, ComplianceStart(month="2012-08"))
    assert again.created is False and again.cases == first.cases
    assert len(rows(settings, "SELECT 1 FROM compliance_samples WHERE month = '2012-08'")) == 2

    # As the schedule starts it: no month, so the month before the workflow's clock.
    now = await env.get_current_time()
    scheduled = await run_draw(env, settings, ComplianceStart())
    assert scheduled.month == month_to_draw(now)
    assert scheduled.size == math.ceil(scheduled.population / 10) == len(scheduled.cases)
