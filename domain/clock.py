"""The SLA clock of one open step: warning, breach and escalation times, with pause/resume (SLA-2..4).

Pure arithmetic over instants the workflow passes in (``workflow.now()``), so it is deterministic and
unit-testable. Time is counted on the step's business calendar: every pending event sits at an *offset of
working time* from the step's start (the warning at ``target × warn_fraction``, the breach at ``target``,
each rung of the chain at ``target + after``), and the clock keeps how much working time has been
consumed. A pause stops the consumption; on resume the remaining time runs again from the new instant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from domain.calendar import TWENTY_FOUR_SEVEN, BusinessCalendar
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
    # Working time after the deadline at which each rung of the chain is told (ESC-1).
    chain_after: list[timedelta] = field(default_factory=list)
    calendar: BusinessCalendar = TWENTY_FOUR_SEVEN
    consumed: timedelta = timedelta(0)  # working time used before the running segment began
    running_since: datetime | None = None
    paused_since: datetime | None = None
    paused_total: timedelta = timedelta(0)  # wall-clock time spent paused, for the record
    breached_at: datetime | None = None  # the deadline as it stood when it passed
    warned: bool = False
    levels_fired: int = 0

    def __post_init__(self) -> None:
        if self.running_since is None and self.paused_since is None:
            self.running_since = self.opened_at

    @property
    def paused(self) -> bool:
        return self.paused_since is not None

    @property
    def breached(self) -> bool:
        return self.breached_at is not None

    def _at(self, offset: timedelta) -> datetime | None:
        """The instant the step will have used ``offset`` of working time; None while paused."""
        if self.running_since is None:
            return None
        return self.calendar.add(self.running_since, max(offset - self.consumed, timedelta(0)))

    def due_at(self) -> datetime | None:
        """The deadline (fixed once passed); None while paused, since it moves until the clock resumes."""
        if self.breached_at is not None:
            return self.breached_at
        return self._at(self.target)

    def warn_at(self) -> datetime | None:
        return None if self.warned or self.breached else self._at(self.target * self.warn_fraction)

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
            due = self._at(self.target)
            warn = self._at(self.target * self.warn_fraction)
            assert due is not None and warn is not None
            if not self.warned and warn < due:
                return ClockEvent.WARNING, warn
            return ClockEvent.BREACH, due
        if self.levels_fired < len(self.chain_after):
            at = self._at(self.target + self.chain_after[self.levels_fired])
            assert at is not None
            return ClockEvent.ESCALATE, at
        return None

    def fire(self, event: ClockEvent, now: datetime) -> list[int]:
        """Apply ``event`` at ``now``; returns the chain rungs (0-based) whose time has come."""
        if event is ClockEvent.WARNING:
            self.warned = True
            return []
        if self.breached_at is None:
            self.breached_at = self._at(self.target) or now
        self.warned = True
        told: list[int] = []
        while self.levels_fired < len(self.chain_after):
            at = self._at(self.target + self.chain_after[self.levels_fired])
            if at is None or at > now:
                break
            told.append(self.levels_fired)
            self.levels_fired += 1
        return told

    def pause(self, now: datetime) -> None:
        if self.running_since is not None:
            self.consumed += self.calendar.between(self.running_since, now)
            self.running_since = None
            self.paused_since = now

    def resume(self, now: datetime) -> timedelta:
        """Ends a pause; returns how long it lasted (wall-clock)."""
        if self.paused_since is None:
            return timedelta(0)
        lasted = now - self.paused_since
        self.paused_total += lasted
        self.paused_since = None
        self.running_since = now
        return lasted
