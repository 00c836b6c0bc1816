"""Business calendars: the working time an SLA target is counted in (SLA-2).

A calendar is a week of working hours in one time zone, plus dated exceptions: holidays (days off even on
a working weekday) and make-up working days (调休上班, worked even on a weekend). ``add`` finds the instant
at which a target of working time has elapsed, ``between`` measures the working time in an interval.

Pure and deterministic: no clock, no randomness, no I/O besides ``zoneinfo`` lookups, so workflows can
call it (it is imported with ``imports_passed_through``). Work is done in UTC over each local day's spans,
so DST changes shorten or lengthen a span in elapsed time exactly as they do on the wall clock.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

Span = tuple[str, str]
DaySpans = tuple[tuple[datetime, datetime], ...]

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
SEARCH_LIMIT = timedelta(days=3 * 366)  # add() gives up after this long without any working time

_ONE_DAY = timedelta(days=1)
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_MEMO_LIMIT = 20_000  # cached days per calendar before the cache starts over


def _minutes(value: str, *, end: bool) -> int:
    if value == "24:00":
        if not end:
            raise ValueError("24:00 can only end a span")
        return 24 * 60
    m = _HHMM.match(value)
    if not m:
        raise ValueError(f"{value!r} is not a time of day (use HH:MM, e.g. 09:00)")
    return int(m.group(1)) * 60 + int(m.group(2))


def _check_spans(spans: list[Span], where: str) -> list[Span]:
    """Sorted, non-overlapping spans, each ending after it starts; returns them sorted."""
    try:
        parsed = sorted(((_minutes(a, end=False), _minutes(b, end=True)), (a, b)) for a, b in spans)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
    for (start, end), (a, b) in parsed:
        if end <= start:
            raise ValueError(f"{where} {a}–{b}: a span must end after it starts")
    for ((_, prev_end), (pa, pb)), ((start, _), (a, b)) in pairwise(parsed):
        if start < prev_end:
            raise ValueError(f"{where} {pa}–{pb} overlaps {a}–{b}")
    return [span for _, span in parsed]


def _as_utc(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {moment.isoformat()}")
    return moment.astimezone(UTC)


class _Index:
    """Lookup state derived from a calendar's fields: never part of a dump, always equal to another index.

    ``days`` memoises each local date's spans in UTC. ``source`` holds the field objects it was built from,
    so a ``model_copy(update=...)`` (which copies private state without re-validating) is noticed and the
    index rebuilt.
    """

    source: tuple[Any, ...] | None

    __slots__ = ("days", "holidays", "makeup", "source", "week", "workdays", "zone")

    def __init__(self, cal: BusinessCalendar) -> None:
        self.source = _source(cal)
        self.zone = ZoneInfo(cal.timezone)
        self.holidays = frozenset(cal.holidays)
        self.workdays = frozenset(cal.workdays)
        self.week = tuple(
            tuple((_minutes(a, end=False), _minutes(b, end=True)) for a, b in day) for day in cal.week
        )
        hours = cal.week[0] if cal.makeup_hours is None else cal.makeup_hours
        self.makeup = tuple((_minutes(a, end=False), _minutes(b, end=True)) for a, b in hours)
        self.days: dict[date, DaySpans] = {}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Index)

    __hash__ = None  # type: ignore[assignment]

    def __getstate__(self) -> dict[str, Any]:
        return {"stale": True}  # not empty: pickle skips __setstate__ for a falsy state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.source = None  # matches no calendar: rebuilt on first use
        self.days = {}


def _source(cal: BusinessCalendar) -> tuple[Any, ...]:
    return (cal.week, cal.makeup_hours, cal.holidays, cal.workdays, cal.timezone, cal.always_open)


class BusinessCalendar(BaseModel):
    """Working hours of a week in one time zone, with holidays and make-up working days."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    title: str = ""
    timezone: str = "Asia/Shanghai"
    always_open: bool = False  # 24×7: add() is plain addition, between() plain difference
    week: list[list[Span]] = Field(
        default_factory=lambda: [[] for _ in DAY_NAMES],
        description='Monday..Sunday, each a list of ("HH:MM", "HH:MM") working spans; "24:00" may end one',
    )
    makeup_hours: list[Span] | None = None  # hours on a make-up working day (调休); None = Monday's
    holidays: list[date] = Field(default_factory=list)
    workdays: list[date] = Field(default_factory=list)
    years: list[int] = Field(default_factory=list)  # years whose official schedule is known

    _idx: _Index = PrivateAttr()

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ValueError(f"unknown timezone {v!r} (use an IANA name such as Asia/Shanghai)") from None
        return v

    @field_validator("week")
    @classmethod
    def _week(cls, v: list[list[Span]]) -> list[list[Span]]:
        if len(v) != 7:
            raise ValueError(f"week must list 7 days (Monday..Sunday), got {len(v)}")
        return [_check_spans(day, name) for day, name in zip(v, DAY_NAMES, strict=True)]

    @field_validator("makeup_hours")
    @classmethod
    def _makeup(cls, v: list[Span] | None) -> list[Span] | None:
        if v is None:
            return None
        if not v:
            raise ValueError("makeup_hours needs at least one span (or null for Monday's hours)")
        return _check_spans(v, "make-up day")

    @field_validator("holidays", "workdays")
    @classmethod
    def _dates(cls, v: list[date]) -> list[date]:
        return sorted(set(v))

    @field_validator("years")
    @classmethod
    def _years(cls, v: list[int]) -> list[int]:
        return sorted(set(v))

    @model_validator(mode="after")
    def _consistent(self) -> BusinessCalendar:
        if not self.always_open and not any(self.week):
            raise ValueError(
                "a calendar needs working hours on at least one day of the week (or always_open)"
            )
        both = sorted(set(self.holidays) & set(self.workdays))
        if both:
            raise ValueError(f"{both[0].isoformat()} is both a holiday and a make-up working day")
        if self.workdays and not (self.makeup_hours or self.week[0]):
            raise ValueError("make-up working days need hours: set makeup_hours (Monday has none)")
        return self

    def model_post_init(self, context: Any, /) -> None:
        self._idx = _Index(self)

    def _index(self) -> _Index:
        idx = self._idx
        if idx.source is None or any(a is not b for a, b in zip(idx.source, _source(self), strict=True)):
            idx = self._idx = _Index(self)
        return idx

    # -- days --------------------------------------------------------------------------------------------

    def _minute_spans(self, idx: _Index, d: date) -> tuple[tuple[int, int], ...]:
        if d in idx.workdays:
            return idx.makeup
        if d in idx.holidays:
            return ()
        return idx.week[d.weekday()]

    def _local_utc(self, idx: _Index, d: date, minute: int) -> datetime:
        if minute >= 24 * 60:
            d, minute = d + _ONE_DAY, minute - 24 * 60
        return datetime.combine(d, time(minute // 60, minute % 60), tzinfo=idx.zone).astimezone(UTC)

    def _day(self, idx: _Index, d: date) -> DaySpans:
        """The spans of local date ``d`` in UTC, sorted, disjoint and inside the day's own bounds.

        A wall time that does not exist (spring-forward gap) is read as ``datetime`` reads it; clamping
        then keeps the spans ordered, so days tile the timeline without overlapping.
        """
        got = idx.days.get(d)
        if got is not None:
            return got
        if self.always_open:
            minute_spans: tuple[tuple[int, int], ...] = ((0, 24 * 60),)
        else:
            minute_spans = self._minute_spans(idx, d)
        spans: list[tuple[datetime, datetime]] = []
        if minute_spans:
            floor = self._local_utc(idx, d, 0)
            ceiling = max(floor, self._local_utc(idx, d, 24 * 60))
            for a, b in minute_spans:
                start = min(max(self._local_utc(idx, d, a), floor), ceiling)
                end = min(max(self._local_utc(idx, d, b), start), ceiling)
                if end > start:
                    spans.append((start, end))
                    floor = end
        if len(idx.days) >= _MEMO_LIMIT:
            idx.days.clear()
        got = idx.days[d] = tuple(spans)
        return got

    def _local_date(self, idx: _Index, moment: datetime) -> date:
        return moment.astimezone(idx.zone).date()

    def is_working_day(self, d: date) -> bool:
        """Whether ``d`` has working hours: make-up days win over weekends, holidays over weekdays."""
        if self.always_open:
            return True
        return bool(self._minute_spans(self._index(), d))

    def is_working_day_at(self, t: datetime) -> bool:
        """Whether the local date of instant ``t`` is a working day."""
        return self.is_working_day(self._local_date(self._index(), _as_utc(t, "t")))

    def spans_on(self, d: date) -> list[tuple[datetime, datetime]]:
        """The working spans of local date ``d`` as aware datetimes in the calendar's zone."""
        idx = self._index()
        return [(s.astimezone(idx.zone), e.astimezone(idx.zone)) for s, e in self._day(idx, d)]

    def is_working_time(self, t: datetime) -> bool:
        """Whether instant ``t`` is inside a span (start inclusive, end exclusive)."""
        t = _as_utc(t, "t")
        if self.always_open:
            return True
        idx = self._index()
        d = self._local_date(idx, t)
        return any(s <= t < e for day in (d - _ONE_DAY, d, d + _ONE_DAY) for s, e in self._day(idx, day))

    # -- arithmetic --------------------------------------------------------------------------------------

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant (UTC) at which ``duration`` of working time has elapsed, counting from ``start``.

        Outside working time the count starts with the next span; time that runs out exactly at a span's
        end gives that end. A zero duration gives ``start`` itself (in UTC).
        """
        if duration < timedelta(0):
            raise ValueError(f"duration must not be negative, got {duration}")
        begin = _as_utc(start, "start")
        if self.always_open or not duration:
            return begin + duration
        idx = self._index()
        remaining = duration
        d = self._local_date(idx, begin) - _ONE_DAY
        last_work = d
        while True:
            spans = self._day(idx, d)
            for s, e in spans:
                if e <= begin:
                    continue
                s = max(s, begin)
                available = e - s
                if remaining <= available:
                    return s + remaining
                remaining -= available
                last_work = d
            if d - last_work > SEARCH_LIMIT:
                raise ValueError(
                    f"calendar {self.name!r} has no working time within 3 years after {d - SEARCH_LIMIT}"
                )
            d += _ONE_DAY

    def between(self, a: datetime, b: datetime) -> timedelta:
        """Working time in ``[a, b)``; zero when ``b <= a``."""
        a, b = _as_utc(a, "a"), _as_utc(b, "b")
        if b <= a:
            return timedelta(0)
        if self.always_open:
            return b - a
        idx = self._index()
        total = timedelta(0)
        d, last = self._local_date(idx, a) - _ONE_DAY, self._local_date(idx, b) + _ONE_DAY
        while d <= last:
            for s, e in self._day(idx, d):
                lo, hi = max(s, a), min(e, b)
                if hi > lo:
                    total += hi - lo
            d += _ONE_DAY
        return total

    def missing_years(self, a: datetime, b: datetime) -> list[int]:
        """Local years touched by ``[a, b]`` whose official holiday schedule the calendar lacks."""
        if self.always_open:
            return []
        idx = self._index()
        first, last = sorted((self._local_date(idx, _as_utc(a, "a")), self._local_date(idx, _as_utc(b, "b"))))
        known = set(self.years)
        return [y for y in range(first.year, last.year + 1) if y not in known]


# Typical Chinese office hours: 09:00–12:00 and 13:00–18:00 on weekdays, with a lunch break.
STANDARD_WEEK: list[list[Span]] = [[("09:00", "12:00"), ("13:00", "18:00")] for _ in range(5)] + [[], []]

TWENTY_FOUR_SEVEN = BusinessCalendar(
    name="24x7", title="全天候 24×7", always_open=True, week=[[("00:00", "24:00")] for _ in DAY_NAMES]
)
