"""Pre-sales inquiry (SPEC PS-1..PS-4, seed 003 §2.1), top to bottom as the manual lists its steps."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import presales as ps
    from domain.models import CaseState, CaseView, Step
    from workflows.case import CaseWorkflow
    from workflows.steps import CaseClosing


@workflow.defn
class PresalesWorkflow(CaseWorkflow):
    ACTIONS = ps.ACTIONS

    def __init__(self) -> None:
        super().__init__()
        self.responded = False
        self.grading: ps.Grading | None = None
        self.feasibility: ps.FeasibilityReview | None = None
        self.proposal: ps.Proposal | None = None
        self.follow_up: ps.FollowUp | None = None
        self.reactivated = False

    @workflow.run
    async def run(self, start: ps.PresalesStart) -> str:
        intake = start.intake
        await self.open_case(
            start.case,
            subject=f"{intake.product} · {intake.need[:80]}",
            record=intake.model_dump(mode="json"),
            carried=start.carried,
            channel=intake.channel,
        )
        try:
            if start.carried is None:
                # PS-1: first response within 5 minutes.
                await self.steps.run(Step.FIRST_RESPONSE, until=lambda: self.responded)
            else:
                await self.lead_pool(start)
            while True:
                outcome = await self.qualify_and_propose()
                if outcome is not None:
                    if workflow.patched(ps.PATCH_CLOSING_SURVEY):
                        # SAT-1: every process ends with a survey; a pre-sales case does not wait for it.
                        await self.steps.send_survey()
                    return await self.finish(outcome, actor=self._closing_actor())
                await self.lead_pool(start)
        except CaseClosing:
            return await self.closed_by_staff()

    async def qualify_and_propose(self) -> str | None:
        """PS-2..PS-4; the outcome, or None when the lead goes to the pool."""
        self.grading = self.feasibility = self.proposal = self.follow_up = None
        # PS-2: grade urgency x value; complex needs get a feasibility review by product/tech.
        await self.steps.run(Step.NEEDS_ANALYSIS, until=lambda: self.grading is not None)
        assert self.grading is not None
        complex_need = self.grading.complex
        if complex_need:
            await self.steps.run(Step.FEASIBILITY_REVIEW, until=lambda: self.feasibility is not None)
            assert self.feasibility is not None
            if not self.feasibility.feasible:
                return ps.OUTCOME_NOT_FEASIBLE
        # PS-3: proposal within 48 h, 72 h for a complex need.
        await self.steps.run(
            Step.PROPOSAL, until=lambda: self.proposal is not None, variant="complex" if complex_need else "*"
        )
        # PS-4: follow up within 3 days of the proposal.
        await self.steps.run(Step.FOLLOW_UP, until=lambda: self.follow_up is not None)
        assert self.follow_up is not None
        if self.follow_up.intent is ps.Intent.INTERESTED:
            return (
                ps.OUTCOME_TRIAL if self.follow_up.next_step is ps.NextStep.TRIAL else ps.OUTCOME_NEGOTIATION
            )
        return None

    async def lead_pool(self, start: ps.PresalesStart) -> None:
        """PS-4: a lead that is not interested gets a monthly product update until it asks again."""
        self.state = CaseState.LEAD_POOL
        self.reactivated = False
        await self.steps.record("entered_lead_pool", case_patch={"current_step": None})
        every = self.steps.rule_for(Step.LEAD_POOL_TOUCH).target
        while not self.reactivated:
            try:
                await self.park(lambda: self.reactivated, timeout=every)
            except TimeoutError:
                await self.steps.notify("product_update", audience="customer")
                await self.steps.record("product_update_sent")
                if workflow.info().is_continue_as_new_suggested():
                    await self.settle()
                    workflow.continue_as_new(start.model_copy(update={"carried": self.carry()}))
            if self.closing:
                raise CaseClosing
        self.state = CaseState.OPEN
        action = self.take_action()
        await self.steps.record(
            "reactivated",
            actor=action.actor if action else "system",
            payload=action.payload if action else {},
        )

    def _closing_actor(self) -> str:
        return (
            self.follow_up.actor
            if self.follow_up
            else (self.feasibility.actor if self.feasibility else "system")
        )

    # -- staff actions (Updates), each with its validator ------------------------------------------------------

    @workflow.update
    async def respond(self, r: ps.FirstResponse) -> CaseView:
        self.responded = True
        return await self.act("respond", r)

    @respond.validator
    def _check_respond(self, r: ps.FirstResponse) -> None:
        self.check("respond")

    @workflow.update
    async def grade(self, g: ps.Grading) -> CaseView:
        self.grading = g
        self.severity = g.severity
        return await self.act("grade", g, record={"priority": g.severity, "complex": g.complex})

    @grade.validator
    def _check_grade(self, g: ps.Grading) -> None:
        self.check("grade")

    @workflow.update
    async def review_feasibility(self, f: ps.FeasibilityReview) -> CaseView:
        self.feasibility = f
        return await self.act("review_feasibility", f)

    @review_feasibility.validator
    def _check_feasibility(self, f: ps.FeasibilityReview) -> None:
        self.check("review_feasibility")

    @workflow.update
    async def send_proposal(self, p: ps.Proposal) -> CaseView:
        self.proposal = p
        return await self.act("send_proposal", p, record={"proposal_date": workflow.now()})

    @send_proposal.validator
    def _check_proposal(self, p: ps.Proposal) -> None:
        self.check("send_proposal")

    @workflow.update
    async def record_follow_up(self, f: ps.FollowUp) -> CaseView:
        self.follow_up = f
        next_step = f.next_step.value if f.next_step else "lead_pool"
        return await self.act(
            "record_follow_up", f, record={"intent": f.intent.value, "next_step": next_step}
        )

    @record_follow_up.validator
    def _check_follow_up(self, f: ps.FollowUp) -> None:
        self.check("record_follow_up")

    @workflow.update
    async def reactivate(self, r: ps.Reactivation) -> CaseView:
        self.reactivated = True
        return await self.act("reactivate", r)

    @reactivate.validator
    def _check_reactivate(self, r: ps.Reactivation) -> None:
        self.check("reactivate")
