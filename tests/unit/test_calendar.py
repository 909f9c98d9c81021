"""Business-time arithmetic on the demo tenant's calendar (Asia/Ho_Chi_Minh)."""
from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from callboard.engine.model import Schedule
from callboard.workflows.calendar import (
    add_business_time,
    add_sla,
    business_seconds_between,
    is_open,
)

TZ = "Asia/Ho_Chi_Minh"
VN = ZoneInfo(TZ)
H = 3600
# Mon-Fri 08:00-12:00 and 13:00-17:30, Sat 08:00-12:00, 2 September a holiday.
BUSINESS = Schedule("business", {
    **{d: ((time(8), time(12)), (time(13), time(17, 30))) for d in range(5)},
    5: ((time(8), time(12)),)}, frozenset({date(2026, 9, 2)}))


def vn(*args: int) -> datetime:
    return datetime(*args, tzinfo=VN)


@pytest.mark.parametrize(("start", "hours", "due"), [
    (vn(2026, 11, 23, 9, 0), 2, vn(2026, 11, 23, 11, 0)),        # inside the morning
    (vn(2026, 11, 23, 11, 0), 2, vn(2026, 11, 23, 14, 0)),       # across lunch
    (vn(2026, 11, 23, 17, 0), 1, vn(2026, 11, 24, 8, 30)),       # across the night
    (vn(2026, 11, 23, 20, 0), 1, vn(2026, 11, 24, 9, 0)),        # starts after hours
    (vn(2026, 11, 28, 11, 0), 2, vn(2026, 11, 30, 9, 0)),        # Saturday noon, no Sunday
    (vn(2026, 9, 1, 17, 0), 1, vn(2026, 9, 3, 8, 30)),           # skips the holiday
    (vn(2026, 11, 23, 8, 0), 8.5, vn(2026, 11, 23, 17, 30)),     # one full working day
])
def test_add_business_time(start: datetime, hours: float, due: datetime) -> None:
    assert add_business_time(start, hours * H, BUSINESS, TZ) == due.astimezone(UTC)


def test_round_the_clock_and_missing_schedule_count_every_second() -> None:
    start = vn(2026, 11, 28, 23, 0)
    assert add_business_time(start, 3 * H, None, TZ) == vn(2026, 11, 29, 2, 0)
    always = Schedule("all", {d: ((time(0), time.max),) for d in range(7)})
    assert add_business_time(start, 3 * H, always, TZ) == vn(2026, 11, 29, 2, 0)


def test_seconds_between_is_the_inverse() -> None:
    start = vn(2026, 11, 27, 16, 0)
    due = add_business_time(start, 5 * H, BUSINESS, TZ)
    assert business_seconds_between(start, due, BUSINESS, TZ) == 5 * H
    assert business_seconds_between(due, start, BUSINESS, TZ) == 0


def test_is_open() -> None:
    assert is_open(vn(2026, 11, 23, 9, 0), BUSINESS, TZ)
    assert not is_open(vn(2026, 11, 23, 12, 30), BUSINESS, TZ)   # lunch
    assert not is_open(vn(2026, 11, 29, 9, 0), BUSINESS, TZ)     # Sunday
    assert not is_open(vn(2026, 9, 2, 9, 0), BUSINESS, TZ)       # holiday


@pytest.mark.parametrize(("start", "days", "due"), [
    (vn(2026, 11, 23, 9, 30), 3, vn(2026, 11, 26, 9, 30)),       # Mon -> Thu, same time
    (vn(2026, 11, 26, 15, 0), 3, vn(2026, 11, 30, 15, 0)),       # Thu -> Fri, Sat, Mon
    (vn(2026, 11, 27, 15, 0), 1, vn(2026, 11, 28, 12, 0)),       # Fri -> Sat, clamped to close
    (vn(2026, 11, 29, 10, 0), 1, vn(2026, 12, 1, 8, 0)),         # Sunday: from Monday's opening
    (vn(2026, 9, 1, 10, 0), 1, vn(2026, 9, 3, 10, 0)),           # skips the holiday
])
def test_whole_days_count_working_days(start: datetime, days: int, due: datetime) -> None:
    assert add_sla(start, days * 86400, BUSINESS, TZ) == due.astimezone(UTC)
    assert add_sla(start, 4 * H, BUSINESS, TZ) == add_business_time(start, 4 * H, BUSINESS, TZ)
