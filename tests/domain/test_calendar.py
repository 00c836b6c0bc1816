"""Business calendars and China's public holidays: pure, no I/O (SLA-2).

The concrete dates follow chinesecalendar 1.11 for 2026: New Year 1/1–1/3 (1/4 Sun worked), Spring
Festival 2/15–2/23 (2/14 Sat and 2/28 Sat worked), Qingming 4/4–4/6, Labour Day 5/1–5/5 (5/9 Sat worked),
Mid-Autumn 9/25–9/27 and National Day 10/1–10/7 (9/20 Sun and 10/10 Sat worked).
"""

from __future__ import annotations

import pickle
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.calendar import STANDARD_WEEK, TWENTY_FOUR_SEVEN, BusinessCalendar
from domain.holidays import china_public_days

SH = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")

HOLIDAYS, WORKDAYS, COVERED = china_public_days([2025, 2026, 2027])
CN = BusinessCalendar(
    name="cn-standard",
    title="中国大陆工作日 09:00–18:00",
    week=STANDARD_WEEK,
    holidays=HOLIDAYS,
    workdays=WORKDAYS,
    years=COVERED,
)


def sh(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=SH)


def local(t: datetime) -> datetime:
    return t.astimezone(SH)


# -- the package's data ---------------------------------------------------------------------------------


def test_sla2_china_public_days_cover_2025_and_2026_but_not_2027():
    assert COVERED == [2025, 2026]
    assert HOLIDAYS == sorted(HOLIDAYS) and WORKDAYS == sorted(WORKDAYS)
    assert {d.year for d in HOLIDAYS} == {d.year for d in WORKDAYS} == {2025, 2026}
    assert {date(2026, 4, 4), date(2026, 4, 6), date(2026, 5, 5), date(2026, 10, 7)} <= set(HOLIDAYS)
    assert {
        date(2026, 1, 4),
        date(2026, 2, 28),
        date(2026, 5, 9),
        date(2026, 9, 20),
        date(2026, 10, 10),
    } <= set(WORKDAYS)
    assert all(d.weekday() >= 5 for d in WORKDAYS)  # make-up days are weekends
    assert not set(HOLIDAYS) & set(WORKDAYS)
    assert china_public_days([2027]) == ([], [], [])
    assert china_public_days(range(2004, 2027))[2] == list(range(2004, 2027))


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 4, 3), True),  # Friday
        (date(2026, 4, 6), False),  # Monday, Qingming
        (date(2026, 2, 28), True),  # Saturday, make-up day
        (date(2026, 3, 7), False),  # ordinary Saturday
        (date(2026, 10, 1), False),  # Thursday, National Day
        (date(2026, 10, 10), True),  # Saturday, make-up day
        (date(2027, 10, 1), True),  # Friday: the package knows nothing of 2027
    ],
)
def test_sla2_working_days_follow_holidays_and_makeup_days(day, working):
    assert CN.is_working_day(day) is working
    assert bool(CN.spans_on(day)) is working


# -- concrete deadlines ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "duration", "due"),
    [
        # Friday before Qingming: Sat, Sun and Monday 4/6 off
        (sh(2026, 4, 3, 17, 50), timedelta(minutes=30), sh(2026, 4, 7, 9, 20)),
        # Friday before a make-up Saturday (调休上班)
        (sh(2026, 2, 27, 17, 50), timedelta(minutes=30), sh(2026, 2, 28, 9, 20)),
        # New Year's Eve: 1/1–1/3 off, Sunday 1/4 worked
        (sh(2025, 12, 31, 17, 50), timedelta(minutes=30), sh(2026, 1, 4, 9, 20)),
        # Eve of National Day: 10 min on 9/30, then 1 h 50 min from 09:00 on Thursday 10/8
        (sh(2026, 9, 30, 17, 50), timedelta(hours=2), sh(2026, 10, 8, 10, 50)),
        # Spring Festival: Saturday 2/14 is worked, then 2/15–2/23 off
        (sh(2026, 2, 13, 17, 50), timedelta(minutes=30), sh(2026, 2, 14, 9, 20)),
        (sh(2026, 2, 14, 17, 50), timedelta(minutes=30), sh(2026, 2, 24, 9, 20)),
        # Lunch break
        (sh(2026, 3, 4, 11, 50), timedelta(minutes=20), sh(2026, 3, 4, 13, 10)),
        # Time that runs out at closing time stays on Friday
        (sh(2026, 3, 6, 17, 50), timedelta(minutes=10), sh(2026, 3, 6, 18)),
        (sh(2026, 3, 6, 11, 50), timedelta(minutes=10), sh(2026, 3, 6, 12)),
        # Starting outside working time counts from the next span
        (sh(2026, 3, 7, 10), timedelta(hours=1), sh(2026, 3, 9, 10)),
        (sh(2026, 3, 9, 12, 30), timedelta(minutes=5), sh(2026, 3, 9, 13, 5)),
        (sh(2026, 3, 9, 6), timedelta(hours=8), sh(2026, 3, 9, 18)),
        # 24 working hours = three working days
        (sh(2026, 3, 9, 9), timedelta(hours=24), sh(2026, 3, 11, 18)),
    ],
)
def test_sla2_add_counts_working_time_only(start, duration, due):
    result = CN.add(start, duration)
    assert result == due
    assert result.tzinfo is UTC
    assert CN.between(start, result) == duration


