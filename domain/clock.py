"""The SLA clock of one open step: warning, breach and escalation times, with pause/resume (SLA-3, SLA-4).

Pure arithmetic over instants the workflow passes in (``workflow.now()``), so it is deterministic and
unit-testable. Every pending time is ``opened_at + offset + paused_total``: a pause shifts all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from domain.models import SlaState


class ClockEvent(StrEnum):
    WARNING = "warning"
    BREACH = "breach"  # the deadline passes: the case is breached and the chain starts
    ESCALATE = "escalate"  # a later rung of the chain


@dataclass
class StepClock:
    opened_at: datetime
    target: timedelta
    warn_fraction: float
    # Offsets after the deadline at which each rung of the chain is told (ESC-1).
    chain_after: list[timedelta] = field(default_factory=list)
    paused_total: timedelta = timedelta(0)
    paused_since: datetime | None = None
    warned: bool = False
    breached: bool = False
    levels_fired: int = 0

    @property
    def paused(self) -> bool:
        return self.paused_since is not None

    def _shift(self, now: datetime | None) -> timedelta:
        running_pause = (now - self.paused_since) if (self.paused_since and now) else timedelta(0)
        return self.paused_total + running_pause

    def due_at(self, now: datetime | None = None) -> datetime:
        """The deadline; while paused it keeps moving with ``now``."""
        return self.opened_at + self.target + self._shift(now)

    def warn_at(self, now: datetime | None = None) -> datetime:
        return self.opened_at + self.target * self.warn_fraction + self._shift(now)

    def state(self) -> SlaState:
        if self.paused:
            return SlaState.PAUSED
        if self.breached:
            return SlaState.BREACHED
        if self.warned:
            return SlaState.WARNING
        return SlaState.ON_TRACK

    def next_event(self) -> tuple[ClockEvent, datetime] | None:
        """What fires next and when; None while paused or once the whole chain has been told."""
        if self.paused:
            return None
        if not self.breached:
            if not self.warned and self.warn_at() < self.due_at():
                return ClockEvent.WARNING, self.warn_at()
            return ClockEvent.BREACH, self.due_at()
        if self.levels_fired < len(self.chain_after):
            return ClockEvent.ESCALATE, self.due_at() + self.chain_after[self.levels_fired]
        return None

    def fire(self, event: ClockEvent, now: datetime) -> list[int]:
        """Apply ``event`` at ``now``; returns the chain rungs (0-based) whose time has come."""
        if event is ClockEvent.WARNING:
            self.warned = True
            return []
        self.breached = self.warned = True
        told: list[int] = []
        while self.levels_fired < len(self.chain_after) and (
            self.due_at() + self.chain_after[self.levels_fired] <= now
        ):
            told.append(self.levels_fired)
            self.levels_fired += 1
        return told

    def pause(self, now: datetime) -> None:
        if self.paused_since is None:
            self.paused_since = now

    def resume(self, now: datetime) -> timedelta:
        """Ends a pause; returns how long it lasted."""
        if self.paused_since is None:
            return timedelta(0)
        lasted = now - self.paused_since
        self.paused_total += lasted
        self.paused_since = None
        return lasted
