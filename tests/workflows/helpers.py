"""Starting cases and reading what Postgres recorded, for the workflow tests."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.rows import dict_row
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributeKey

from config import Settings
from domain.actions import Closure
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


async def start_presales(
    client: Client, settings: Settings, *, customer_id: int | None = None, **kw: Any
) -> WorkflowHandle:
    number = f"PS-T{uuid.uuid4().hex[:8]}"
    start = PresalesStart(
        case=CaseRef(
            number=number,
            process=Process.PRESALES,
            customer_id=customer_id,
            new_customer=None if customer_id else NewCustomer(name="王先生", phone="13800138000"),
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


async def search_attribute(client: Client, number: str, key: SearchAttributeKey[Any]) -> Any:
    """One search attribute, read from the raw description.

    The time-skipping test server keeps an unset attribute as a null payload that the SDK's describe() cannot
    decode (the real server removes it), so decode only the key asked for.
    """
    raw = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=client.namespace, execution=WorkflowExecution(workflow_id=number)
        )
    )
    payload = raw.workflow_execution_info.search_attributes.indexed_fields.get(key.name)
    if payload is None or payload.data in (b"null", b""):
        return None
    value = json.loads(payload.data)
    if isinstance(value, list):
        value = value[0] if value else None
    return key.value_type(value) if key.value_type is int else value


async def publish(settings: Settings, *changes: dict[str, Any], note: str = "test") -> int:
    """Publishes the next SLA policy version with ``changes``, as an admin would; returns its number."""
    from api.policies import publish_changes
    from db.engine import sessionmaker_for

    async with sessionmaker_for(settings.sqlalchemy_url())() as db:
        return (await publish_changes(db, note=note, actor="tests", changes=list(changes))).version


async def close_case(handle: WorkflowHandle) -> None:
    """Ends a case a test leaves open with the close action. Terminating one while an activity runs can leave
    the time-skipping server's clock stuck for the rest of the session."""
    await handle.execute_update("close", Closure(actor="tests", reason="test done"))


async def eventually(check: Callable[[], Any], what: str = "", tries: int = 200) -> Any:
    """``check()``'s first truthy answer: rows a workflow writes land a moment after the call that caused them."""
    for _ in range(tries):
        if got := check():
            return got
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def rows_eventually(settings: Settings, sql: str, *params: Any, count: int = 1) -> list[dict[str, Any]]:
    """``rows`` once at least ``count`` are there: a message sent from a staff action goes out beside the
    case, so it may land just after the action answered."""

    def enough() -> list[dict[str, Any]] | None:
        found = rows(settings, sql, *params)
        return found if len(found) >= count else None

    return await eventually(enough, sql)