def test_sla2_add_of_nothing_is_the_start_even_outside_hours():
    saturday = sh(2026, 3, 7, 23, 59)
    assert CN.add(saturday, timedelta(0)) == saturday
    assert CN.add(saturday, timedelta(0)).tzinfo is UTC


def test_sla2_add_rejects_negative_durations_and_naive_instants():
    with pytest.raises(ValueError, match="must not be negative"):
        CN.add(sh(2026, 3, 9, 10), timedelta(minutes=-1))
    with pytest.raises(ValueError, match="timezone-aware"):
        CN.add(datetime(2026, 3, 9, 10), timedelta(minutes=1))
    with pytest.raises(ValueError, match="timezone-aware"):
        CN.between(datetime(2026, 3, 9, 10), sh(2026, 3, 9, 11))


def test_sla2_between_counts_only_working_days_of_a_holiday_fortnight():
    # 9/28 Mon – 10/11 Sun: worked 9/28, 9/29, 9/30, 10/8, 10/9 and make-up Saturday 10/10
    assert CN.between(sh(2026, 9, 28), sh(2026, 10, 12)) == timedelta(hours=6 * 8)
    # Labour Day: 5/1–5/5 off, 5/6–5/8 worked, make-up Saturday 5/9
    assert CN.between(sh(2026, 5, 1), sh(2026, 5, 11)) == timedelta(hours=4 * 8)
    assert CN.between(sh(2026, 10, 1), sh(2026, 10, 8)) == timedelta(0)
    assert CN.between(sh(2026, 10, 12), sh(2026, 10, 1)) == timedelta(0)
    # the lunch hour and the evening are not counted; the end is exclusive
    assert CN.between(sh(2026, 3, 9, 11, 30), sh(2026, 3, 9, 13, 30)) == timedelta(hours=1)
    assert CN.between(sh(2026, 3, 9, 17), sh(2026, 3, 10, 9)) == timedelta(hours=1)


def test_sla2_working_time_is_start_inclusive_end_exclusive():
    assert CN.is_working_time(sh(2026, 3, 9, 9))
    assert not CN.is_working_time(sh(2026, 3, 9, 12))
    assert CN.is_working_time(sh(2026, 3, 9, 13))
    assert CN.is_working_time(sh(2026, 3, 9, 17, 59))
    assert not CN.is_working_time(sh(2026, 3, 9, 18))
    assert not CN.is_working_time(sh(2026, 10, 1, 10))
    assert CN.is_working_time(sh(2026, 10, 10, 10))
    assert CN.is_working_time(datetime(2026, 3, 9, 1, 0, tzinfo=UTC))  # 09:00 in Shanghai


# -- admin overrides for a year the package does not know -----------------------------------------------

SPRING_2027 = [date(2027, 2, 5) + timedelta(days=i) for i in range(7)]  # Fri 2/5 – Thu 2/11 (illustrative)
MAKEUP_2027 = [date(2027, 2, 14)]  # Sunday (illustrative)


