"""The Careflow worker: every workflow and activity on one task queue; one process, many cases."""

from __future__ import annotations

import asyncio
import logging

from temporalio.client import Client
from temporalio.worker import Worker

from activities.cases import CaseActivities
from activities.notify import NotifyActivities
from config import Settings, get_settings
from workflows.registry import WORKFLOWS, connect


def build_worker(client: Client, settings: Settings) -> Worker:
    url = settings.sqlalchemy_url()
    cases = CaseActivities(url)
    notify = NotifyActivities(url, settings)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        activities=[cases.open_case, cases.record_change, notify.notify],
        max_concurrent_activities=200,
    )


async def run_worker(settings: Settings) -> None:
    client = await connect(settings.temporal_address, settings.temporal_namespace)
    worker = build_worker(client, settings)
    logging.getLogger("careflow").info("worker polling %s on %s", settings.task_queue, settings.temporal_address)
    await worker.run()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(run_worker(get_settings()))
