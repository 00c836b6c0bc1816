"""(skeleton: the order_followup process's intake and actions; being written)"""

from __future__ import annotations

from pydantic import Field

from domain.actions import COMMON_ACTIONS, ActionSpec
from domain.models import CarriedCase, CaseRef, Channel, Model


class OrderFollowupIntake(Model):
    channel: Channel = Channel.WEB_FORM
    contact: str = Field(min_length=1, max_length=200)


class OrderFollowupStart(Model):
    case: CaseRef
    intake: OrderFollowupIntake
    carried: CarriedCase | None = None


ACTIONS: list[ActionSpec] = [*COMMON_ACTIONS]
