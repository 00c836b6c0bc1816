"""Mainland China's public holidays and make-up working days (调休), from the ``chinesecalendar`` package.

The State Council announces each year's schedule late in the year before, and the package follows with a
release some time after that: for the coming year it may know nothing yet (it has no entries, and its own
helpers raise ``NotImplementedError``). That is why admins can add holidays and make-up days to a calendar
themselves, and why the years the package does not cover are reported rather than silently treated as
ordinary years (SLA-2).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import chinese_calendar

# Every year the package knows has at least one holiday (New Year's Day at the very least).
_COVERED: frozenset[int] = frozenset(d.year for d in chinese_calendar.holidays)


def china_public_days(years: Iterable[int]) -> tuple[list[date], list[date], list[int]]:
    """``(holidays, workdays, covered_years)`` for the given years, each sorted.

    Holidays are every day off of a holiday period, weekend days inside it included; workdays are the
    make-up working days, which fall on weekends. A year the package does not know contributes nothing
    and is left out of ``covered_years``.
    """
    wanted = set(years)
    holidays = sorted(d for d in chinese_calendar.holidays if d.year in wanted)
    workdays = sorted(d for d in chinese_calendar.workdays if d.year in wanted)
    return holidays, workdays, sorted(wanted & _COVERED)
