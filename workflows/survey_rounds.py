"""(skeleton: periodic NPS / CSAT survey rounds, SAT-2; being written)"""

from __future__ import annotations

from workflows.schedules import Recurring

WORKFLOWS: list[type] = []
RECURRING: list[Recurring] = []
