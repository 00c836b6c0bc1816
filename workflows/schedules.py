"""Recurring work as Temporal Schedules: the monthly push (VP-2), daily birthday/renewal pushes, NPS/CSAT
rounds (SAT-2). Each is declared where its workflow lives; ``careflow schedules`` (run by ``make dev``)
creates or updates them all, so a changed cron takes effect on the next start."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from config import Settings

TIME_ZONE = "Asia/Shanghai"


@dataclass(frozen=True)
class Recurring:
    id: str  # the schedule id, also the prefix of the workflow ids it starts
    workflow: Any  # the workflow's run method
    arg: Any
    cron: str  # in Asia/Shanghai, e.g. "0 9 1 * *" = 09:00 on the 1st of every month
    note: str


def schedule_of(recurring: Recurring, settings: Settings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            recurring.workflow, recurring.arg, id=recurring.id, task_queue=settings.task_queue
        ),
        spec=ScheduleSpec(cron_expressions=[recurring.cron], time_zone_name=TIME_ZONE),
    )


async def ensure_schedules(client: Client, settings: Settings, recurring: list[Recurring]) -> list[str]:
    """Creates each schedule, or brings an existing one up to date; returns the ids."""
    for item in recurring:
        schedule = schedule_of(item, settings)
        try:
            await client.create_schedule(item.id, schedule, memo={"note": item.note})
        except ScheduleAlreadyRunningError:

            def replace(_: ScheduleUpdateInput, new: Schedule = schedule) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=new)

            await client.get_schedule_handle(item.id).update(replace)
    return [item.id for item in recurring]