def test_sla2_admin_overrides_for_2027_move_deadlines_and_confirm_the_year():
    pending = BusinessCalendar(
        name="cn-standard",
        week=STANDARD_WEEK,
        holidays=[*CN.holidays, *SPRING_2027],
        workdays=[*CN.workdays, *MAKEUP_2027],
        years=[2026],
    )
    before_break = sh(2027, 2, 4, 17, 50)
    due = pending.add(before_break, timedelta(minutes=30))
    assert due == sh(2027, 2, 12, 9, 20)  # Friday after the break
    assert pending.add(sh(2027, 2, 12, 17, 50), timedelta(minutes=30)) == sh(2027, 2, 14, 9, 20)  # Sunday
    assert CN.add(before_break, timedelta(minutes=30)) == sh(2027, 2, 5, 9, 20)  # without the override
    assert pending.missing_years(before_break, due) == [2027]
    assert pending.missing_years(sh(2026, 12, 31, 17), sh(2027, 1, 4, 9)) == [2027]
    assert pending.missing_years(sh(2026, 3, 1), sh(2026, 4, 1)) == []

    confirmed = pending.model_copy(update={"years": [2026, 2027]})
    assert confirmed.missing_years(before_break, due) == []
    assert TWENTY_FOUR_SEVEN.missing_years(sh(2030, 1, 1), sh(2031, 1, 1)) == []


def test_sla2_missing_years_spans_every_year_touched():
    assert CN.missing_years(sh(2024, 12, 31, 23), sh(2028, 1, 1)) == [2024, 2027, 2028]
    # local years: 2026-12-31 17:00 UTC is already 2027 in Shanghai
    assert CN.missing_years(datetime(2026, 12, 31, 17, tzinfo=UTC), sh(2027, 1, 2)) == [2027]


def test_sla2_no_working_time_within_three_years_is_an_error():
    mondays = [date(2026, 1, 5) + timedelta(weeks=i) for i in range(200)]
    only_mondays = [[("09:00", "18:00")], [], [], [], [], [], []]
    closed = BusinessCalendar(name="closed", week=only_mondays, holidays=mondays)
    with pytest.raises(ValueError, match="no working time within 3 years"):
        closed.add(sh(2026, 1, 1), timedelta(minutes=1))
    assert closed.between(sh(2026, 1, 1), sh(2027, 1, 1)) == timedelta(0)
    # a long gap that ends within the limit is fine
    shorter = closed.model_copy(update={"holidays": mondays[:100]})
    assert shorter.add(sh(2026, 1, 1), timedelta(hours=1)) == datetime.combine(
        mondays[100], time(10), tzinfo=SH
    )


# -- validation -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"week": STANDARD_WEEK[:5]}, r"week must list 7 days \(Monday\.\.Sunday\)"),
        (
            {"week": [[("09:00", "08:00")], *STANDARD_WEEK[1:]]},
            "Monday 09:00–08:00: a span must end after it starts",
        ),
        ({"week": [[("09:00", "12:00"), ("11:00", "13:00")], *STANDARD_WEEK[1:]]}, "overlaps"),
        ({"week": [[("9:00", "12:00")], *STANDARD_WEEK[1:]]}, r"'9:00' is not a time of day \(use HH:MM"),
        ({"week": [[("24:00", "24:00")], *STANDARD_WEEK[1:]]}, "24:00 can only end a span"),
        ({"week": [[] for _ in range(7)]}, "working hours on at least one day"),
        ({"week": STANDARD_WEEK, "timezone": "Mars/Olympus"}, "unknown timezone 'Mars/Olympus'"),
        (
            {"week": STANDARD_WEEK, "holidays": [date(2026, 10, 1)], "workdays": [date(2026, 10, 1)]},
            "2026-10-01 is both a holiday and a make-up working day",
        ),
        ({"week": STANDARD_WEEK, "makeup_hours": []}, "makeup_hours needs at least one span"),
        ({"week": STANDARD_WEEK, "makeup_hours": [("10:00", "09:00")]}, "make-up day 10:00–09:00"),
        (
            {"week": [[], *STANDARD_WEEK[1:]], "workdays": [date(2026, 2, 28)]},
            "make-up working days need hours",
        ),
        ({"week": STANDARD_WEEK, "hours": "9-6"}, "Extra inputs are not permitted"),
    ],
)
def test_sla2_bad_calendars_are_rejected_with_a_reason(fields, message):
    with pytest.raises(ValidationError, match=message):
        BusinessCalendar(name="bad", **fields)


def test_sla2_spans_are_sorted_and_may_end_at_midnight():
    cal = BusinessCalendar(name="late", week=[[("20:00", "24:00"), ("08:00", "12:00")]] * 7)
    assert cal.week[0] == [("08:00", "12:00"), ("20:00", "24:00")]
    assert cal.spans_on(date(2026, 3, 9))[-1] == (sh(2026, 3, 9, 20), sh(2026, 3, 10))
    assert cal.add(sh(2026, 3, 9, 23), timedelta(hours=2)) == sh(2026, 3, 10, 9)
    assert cal.add(sh(2026, 3, 9, 23), timedelta(hours=1)) == sh(2026, 3, 10)  # at the span's end


