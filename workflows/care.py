"""Care tasks (SPEC R-1..R-4, R-7): an owner's task with a deadline, as a case of the ``care`` process.

A task runs the one step of its kind (``welcome_callback``, ``renewal_follow_up``, ``milestone_care``,
``retention``, ``plan_touch``) through the deadline-bound step, so it warns its owner, breaches and escalates
like any other case, and shows on the case page, in the queue and in the Temporal UI. Staff ``complete`` it
with a result and a note, or ``reschedule`` it when the customer could not be reached: the step opens again,
due at the new time.

Workflows raise tasks with ``open_care_task``: an activity starts the task as a workflow of its own (it outlives
its raiser), named by a case number allocated once per raiser's key, so raising the same task again starts
nothing.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.care import CareActivities, StartTask
    from domain import care as c
    from domain.models import CaseView, Step
    from workflows.case import INVALID, CaseWorkflow
    from workflows.steps import ACTIVITY_TIMEOUT, CaseClosing


@workflow.defn
class CareTaskWorkflow(CaseWorkflow):
    ACTIONS = c.ACTIONS

    def __init__(self) -> None:
        super().__init__()
        self.done: c.CareDone | None = None
        self.rescheduled: c.Reschedule | None = None
        self.attempts = 1

    @workflow.run
    async def run(self, start: c.CareStart) -> str:
        intake = start.intake
        ref = start.case
        if ref.customer_id is not None:
            # The customer's account manager owns the task; without one, the step's role does.
            self.owner = await workflow.execute_activity_method(
                CareActivities.customer_owner, ref.customer_id, start_to_close_timeout=ACTIVITY_TIMEOUT
            )
        await self.open_case(
            ref,
            subject=c.task_subject(intake.kind, intake.occasion, intake.note),
            record={**intake.record(), "owner": self.owner},
        )
        step = Step(intake.kind.value)
        due = intake.due
        try:
            while True:
                await self.steps.run(
                    step,
                    until=lambda: self.done is not None or self.rescheduled is not None,
                    before=self._before(step, due),
                )
                if self.done is not None:
                    return await self.finish(
                        self.done.result.value, actor=self.done.actor, note=self.done.note
                    )
                assert self.rescheduled is not None
                due, self.rescheduled = self.rescheduled.retry_at, None
        except CaseClosing:
            return await self.closed_by_staff()

    def _before(self, step: Step, due: datetime | None) -> datetime | None:
        """A task with its own deadline: with ``steps.run(before=)`` the deadline lies the rule's target before
        ``before``, so pass ``due`` + target (a ``due`` already past: the step opens breached)."""
        if due is None:
            return None
        target = self.steps.rule_for(step).target
        assert target is not None
        return due + target

    # -- staff actions (Updates), each with its validator ------------------------------------------------------

    @workflow.update
    async def complete(self, d: c.CareDone) -> CaseView:
        self.done = d
        return await self.act(
            "complete",
            d,
            record={"result": d.result.value, "result_note": d.note, "done_at": workflow.now()},
        )

    @complete.validator
    def _check_complete(self, d: c.CareDone) -> None:
        self.check("complete")

    @workflow.update
    async def reschedule(self, r: c.Reschedule) -> CaseView:
        self.rescheduled = r
        self.attempts += 1
        return await self.act("reschedule", r, record={"attempts": self.attempts, "due_at": r.retry_at})

    @reschedule.validator
    def _check_reschedule(self, r: c.Reschedule) -> None:
        self.check("reschedule")
        if r.retry_at <= workflow.now():
            raise ApplicationError("the next attempt must be in the future", "retry_at", type=INVALID)


async def open_care_task(
    kind: str,
    customer_id: int,
    *,
    due: datetime | None = None,
    note: str = "",
    key: str,
    occasion: str | None = None,
) -> str:
    """Raises a care task for the customer's owner from inside a workflow; returns its case number.

    Idempotent by ``key`` (per customer): the number is allocated once, and a task already started under it
    — running or finished — is not started again. The task is started by an activity, not as a child: it
    outlives the raiser (a journey continues as new while its tasks run). ``occasion``: why
    (``domain.care.Occasion``; default ``interaction_plan`` for a plan touch, else ``manual_task``)."""
    care_kind = c.CareKind(kind)
    if occasion is None:
        occasion = c.Occasion.PLAN if care_kind is c.CareKind.PLAN_TOUCH else c.Occasion.MANUAL
    intake = c.CareIntake(kind=care_kind, occasion=c.Occasion(occasion), note=note, due=due)
    return await workflow.execute_activity_method(
        CareActivities.start_task,
        StartTask(customer_id=customer_id, key=key, intake=intake),
        start_to_close_timeout=ACTIVITY_TIMEOUT,
    )
