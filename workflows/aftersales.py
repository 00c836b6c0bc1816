"""After-sales issue (SPEC AS-1..AS-5, seed 003 §2.3, 000 §(三)), top to bottom as the manual lists its steps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.library import LibraryActivities
    from domain import aftersales as d
    from domain.library import ArchiveRequest, Category, SuggestRequest
    from domain.models import CaseView, Role, Step
    from domain.surveys import IMPROVEMENT_BELOW, SurveyAnswered
    from workflows.case import INVALID, STEP_NOT_OPEN, CaseWorkflow
    from workflows.steps import ACTIVITY_TIMEOUT, CaseClosing


@workflow.defn
class AftersalesWorkflow(CaseWorkflow):
    ACTIONS = d.ACTIONS

    def __init__(self) -> None:
        super().__init__()
        self.intake: d.AftersalesIntake | None = None
        self.response: d.IssueResponse | None = None
        self.dispatched: d.Dispatch | None = None
        self.contact: d.TechContact | None = None
        self.progress_posted = False
        self.proposal: d.RemedyProposal | None = None
        self.approved: bool | None = None  # the customer's decision on ``proposal``; None: not asked yet
        self.visited = False
        self.resolution: d.Resolution | None = None
        self.handlings = 1
        # Resolution targets count from intake (000 §(三) "48小时内解决"), or from the reopening.
        self.handling_since: datetime | None = None

    @workflow.run
    async def run(self, start: d.AftersalesStart) -> str:
        intake = self.intake = start.intake
        self.severity = intake.severity
        await self.open_case(
            start.case,
            subject=intake.description[:120],
            record={**intake.model_dump(mode="json"), "category": intake.category.value, "handlings": 1},
            channel=intake.channel,
        )
        assert self.opened is not None
        self.handling_since = self.opened.opened_at
        await self.suggest_from_library(intake.description)
        try:
            # AS-1 / AS-5: urgent 30 min, routine 2 h; a fault 5 min, a consultation 10 min.
            # Counted from intake: the library look-up above does not eat into the agent's minutes.
            await self.steps.run(
                Step.ISSUE_RESPONSE,
                until=lambda: self.response is not None,
                variant=intake.category.value,
                since=self.handling_since,
            )
            assert self.response is not None
            to_tech = self.response.route is d.Route.DISPATCH
            while True:
                if to_tech:
                    await self.handle()
                answer = await self.steps.satisfaction(Step.SATISFACTION_CALLBACK)
                if answer.score >= IMPROVEMENT_BELOW:
                    break
                await self.reopen(answer)
                to_tech = True
            await self.archive(answer)
            return await self.finish(d.OUTCOME_RESOLVED)
        except CaseClosing:
            return await self.closed_by_staff()

    async def suggest_from_library(self, symptom: str) -> None:
        """AS-2 / KB-1: the library entries like the symptom, offered to the agent and kept in the history."""
        hits = await workflow.execute_activity_method(
            LibraryActivities.suggest_cases,
            SuggestRequest(text=symptom),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        await self.steps.record(
            "kb_suggested",
            payload={
                "note": "；".join(h.title for h in hits),
                "suggestions": [h.model_dump(mode="json") for h in hits],
            },
        )

    async def handle(self) -> None:
        """AS-2 dispatch and tech contact, AS-3 the remedy the customer approves, until the customer
        confirms the fix."""
        if self.dispatched is None:
            # AS-2: a complex or urgent issue goes to tech support within 10 minutes.
            await self.steps.run(Step.DISPATCH, until=lambda: self.dispatched is not None)
            assert self.dispatched is not None
            await self.steps.notify(
                "aftersales_dispatch",
                recipient_role=Role.TECH_SUPPORT,
                recipient=self.owner,
                context={"note": self.dispatched.note},
            )
        # AS-2: tech support contacts the customer within 30 minutes (urgent) or 2 hours.
        self.contact = None
        await self.steps.run(Step.TECH_CONTACT, until=lambda: self.contact is not None)
        assert self.contact is not None and self.intake is not None
        fault = self.intake.category is Category.FAULT
        if fault and self.contact.complex_issue:
            # AS-5: a complex fault gets a progress report within 24 hours of the report (or the reopening),
            # like its 48 h resolution (000 §(三) 复杂问题24小时内给出处理进度，48小时内解决).
            self.progress_posted = False
            await self.steps.run(
                Step.PROGRESS_UPDATE, until=lambda: self.progress_posted, since=self.handling_since
            )
        # AS-3 / AS-5: 24 h; a fault 48 h, a consultation 2 h; a complex issue a staged plan within 72 h.
        variant = "complex" if self.contact.complex_issue and not fault else self.intake.category.value
        self.proposal = self.approved = self.resolution = None
        while True:
            await self.steps.run(
                Step.RESOLUTION,
                until=lambda: self.resolution is not None or self.visit_due,
                variant=variant,
                since=self.handling_since,
            )
            if self.visit_due:
                # AS-3: an approved on-site repair gets an engineer on site within 24 hours; the
                # resolution then goes on against the same deadline.
                await self.steps.run(Step.ONSITE_VISIT, until=lambda: self.visited)
                continue
            assert self.resolution is not None
            if self.resolution.customer_confirmed:
                return
            # Not fixed in the customer's eyes: a new remedy, approved again, in the same step's next run.
            self.proposal = self.approved = self.resolution = None

    @property
    def visit_due(self) -> bool:
        proposal = self.proposal
        return bool(proposal and proposal.kind is d.RemedyKind.ONSITE and self.approved and not self.visited)

    async def reopen(self, answer: SurveyAnswered) -> None:
        """AS-4: an unsatisfied customer reopens the case for a second handling."""
        self.handlings += 1
        self.handling_since = workflow.now()
        note = answer.comment or ""
        await self.steps.record(
            "reopened",
            payload={"score": answer.score, "note": note, "handlings": self.handlings},
            record={
                "satisfaction": answer.score,
                "handlings": self.handlings,
                "customer_confirmed": None,
                "solved_at": None,
            },
        )
        await self.steps.notify(
            "aftersales_reopened",
            recipient_role=Role.TECH_SUPPORT if self.dispatched else Role.AGENT,
            recipient=self.owner,
            context={"note": note},
        )

    async def archive(self, answer: SurveyAnswered) -> None:
        """000 §(三) 归档: a resolved case leaves its symptom, cause and remedy in the case library (KB-1)."""
        assert self.intake is not None and self.response is not None
        resolution = self.resolution
        entry = await workflow.execute_activity_method(
            LibraryActivities.archive_case,
            ArchiveRequest(
                number=self.number,
                process=self.process,
                category=self.intake.category.value,
                title=self.intake.description.strip().splitlines()[0][:120],
                symptom=self.intake.description,
                cause=(resolution.cause or None) if resolution else None,
                remedy=resolution.remedy if resolution else self.response.note,
                actor=resolution.actor if resolution else self.response.actor,
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        await self.steps.record(
            "archived", payload={"library_entry": entry}, record={"satisfaction": answer.score}
        )

    def offers(self, name: str) -> bool:
        """Whether an action the step allows makes sense now (the view offers only those; the validators
        refuse the rest with 409)."""
        waiting = self.proposal is not None and self.approved is None
        return {
            "propose_remedy": not waiting,
            "customer_decision": waiting,
            "resolve": bool(self.approved),
        }.get(name, True)

    # -- staff actions (Updates), each with its validator ------------------------------------------------------

    @workflow.update
    async def respond(self, r: d.IssueResponse) -> CaseView:
        self.response = r
        if r.route is d.Route.ANSWER:
            # AS-2: the agent answered it (from the knowledge base): that answer is the remedy.
            return await self.act("respond", r, record={"remedy": r.note, "solved_at": workflow.now()})
        return await self.act("respond", r)

    @respond.validator
    def _check_respond(self, r: d.IssueResponse) -> None:
        self.check("respond")
        if r.route is d.Route.ANSWER and self.intake and self.intake.urgency is d.Urgency.URGENT:
            raise ApplicationError("an urgent issue goes to tech support (dispatch)", "route", type=INVALID)

    @workflow.update
    async def dispatch(self, p: d.Dispatch) -> CaseView:
        self.dispatched = p
        self.owner = p.assignee
        return await self.act("dispatch", p, record={"owner": p.assignee})

    @dispatch.validator
    def _check_dispatch(self, p: d.Dispatch) -> None:
        self.check("dispatch")

    @workflow.update
    async def contact_customer(self, c: d.TechContact) -> CaseView:
        self.contact = c
        return await self.act("contact_customer", c)

    @contact_customer.validator
    def _check_contact(self, c: d.TechContact) -> None:
        self.check("contact_customer")

    @workflow.update
    async def post_progress(self, p: d.ProgressNote) -> CaseView:
        if self.steps.current is not None and self.steps.current.step is Step.PROGRESS_UPDATE:
            self.progress_posted = True
            view = await self.act("post_progress", p)
        else:
            # 003 §2.3.2 步骤3 执行过程全程记录进度: a progress note inside the step does not complete it.
            await self.steps.record("progress_posted", actor=p.actor, payload={"note": p.note})
            view = self.view()
        await self.steps.notify("aftersales_progress", audience="customer", context={"note": p.note})
        return view

    @post_progress.validator
    def _check_progress(self, p: d.ProgressNote) -> None:
        self.check("post_progress")

    @workflow.update
    async def propose_remedy(self, p: d.RemedyProposal) -> CaseView:
        self.proposal, self.approved, self.visited = p, None, False
        await self.steps.record(
            "remedy_proposed",
            actor=p.actor,
            payload={"kind": p.kind.value, "note": p.plan, "staged": p.staged},
            record={"remedy": p.plan},
        )
        await self.steps.notify("aftersales_remedy", audience="customer", context={"note": p.plan})
        return self.view()

    @propose_remedy.validator
    def _check_proposal(self, p: d.RemedyProposal) -> None:
        self.check("propose_remedy")
        if self.proposal is not None and self.approved is None:
            raise ApplicationError(
                "the customer has not decided on the last proposal yet", type=STEP_NOT_OPEN
            )
        if self.contact is not None and self.contact.complex_issue and not p.staged:
            raise ApplicationError("a complex issue gets a staged plan (阶段性方案)", "staged", type=INVALID)

    @workflow.update
    async def customer_decision(self, c: d.CustomerDecision) -> CaseView:
        self.approved = c.approved
        if self.visit_due:
            # The approved on-site repair completes this run of the resolution step: the visit comes next.
            return await self.act("customer_decision", c)
        await self.steps.record(
            "customer_decided", actor=c.actor, payload={"approved": c.approved, "note": c.note}
        )
        return self.view()

    @customer_decision.validator
    def _check_decision(self, c: d.CustomerDecision) -> None:
        self.check("customer_decision")
        if self.proposal is None or self.approved is not None:
            raise ApplicationError(
                "no remedy proposal is waiting for the customer's decision", type=STEP_NOT_OPEN
            )

    @workflow.update
    async def record_visit(self, v: d.SiteVisit) -> CaseView:
        self.visited = True
        return await self.act("record_visit", v)

    @record_visit.validator
    def _check_visit(self, v: d.SiteVisit) -> None:
        self.check("record_visit")

    @workflow.update
    async def resolve(self, r: d.Resolution) -> CaseView:
        self.resolution = r
        record: dict[str, Any] = {"remedy": r.remedy, "customer_confirmed": r.customer_confirmed}
        if r.customer_confirmed:
            record["solved_at"] = workflow.now()
        return await self.act("resolve", r, record=record)

    @resolve.validator
    def _check_resolve(self, r: d.Resolution) -> None:
        self.check("resolve")
        if not self.approved:
            raise ApplicationError("the customer has not approved a remedy yet", type=STEP_NOT_OPEN)