def test_sla2_calendar_is_frozen():
    with pytest.raises(ValidationError):
        CN.name = "other"  # type: ignore[misc]


# -- 24×7 and time zones --------------------------------------------------------------------------------


def test_sla2_twenty_four_seven_is_plain_arithmetic():
    t = sh(2026, 10, 1, 3, 17)
    assert TWENTY_FOUR_SEVEN.add(t, timedelta(days=3, minutes=5)) == t + timedelta(days=3, minutes=5)
    assert TWENTY_FOUR_SEVEN.add(t, timedelta(hours=1)).tzinfo is UTC
    assert TWENTY_FOUR_SEVEN.between(t, t + timedelta(hours=50)) == timedelta(hours=50)
    assert TWENTY_FOUR_SEVEN.between(t, t - timedelta(hours=1)) == timedelta(0)
    assert TWENTY_FOUR_SEVEN.is_working_day(date(2026, 10, 1))
    assert TWENTY_FOUR_SEVEN.is_working_time(t)
    # elapsed time, not wall-clock time, across a DST change
    berlin = datetime(2026, 3, 28, 12, tzinfo=BERLIN)
    assert TWENTY_FOUR_SEVEN.add(berlin, timedelta(hours=24)) == datetime(2026, 3, 29, 13, tzinfo=BERLIN)
    assert BusinessCalendar(name="open", always_open=True).add(t, timedelta(hours=1)) == t + timedelta(
        hours=1
    )


def test_sla2_dst_change_days_are_shorter_and_longer_in_elapsed_time():
    all_day = BusinessCalendar(name="de-24", timezone="Europe/Berlin", week=[[("00:00", "24:00")]] * 7)

    def day(y, m, d):
        return datetime(y, m, d, tzinfo=BERLIN), datetime(y, m, d + 1, tzinfo=BERLIN)

    assert all_day.between(*day(2026, 3, 28)) == timedelta(hours=24)
    assert all_day.between(*day(2026, 3, 29)) == timedelta(hours=23)  # clocks go forward
    assert all_day.between(*day(2026, 10, 25)) == timedelta(hours=25)  # clocks go back

    night = BusinessCalendar(name="de-night", timezone="Europe/Berlin", week=[[("01:00", "04:00")]] * 7)
    ((start, end),) = night.spans_on(date(2026, 3, 29))
    assert (start.tzinfo, end - start) == (BERLIN, timedelta(hours=3))  # wall clock says 3 h ...
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=2)  # ... 2 h elapse
    assert night.between(
        datetime(2026, 3, 29, tzinfo=BERLIN), datetime(2026, 3, 30, tzinfo=BERLIN)
    ) == timedelta(hours=2)
    assert night.between(datetime(2026, 10, 25, tzinfo=BERLIN), datetime(2026, 10, 26, tzinfo=BERLIN)) == (
        timedelta(hours=4)
    )

    office = BusinessCalendar(
        name="de-office", timezone="Europe/Berlin", week=[[("09:00", "17:00")]] * 5 + [[]] * 2
    )
    # Friday 16:00 CET + 2 h → Monday 10:00 CEST (08:00 UTC, not 09:00)
    due = office.add(datetime(2026, 3, 27, 16, tzinfo=BERLIN), timedelta(hours=2))
    assert due == datetime(2026, 3, 30, 8, tzinfo=UTC) == datetime(2026, 3, 30, 10, tzinfo=BERLIN)


# -- serialisation --------------------------------------------------------------------------------------


def test_sla2_calendar_round_trips_through_json_and_pickle():
    dumped = CN.model_dump(mode="json")
    assert set(dumped) == {
        "name",
        "title",
        "timezone",
        "always_open",
        "week",
        "makeup_hours",
        "holidays",
        "workdays",
        "years",
    }
    assert "2026-10-01" in dumped["holidays"]
    again = BusinessCalendar.model_validate(dumped)
    assert again == CN
    assert BusinessCalendar.model_validate_json(CN.model_dump_json()) == CN
    thawed = pickle.loads(pickle.dumps(CN))
    assert thawed == CN
    for start in (sh(2026, 4, 3, 17, 50), sh(2026, 9, 30, 17, 50), sh(2025, 12, 31, 17, 50)):
        for duration in (timedelta(minutes=30), timedelta(hours=30), timedelta(days=20)):
            assert again.add(start, duration) == thawed.add(start, duration) == CN.add(start, duration)


