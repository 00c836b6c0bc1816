"""Starting cases and reading what Postgres recorded, for the workflow tests."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import psycopg
from psycopg.rows import dict_row
from temporalio.client import Client, WorkflowHandle

from config import Settings
from domain.models import CaseRef, CaseView, NewCustomer, Process
from domain.presales import PresalesIntake, PresalesStart
from workflows.presales import PresalesWorkflow


def intake(**kw: Any) -> PresalesIntake:
    return PresalesIntake(
        **{
            "channel": "online_chat",
            "contact": "王先生 13800138000",
            "product": "智能客服系统",
            "need": "需要支持 200 名坐席的在线客服",
            "budget": "50万",
            "use_case": "电商售后",
            **kw,
        }
    )


async def start_presales(client: Client, settings: Settings, **kw: Any) -> WorkflowHandle:
    number = f"PS-T{uuid.uuid4().hex[:8]}"
    start = PresalesStart(
        case=CaseRef(
            number=number,
            process=Process.PRESALES,
            new_customer=NewCustomer(name="王先生", phone="13800138000"),
            actor="test",
        ),
        intake=intake(**kw),
    )
    return await client.start_workflow(PresalesWorkflow.run, start, id=number, task_queue=settings.task_queue)


def rows(settings: Settings, sql: str, *args: Any) -> list[dict[str, Any]]:
    assert settings.database_url
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        return conn.execute(sql, args).fetchall()


def events(settings: Settings, number: str) -> list[str]:
    return [
        r["kind"]
        for r in rows(settings, "SELECT kind FROM case_events WHERE case_number=%s ORDER BY id", number)
    ]


async def view(handle: WorkflowHandle) -> CaseView:
    return await handle.query(PresalesWorkflow.view)


async def wait_for_step(handle: WorkflowHandle, step: str | None, tries: int = 100) -> CaseView:
    """The workflow opens its first step just after it starts; wait for that before asserting."""
    for _ in range(tries):
        current = await view(handle)
        if (current.open_step.step if current.open_step else None) == step:
            return current
        await asyncio.sleep(0.05)
    raise AssertionError(f"step {step} never opened; the case shows {current}")
