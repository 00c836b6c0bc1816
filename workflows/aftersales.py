"""(skeleton: the aftersales workflow; being written)"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import aftersales as d
    from workflows.case import CaseWorkflow


@workflow.defn
class AftersalesWorkflow(CaseWorkflow):
    ACTIONS = d.ACTIONS

    @workflow.run
    async def run(self, start: d.AftersalesStart) -> str:
        await self.open_case(start.case, subject=start.intake.contact, record={})
        return await self.finish("skeleton")
