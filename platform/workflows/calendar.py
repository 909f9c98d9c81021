"""Business time: adding working seconds on a tenant's schedule (hours, holidays, zone).

`add_business_time(start, seconds, schedule, tz)` answers when `seconds` of working time
after `start` have passed: evenings, weekends and holidays do not count. A schedule with
no opening hours at all counts every second (a 24/7 service).
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from callboard.engine.model import Schedule

MAX_DAYS = 3660  # a resolve time longer than ten years of working days is not a deadline


def _open_ranges(schedule: Schedule, day: date) -> tuple[tuple[time, time], ...]:
    if day in schedule.holidays:
        return ()
    return schedule.hours.get(day.weekday(), ())


def _moment(day: date, t: time, tz: ZoneInfo) -> datetime:
    if t == time.max:  # "24:00"
        return datetime.combine(day + timedelta(days=1), time(0), tz)
    return datetime.combine(day, t, tz)


def add_business_time(start: datetime, seconds: float, schedule: Schedule | None,
                      timezone: str) -> datetime:
    """The moment `seconds` of business time after `start` (an aware datetime)."""
    if schedule is None or not any(schedule.hours.values()):
        return start + timedelta(seconds=seconds)
    tz = ZoneInfo(timezone)
    here = start.astimezone(tz)
    left = timedelta(seconds=seconds)
    day = here.date()
    for _ in range(MAX_DAYS):
        for opens, closes in _open_ranges(schedule, day):
            a, b = _moment(day, opens, tz), _moment(day, closes, tz)
            if b <= here:
                continue
            a = max(a, here)
            if a + left <= b:
                return (a + left).astimezone(UTC)
            left -= b - a
        day += timedelta(days=1)
    return (here + left).astimezone(UTC)


DAY = 86400


def add_sla(start: datetime, seconds: float, schedule: Schedule | None,
            timezone: str) -> datetime:
    """An SLA deadline: whole days (`3d`) count working days, to the same time of day;
    anything else (`4h`, `90m`) counts working time."""
    if seconds >= DAY and seconds % DAY == 0 and schedule is not None \
            and any(schedule.hours.values()):
        return add_working_days(start, int(seconds // DAY), schedule, timezone)
    return add_business_time(start, seconds, schedule, timezone)


def add_working_days(start: datetime, days: int, schedule: Schedule,
                     timezone: str) -> datetime:
    """The same time of day `days` working days later (from the next opening when
    `start` is outside opening hours), kept within that day's opening hours."""
    tz = ZoneInfo(timezone)
    here = add_business_time(start, 0, schedule, timezone).astimezone(tz)
    if not is_open(here, schedule, timezone):  # closed now: count from the next opening
        here = add_business_time(here, 1, schedule, timezone).astimezone(tz) - timedelta(
            seconds=1)
    day, clock = here.date(), here.time()
    for _ in range(days):
        day += timedelta(days=1)
        for _ in range(MAX_DAYS):
            if _open_ranges(schedule, day):
                break
            day += timedelta(days=1)
    ranges = _open_ranges(schedule, day)
    if not ranges:
        return here.astimezone(UTC)
    moment = datetime.combine(day, clock, tz)
    first, last = _moment(day, ranges[0][0], tz), _moment(day, ranges[-1][1], tz)
    return min(max(moment, first), last).astimezone(UTC)


def business_seconds_between(start: datetime, end: datetime, schedule: Schedule | None,
                             timezone: str) -> float:
    """Working seconds between two moments (0 when `end` is not after `start`)."""
    if end <= start:
        return 0.0
    if schedule is None or not any(schedule.hours.values()):
        return (end - start).total_seconds()
    tz = ZoneInfo(timezone)
    a, b = start.astimezone(tz), end.astimezone(tz)
    total = 0.0
    day = a.date()
    while day <= b.date():
        for opens, closes in _open_ranges(schedule, day):
            lo, hi = max(_moment(day, opens, tz), a), min(_moment(day, closes, tz), b)
            if hi > lo:
                total += (hi - lo).total_seconds()
        day += timedelta(days=1)
    return total


def is_open(moment: datetime, schedule: Schedule | None, timezone: str) -> bool:
    """Whether `moment` falls in the schedule's opening hours (IVR time conditions)."""
    if schedule is None:
        return True
    here = moment.astimezone(ZoneInfo(timezone))
    now = here.time()
    return any(opens <= now < closes for opens, closes in _open_ranges(schedule, here.date()))
