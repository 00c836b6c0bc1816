"""(skeleton: the value_push workflow; being written)"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import value_push as d
    from workflows.case import CaseWorkflow


@workflow.defn
class ValuePushWorkflow(CaseWorkflow):
    ACTIONS = d.ACTIONS

    @workflow.run
    async def run(self, start: d.ValuePushStart) -> str:
        await self.open_case(start.case, subject=start.intake.contact, record={})
        return await self.finish("skeleton")


# Workflows besides the campaign itself (e.g. the monthly planner) and their schedules.
WORKFLOWS: list[type] = []
RECURRING: list = []
