"""The Careflow worker: every workflow and activity on one task queue; one process, many cases."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from activities.campaigns import CampaignActivities
from activities.care import CareActivities
from activities.cases import CaseActivities
from activities.compliance import ComplianceActivities
from activities.customers import CustomerActivities
from activities.interaction_plans import PlanActivities
from activities.library import LibraryActivities
from activities.notify import NotifyActivities
from activities.orders import OrderActivities
from activities.surveys import SurveyActivities
from activities.tier_reviews import TierActivities
from activities.touches import TouchActivities
from config import Settings, get_settings
from workflows.registry import WORKFLOWS, connect


def activity_methods(*holders: object) -> list[Callable[..., Any]]:
    """Every ``@activity.defn`` method of the given activity objects."""
    return [
        getattr(holder, name)
        for holder in holders
        for name in dir(type(holder))
        if hasattr(getattr(type(holder), name), "__temporal_activity_definition")
    ]


def build_worker(client: Client, settings: Settings) -> Worker:
    url = settings.sqlalchemy_url()
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        activities=activity_methods(
            CaseActivities(url),
            NotifyActivities(url, settings),
            SurveyActivities(url, settings),
            LibraryActivities(url, settings),
            OrderActivities(url, settings),
            CampaignActivities(url, settings),
            CareActivities(url),
            CustomerActivities(url),
            TierActivities(url),
            ComplianceActivities(url, settings),
            PlanActivities(url, settings),
            TouchActivities(url),
        ),
        max_concurrent_activities=200,
    )


async def run_worker(settings: Settings) -> None:
    client = await connect(settings.temporal_address, settings.temporal_namespace)
    worker = build_worker(client, settings)
    logging.getLogger("careflow").info(
        "worker polling %s on %s", settings.task_queue, settings.temporal_address
    )
    await worker.run()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(run_worker(get_settings()))
