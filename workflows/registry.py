"""Which workflow runs which process, and how clients connect (the worker and the API share this)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from domain import aftersales, care, complaint, order_followup, presales, value_push
from domain.actions import ActionSpec
from domain.models import Process
from workflows import compliance, interaction_plans, lifecycle, survey_rounds, tiering
from workflows import value_push as push_workflows
from workflows.aftersales import AftersalesWorkflow
from workflows.care import CareTaskWorkflow
from workflows.complaint import ComplaintWorkflow
from workflows.journey import CustomerJourneyWorkflow
from workflows.order_followup import OrderFollowupWorkflow
from workflows.presales import PresalesWorkflow
from workflows.schedules import Recurring
from workflows.value_push import ValuePushWorkflow


@dataclass(frozen=True)
class ProcessDef:
    process: Process
    workflow: type
    start_model: type[BaseModel]  # the workflow's input
    intake_model: type[BaseModel]  # what a person or system fills in
    actions: list[ActionSpec]

    def action(self, name: str) -> ActionSpec | None:
        return next((a for a in self.actions if a.name == name), None)


PROCESSES: dict[Process, ProcessDef] = {
    Process.PRESALES: ProcessDef(
        Process.PRESALES, PresalesWorkflow, presales.PresalesStart, presales.PresalesIntake, presales.ACTIONS
    ),
    Process.ORDER_FOLLOWUP: ProcessDef(
        Process.ORDER_FOLLOWUP,
        OrderFollowupWorkflow,
        order_followup.OrderFollowupStart,
        order_followup.OrderFollowupIntake,
        order_followup.ACTIONS,
    ),
    Process.AFTERSALES: ProcessDef(
        Process.AFTERSALES,
        AftersalesWorkflow,
        aftersales.AftersalesStart,
        aftersales.AftersalesIntake,
        aftersales.ACTIONS,
    ),
    Process.COMPLAINT: ProcessDef(
        Process.COMPLAINT,
        ComplaintWorkflow,
        complaint.ComplaintStart,
        complaint.ComplaintIntake,
        complaint.ACTIONS,
    ),
    Process.VALUE_PUSH: ProcessDef(
        Process.VALUE_PUSH,
        ValuePushWorkflow,
        value_push.ValuePushStart,
        value_push.ValuePushIntake,
        value_push.ACTIONS,
    ),
    Process.CARE: ProcessDef(Process.CARE, CareTaskWorkflow, care.CareStart, care.CareIntake, care.ACTIONS),
}

WORKFLOWS = [
    *(d.workflow for d in PROCESSES.values()),
    *push_workflows.WORKFLOWS,
    *survey_rounds.WORKFLOWS,
    CustomerJourneyWorkflow,
    *lifecycle.WORKFLOWS,
    *tiering.WORKFLOWS,
    *compliance.WORKFLOWS,
    *interaction_plans.WORKFLOWS,
]

# Every Temporal Schedule Careflow keeps (``careflow schedules``).
RECURRING: list[Recurring] = [
    *push_workflows.RECURRING,
    *survey_rounds.RECURRING,
    *lifecycle.RECURRING,
    *tiering.RECURRING,
    *compliance.RECURRING,
    *interaction_plans.RECURRING,
]


async def connect(address: str, namespace: str) -> Client:
    return await Client.connect(address, namespace=namespace, data_converter=pydantic_data_converter)