def test_sla2_a_changed_copy_does_not_reuse_the_old_lookups():
    start = sh(2026, 3, 9, 17, 50)
    assert CN.add(start, timedelta(minutes=30)) == sh(2026, 3, 10, 9, 20)
    off = CN.model_copy(update={"holidays": [*CN.holidays, date(2026, 3, 10)]})
    assert off.add(start, timedelta(minutes=30)) == sh(2026, 3, 11, 9, 20)
    assert CN.add(start, timedelta(minutes=30)) == sh(2026, 3, 10, 9, 20)
    assert off != CN


# -- properties -----------------------------------------------------------------------------------------

ZONES = [UTC, SH, BERLIN, ZoneInfo("America/New_York")]
BOUNDARIES = [
    time(0),
    time(8, 59),
    time(9),
    time(11, 59),
    time(12),
    time(13),
    time(17, 50),
    time(18),
    time(23),
]

_free_instants = st.builds(
    lambda t, zone: t.astimezone(zone),
    st.datetimes(
        min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31, 23, 59), timezones=st.just(UTC)
    ),
    st.sampled_from(ZONES),
)
_boundary_instants = st.builds(
    lambda d, hm: datetime.combine(d, hm, tzinfo=SH),
    st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31)),
    st.sampled_from(BOUNDARIES),
)
instants = st.one_of(_free_instants, _boundary_instants)
durations = st.one_of(
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)),
    st.integers(min_value=0, max_value=30 * 24 * 60).map(lambda m: timedelta(minutes=m)),
    st.sampled_from([timedelta(0), timedelta(minutes=10), timedelta(hours=3), timedelta(hours=8)]),
)
PROPERTY = settings(max_examples=300, deadline=None)


def at_span_end(cal: BusinessCalendar, t: datetime) -> bool:
    d = local(t).date()
    return any(end == t for day in (d - timedelta(days=1), d) for _, end in cal.spans_on(day))


@PROPERTY
@given(instants, durations)
def test_sla2_property_add_lands_in_working_time_or_at_a_span_end(start, duration):
    due = CN.add(start, duration)
    assert due.tzinfo is UTC
    assert due >= start
    if duration:
        assert CN.is_working_time(due) or at_span_end(CN, due)
    else:
        assert due == start


@PROPERTY
@given(instants, durations)
def test_sla2_property_between_inverts_add(start, duration):
    assert CN.between(start, CN.add(start, duration)) == duration


@PROPERTY
@given(instants, instants, durations, durations)
def test_sla2_property_add_is_monotonic_in_both_arguments(t1, t2, d1, d2):
    t1, t2 = sorted((t1, t2))
    d1, d2 = sorted((d1, d2))
    assert CN.add(t1, d1) <= CN.add(t2, d1)
    assert CN.add(t1, d1) <= CN.add(t1, d2)


@PROPERTY
@given(instants, instants, instants)
def test_sla2_property_between_is_additive_and_bounded(a, b, c):
    a, b, c = sorted((a, b, c))
    assert CN.between(a, b) + CN.between(b, c) == CN.between(a, c)
    assert timedelta(0) <= CN.between(a, c) <= c - a
    assert CN.between(c, a) == timedelta(0) or a == c


_HOLIDAY_SET, _WORKDAY_SET = set(HOLIDAYS), set(WORKDAYS)


def _oracle_working_minute(t: datetime) -> bool:
    """Straight from the rules, independent of the calendar's code."""
    d = t.date()
    day = d in _WORKDAY_SET or (d.weekday() < 5 and d not in _HOLIDAY_SET)
    minute = t.hour * 60 + t.minute
    return day and (9 * 60 <= minute < 12 * 60 or 13 * 60 <= minute < 18 * 60)


@settings(max_examples=60, deadline=None)
@given(
    st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31)),
    st.integers(min_value=0, max_value=24 * 60 - 1),
    st.integers(min_value=0, max_value=3 * 24 * 60),
)
def test_sla2_property_between_matches_a_minute_by_minute_count(day, offset, minutes):
    a = datetime.combine(day, time(0), tzinfo=SH) + timedelta(minutes=offset)
    expected = sum(_oracle_working_minute(a + timedelta(minutes=i)) for i in range(minutes))
    assert CN.between(a, a + timedelta(minutes=minutes)) == timedelta(minutes=expected)
    assert CN.is_working_time(a) is _oracle_working_minute(a)
