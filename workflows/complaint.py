"""Complaint (SPEC CP-1..CP-4, seed 003 §2.4, 000 §(三) 投诉类), top to bottom as the manual lists its steps."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any, NoReturn

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from activities.library import LibraryActivities
    from domain import complaint as d
    from domain.i18n import label
    from domain.library import ArchiveRequest, Category
    from domain.models import CaseView, Severity, Step
    from workflows.case import INVALID, STEP_NOT_OPEN, CaseWorkflow
    from workflows.steps import ACTIVITY_TIMEOUT, CaseClosing


@workflow.defn
class ComplaintWorkflow(CaseWorkflow):
    ACTIONS = d.ACTIONS

    def __init__(self) -> None:
        super().__init__()
        self.intake: d.ComplaintIntake | None = None
        self.suggested: d.Grade | None = None
        self.contact: d.FirstContact | None = None
        self.grading: d.ComplaintGrading | None = None
        self.calming: d.Calming | None = None
        self.findings: d.Findings | None = None
        self.proposal: d.RemedyProposal | None = None  # the plan awaiting the customer's decision
        self.accepted: d.RemedyProposal | None = None
        self.accepted_at: datetime | None = None
        self.executed_at: datetime | None = None  # CP-4: when the accepted plan was carried out
        self.result: d.ResultReport | None = None

    @workflow.run
    async def run(self, start: d.ComplaintStart) -> str:
        intake = self.intake = start.intake
        await self.open_case(
            start.case,
            subject=intake.content[:120],
            record=intake.model_dump(mode="json"),
            channel=intake.channel,
        )
        try:
            # CP-2: the matrix suggests a grade as soon as the customer's tier is known.
            self.suggested = d.suggest_grade(intake.scope, self.tier)
            await self.steps.record(
                "grade_suggested",
                payload={"level": self.suggested, "reason": d.suggestion_basis(intake.scope, self.tier)},
                record=self._keep({"suggested_grade": self.suggested}),
            )
            # Both contacts are counted from the complaint's arrival.
            assert self.opened is not None
            received = self.opened.opened_at
            # CP-1: contact within 5 minutes (phone 3), apologise, record demand and emotion; grade meanwhile.
            await self.steps.run(
                Step.COMPLAINT_CONTACT,
                until=lambda: self.contact is not None and self.grading is not None,
                since=received,
            )
            # CP-1 response by grade: general 1 h, serious/major 30 min.
            await self.steps.run(Step.CALMING_CONTACT, until=lambda: self.calming is not None, since=received)
            # CP-2: the investigation, led by the rule's owner role: specialist, supervisor (24 h), director (48 h).
            await self._run_and_tell_owner(Step.INVESTIGATION, lambda: self.findings is not None)
            # CP-3: a plan within 24 h (general) or 48 h; only a plan the customer accepts completes the step.
            await self.steps.run(Step.REMEDY_PLAN, until=lambda: self.accepted is not None)
            # CP-4: the plan runs at once (方案确认后立即执行); the customer hears the result within 24 h of it.
            if workflow.patched(d.PATCH_EXECUTION_STEP):
                await self.steps.run(Step.REMEDY_EXECUTION, until=lambda: self.executed_at is not None)
                await self.steps.run(
                    Step.RESULT_NOTICE, until=lambda: self.result is not None, since=self.executed_at
                )
            else:
                await self.steps.run(Step.RESULT_NOTICE, until=lambda: self.result is not None)
            assert self.result is not None
            await self.steps.notify(
                "complaint_result", audience="customer", context={"result": self.result.result}
            )
            actor = self.result.actor
            if self.severity is Severity.MAJOR:
                # CP-4: every major complaint gets a second callback within 3 days.
                answer = await self.steps.satisfaction(Step.SECOND_CALLBACK)
                await self.steps.record(
                    "callback_recorded",
                    payload={"score": answer.score, "comment": answer.comment or ""},
                    record=self._keep(
                        {"satisfaction": answer.score, "callback_notes": answer.comment or None}
                    ),
                )
            else:
                await self.steps.send_survey()  # SAT-1: the answer lands in surveys; the case does not wait
            await self._archive(actor)
            return await self.finish(d.OUTCOME_RESOLVED, actor=actor)
        except CaseClosing:
            return await self.closed_by_staff()

    async def _run_and_tell_owner(self, step: Step, until: Callable[[], bool]) -> None:
        """Runs ``step`` and, once it is open, tells its owner role (from the rule) that it leads it."""
        running = asyncio.create_task(self.steps.run(step, until=until))
        await workflow.wait_condition(
            lambda: running.done() or (self.steps.current is not None and self.steps.current.step == step)
        )
        current = self.steps.current
        if not running.done() and current is not None:
            await self.steps.notify("complaint_investigation", recipient_role=current.owner_role)
        await running

    async def _archive(self, actor: str) -> None:
        """KB-1: the resolved complaint joins the case library with its cause and remedy."""
        assert self.intake and self.findings and self.accepted and self.result and self.grading
        demand = self.contact.demand if self.contact else self.intake.demand
        entry = await workflow.execute_activity_method(
            LibraryActivities.archive_case,
            ArchiveRequest(
                number=self.number,
                process=self.process,
                category=Category.COMPLAINT,
                title=self.intake.content.splitlines()[0][:300],
                symptom=f"{self.intake.content}\n{label('demand')}：{demand}",
                cause=f"{self.findings.findings}\n{label('responsible_party')}：{self.findings.responsible_party}",
                remedy=f"{self.accepted.summary()}\n{label('result')}：{self.result.result}",
                tags=[self.grading.level, self.intake.scope, *self.findings.departments],
                actor=actor,
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        await self.steps.record("archived", actor=actor, payload={"library_entry": entry})

    # -- helpers ----------------------------------------------------------------------------------------------

    def _keep(self, record: dict[str, Any]) -> dict[str, Any]:
        """A record patch, also shown in the live view's record."""
        self.record_view.update(record)
        return record

    async def _note(self, kind: str, payload: BaseModel, record: dict[str, Any]) -> CaseView:
        """An action that does not complete the open step: its own event now, then back to the step's wait."""
        await self.steps.record(
            kind,
            actor=payload.actor,  # type: ignore[attr-defined]
            payload=payload.model_dump(mode="json", exclude={"actor"}),
            record=self._keep(record),
        )
        self._poked = True
        return self.view()

    def _refuse(self, message: str, *, field: str | None = None) -> NoReturn:
        """Validator body: 409 without a field (not now), 422 naming the field (bad content)."""
        if field is None:
            raise ApplicationError(message, type=STEP_NOT_OPEN)
        raise ApplicationError(message, field, type=INVALID)

    def offers(self, name: str) -> bool:
        """Whether an action the step allows makes sense now (the view offers only those)."""
        return {
            "contact_complainant": self.contact is None,
            "grade_complaint": self.grading is None,
            "propose_remedy": self.proposal is None,
            "customer_decision": self.proposal is not None,
        }.get(name, True)

    # -- staff actions (Updates), each with its validator ------------------------------------------------------

    @workflow.update
    async def contact_complainant(self, c: d.FirstContact) -> CaseView:
        self.contact = c
        record = {"demand": c.demand, "emotion": c.emotion}
        # Whichever of contact and grading comes second completes the step.
        if self.grading is not None:
            view = await self.act("contact_complainant", c, record=self._keep(record))
        else:
            view = await self._note("contacted", c, record)
        assert self.intake is not None
        await self.steps.notify("apology", audience="customer", context={"reason": self.intake.content[:80]})
        return view

    @contact_complainant.validator
    def _check_contact(self, c: d.FirstContact) -> None:
        self.check("contact_complainant")
        if self.contact is not None:
            self._refuse("the customer has been contacted already")

    @workflow.update
    async def grade_complaint(self, g: d.ComplaintGrading) -> CaseView:
        self.grading = g
        self.severity = g.level.severity
        record = {"grade": g.level, "grade_reason": g.reason or None}
        if self.contact is not None:
            return await self.act("grade_complaint", g, record=self._keep(record))
        return await self._note("graded", g, record)

    @grade_complaint.validator
    def _check_grade(self, g: d.ComplaintGrading) -> None:
        self.check("grade_complaint")
        if self.grading is not None:
            self._refuse("the complaint has been graded already")
        if g.level != self.suggested and not g.reason.strip():
            self._refuse(
                f"the suggested grade is {self.suggested}: give a reason to override it", field="reason"
            )

    @workflow.update
    async def calm_customer(self, c: d.Calming) -> CaseView:
        self.calming = c
        return await self.act("calm_customer", c, record=self._keep({"emotion": c.emotion}))

    @calm_customer.validator
    def _check_calm(self, c: d.Calming) -> None:
        self.check("calm_customer")

    @workflow.update
    async def report_findings(self, f: d.Findings) -> CaseView:
        # The departments the step was handed to were involved too.
        handed = [h.department for h in self.steps.current.handoffs] if self.steps.current else []
        departments = list(dict.fromkeys([*f.departments, *handed]))
        self.findings = f.model_copy(update={"departments": departments})
        record = {
            "findings": f.findings,
            "responsible_party": f.responsible_party,
            "departments": departments,
        }
        return await self.act("report_findings", self.findings, record=self._keep(record))

    @report_findings.validator
    def _check_findings(self, f: d.Findings) -> None:
        self.check("report_findings")

    @workflow.update
    async def propose_remedy(self, p: d.RemedyProposal) -> CaseView:
        self.proposal = p
        view = await self._note("remedy_proposed", p, {"remedy": p.summary()})
        await self.steps.notify("complaint_remedy", audience="customer", context={"remedy": p.summary()})
        return view

    @propose_remedy.validator
    def _check_proposal(self, p: d.RemedyProposal) -> None:
        self.check("propose_remedy")
        if self.proposal is not None:
            self._refuse("the plan sent awaits the customer's decision")

    @workflow.update
    async def customer_decision(self, c: d.CustomerDecision) -> CaseView:
        proposal, self.proposal = self.proposal, None
        if c.accepted:
            assert proposal is not None
            self.accepted, self.accepted_at = proposal, workflow.now()
            return await self.act("customer_decision", c, record=self._keep({"remedy": proposal.summary()}))
        return await self._note("remedy_rejected", c, {})

    @customer_decision.validator
    def _check_decision(self, c: d.CustomerDecision) -> None:
        self.check("customer_decision")
        if self.proposal is None:
            self._refuse("no remedy plan awaits the customer's decision: propose one first")

    @workflow.update
    async def record_execution(self, e: d.Execution) -> CaseView:
        self.executed_at = e.executed_at or workflow.now()
        record = {"executed_at": self.executed_at}
        return await self.act("record_execution", e, record=self._keep(record))

    @record_execution.validator
    def _check_execution(self, e: d.Execution) -> None:
        self.check("record_execution")
        self._check_execution_time(e.executed_at)

    def _check_execution_time(self, at: datetime | None) -> None:
        if at is not None and (at > workflow.now() or (self.accepted_at and at < self.accepted_at)):
            self._refuse("the plan runs after the customer accepted it and before now", field="executed_at")

    @workflow.update
    async def report_result(self, r: d.ResultReport) -> CaseView:
        executed = self.executed_at or r.executed_at or workflow.now()
        self.result = r.model_copy(update={"executed_at": executed})
        record = {"executed_at": self.result.executed_at, "result": r.result}
        return await self.act("report_result", self.result, record=self._keep(record))

    @report_result.validator
    def _check_result(self, r: d.ResultReport) -> None:
        self.check("report_result")
        self._check_execution_time(r.executed_at)
