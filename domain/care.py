"""Care tasks and the customer journey (SPEC R-1..R-4, R-7; seeds 001 §四, 000 §(二)).

A care task is an owner's task with a deadline — a case of the ``care`` process (``CR-…``) with one step,
the step of its kind. The customer journey (``workflows/journey.py``) raises them: the welcome callback
after the first purchase (R-2), the renewal follow-up 30 days before the contract ends (R-3), milestone care
on birthdays, company anniversaries and years of partnership (R-4), and retention when a watch customer
has gone quiet or their spend dropped (R-7). Interaction plans raise ``plan_touch`` tasks (R-1).

This module holds the intake, the staff actions and the journey's date arithmetic, which is pure so the
workflow stays deterministic and the tests can check it without a clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field

from domain.actions import COMMON_ACTIONS, ActionInput, ActionSpec
from domain.i18n import label
from domain.models import CaseRef, Model, Step, Tier

# Journey dates are China Standard Time days; greetings and tasks go out at 09:00 on the day.
CST = timezone(timedelta(hours=8), "CST")
SEND_AT = time(9, 0)


def _aware(value: datetime | None) -> datetime | None:
    """A time typed without an offset (the staff web form) is Beijing time, as every page shows it."""
    return value if value is None or value.tzinfo is not None else value.replace(tzinfo=CST)


When = Annotated[datetime, AfterValidator(_aware)]
MaybeWhen = Annotated[datetime | None, AfterValidator(_aware)]


class CareKind(StrEnum):
    """The kind of a care task is the step it runs (its SLA target comes from the policy)."""

    WELCOME_CALLBACK = Step.WELCOME_CALLBACK.value  # first callback within 48 h
    RENEWAL_FOLLOW_UP = Step.RENEWAL_FOLLOW_UP.value  # the owner follows the renewal reminder up
    MILESTONE_CARE = Step.MILESTONE_CARE.value  # birthday, anniversary, years of partnership
    RETENTION = Step.RETENTION.value  # churn warning
    PLAN_TOUCH = Step.PLAN_TOUCH.value  # a planned touch of an interaction plan


CARE_STEPS = frozenset(Step(k.value) for k in CareKind)


class Occasion(StrEnum):
    """Why a task was raised."""

    FIRST_PURCHASE = "first_transaction"
    CONTRACT_END = "contract_ending"
    BIRTHDAY = "birthday_care"
    ANNIVERSARY = "company_anniversary"
    PARTNERSHIP = "partnership_year"
    QUIET = "quiet_watch"  # a watch customer without a purchase for the churn-watch period
    SPEND_DROP = "spend_decline"  # T-4: spend fell 50% two months running
    PLAN = "interaction_plan"
    MANUAL = "manual_task"


class CareIntake(Model):
    kind: CareKind = Field(description="task kind")
    occasion: Occasion = Occasion.MANUAL
    note: str = Field(default="", max_length=2000, description="what the owner should do")
    due: MaybeWhen = Field(default=None, description="deadline; empty: the policy's target")

    def record(self) -> dict[str, object]:
        return {
            "kind": self.kind.value,
            "occasion": self.occasion.value,
            "note": self.note,
            "due_at": self.due,
        }


class CareStart(Model):
    case: CaseRef
    intake: CareIntake


class CareResult(StrEnum):
    COMPLETED = "completed"
    RENEWED = "renewed"
    RETAINED = "retained"
    DECLINED = "declined"


class RescheduleReason(StrEnum):
    UNREACHABLE = "unreachable"
    CUSTOMER_REQUEST = "customer_request"


class CareDone(ActionInput):
    result: CareResult = CareResult.COMPLETED
    note: str = Field(min_length=1, max_length=4000, description="what was said or done")


class Reschedule(ActionInput):
    """The customer could not be reached (or asked for later): the task opens again, due at ``retry_at``."""

    reason: RescheduleReason = RescheduleReason.UNREACHABLE
    retry_at: When = Field(description="next attempt by")
    note: str = Field(default="", max_length=2000)


ACTIONS: list[ActionSpec] = [
    ActionSpec("complete", CareDone, CARE_STEPS),
    ActionSpec("reschedule", Reschedule, CARE_STEPS),
    *COMMON_ACTIONS,
]


def task_subject(kind: CareKind, occasion: Occasion, note: str) -> str:
    head = f"{label(kind.value)} · {label(occasion.value)}"
    return f"{head} · {note[:80]}" if note else head


# -- the journey -------------------------------------------------------------------------------------------


class JourneyTimings(Model):
    """From the policy in force (care/renewal_notice and care/churn_watch for the customer's tier)."""

    renewal_ahead: timedelta = timedelta(days=30)
    churn_after: timedelta = timedelta(days=90)


class CustomerFacts(Model):
    """What the journey reads about its customer (an activity: the workflow does no I/O)."""

    customer_id: int
    name: str
    tier: Tier
    owner: str | None = None
    birthday: date | None = None
    anniversary: date | None = None
    contract_end: date | None = None
    created_at: datetime
    first_purchase_at: datetime | None = None
    last_purchase_at: datetime | None = None
    merged_into: int | None = None
    timings: JourneyTimings = Field(default_factory=JourneyTimings)


class JourneyState(Model):
    """What the journey carries from run to run (continue-as-new)."""

    first_purchase_at: datetime | None = None
    last_purchase_at: datetime | None = None
    welcomed_at: datetime | None = None
    purchases: int = 0
    interactions: int = 0
    last_interaction_at: datetime | None = None
    last_interaction: str | None = None
    tier: Tier | None = None
    done: list[str] = Field(default_factory=list)  # occasion keys handled (newest last)
    tasks: list[str] = Field(default_factory=list)  # care task numbers raised (newest last)
    events: int = 0  # signals and occasions handled over the journey's life
    runs: int = 1


class PendingSignal(Model):
    name: str
    args: list[str] = Field(default_factory=list)


class JourneyStart(Model):
    customer_id: int
    state: JourneyState | None = None
    pending: list[PendingSignal] = Field(default_factory=list)


class Planned(Model):
    key: str  # unique per customer: "renewal:2027-03-31", "birthday:2026", "quiet:2026-01-05"
    occasion: Occasion
    at: datetime
    detail: str = ""  # a date or a count for the message


class JourneyView(Model):
    customer_id: int
    state: JourneyState
    next: Planned | None
    run_started_at: datetime | None


# How many handled events, or how long, one run of a journey lasts before it continues as new.
EVENTS_PER_RUN = 200
RUN_LENGTH = timedelta(days=365)
# How long the journey trusts what it read about the customer (dates may be edited) before reading again.
FACTS_REFRESH = timedelta(days=7)
# How many handled occasion keys and task numbers the journey keeps.
KEEP = 50


def day_of(at: datetime) -> date:
    return at.astimezone(CST).date()


def send_time(day: date) -> datetime:
    return datetime.combine(day, SEND_AT, CST).astimezone(UTC)


def _on(month_day: date, year: int) -> date:
    """``month_day``'s month and day in ``year``; 29 February is kept on 28 February in other years."""
    try:
        return month_day.replace(year=year)
    except ValueError:
        return date(year, 2, 28)


def next_yearly(month_day: date, today: date) -> date:
    """The first day on or after ``today`` with ``month_day``'s month and day."""
    this_year = _on(month_day, today.year)
    return this_year if this_year >= today else _on(month_day, today.year + 1)


def planned(facts: CustomerFacts, state: JourneyState, now: datetime) -> list[Planned]:
    """Every occasion not handled yet, with the instant it is due (due ones first)."""
    today = day_of(now)
    found: list[Planned] = []
    if facts.contract_end is not None and facts.contract_end >= today:
        # 30 days (the policy's renewal_notice) before the contract ends; late, at once.
        at = send_time(facts.contract_end) - facts.timings.renewal_ahead
        found.append(
            Planned(
                key=f"renewal:{facts.contract_end.isoformat()}",
                occasion=Occasion.CONTRACT_END,
                at=at,
                detail=facts.contract_end.isoformat(),
            )
        )
    if facts.birthday is not None:
        day = next_yearly(facts.birthday, today)
        found.append(Planned(key=f"birthday:{day.year}", occasion=Occasion.BIRTHDAY, at=send_time(day)))
    if facts.anniversary is not None:
        day = next_yearly(facts.anniversary, today)
        if day.year > facts.anniversary.year:
            found.append(
                Planned(
                    key=f"anniversary:{day.year}",
                    occasion=Occasion.ANNIVERSARY,
                    at=send_time(day),
                    detail=str(day.year - facts.anniversary.year),
                )
            )
    since = state.first_purchase_at or facts.first_purchase_at
    if since is not None:
        start = day_of(since)
        day = next_yearly(start, today)
        if day.year == start.year:
            day = _on(start, start.year + 1)
        years = day.year - start.year
        found.append(
            Planned(
                key=f"partnership:{years}",
                occasion=Occasion.PARTNERSHIP,
                at=send_time(day),
                detail=str(years),
            )
        )
    tier = state.tier or facts.tier
    if tier is Tier.WATCH:
        # R-7 / T-5: a watch customer three months (churn_watch) without a purchase.
        base = max(
            (t for t in (state.last_purchase_at, facts.last_purchase_at) if t is not None),
            default=facts.created_at,
        )
        found.append(
            Planned(
                key=f"quiet:{day_of(base).isoformat()}",
                occasion=Occasion.QUIET,
                at=base + facts.timings.churn_after,
                detail=day_of(base).isoformat(),
            )
        )
    open_ = [p for p in found if p.key not in state.done]
    return sorted(open_, key=lambda p: p.at)


def parse_instant(value: str, default: datetime) -> datetime:
    """An ISO 8601 instant from a signal; a naive one is China time, an unreadable one ``default``."""
    try:
        at = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return default
    return at if at.tzinfo is not None else at.replace(tzinfo=CST)
