"""Phone numbers: every spelling of one number is one E.164 value (CONTRACT §4)."""
from __future__ import annotations

import pytest

from callboard.engine.phones import normalize_phone

VN_MOBILE = "+84901234567"


@pytest.mark.parametrize("spelling", [
    "0901234567",
    "090 123 4567",
    "+84901234567",
    "+84 90 123 4567",
    "0084901234567",
    "(090) 123-4567",
    "090.123.4567",
    "  0901234567  ",
    "090-123-4567",
])
def test_vietnamese_spellings_are_one_number(spelling: str) -> None:
    assert normalize_phone(spelling, "VN") == VN_MOBILE
    assert normalize_phone(spelling, "VN", strict=False) == VN_MOBILE


@pytest.mark.parametrize("lost_zero", [901234567, 901234567.0, "901234567"])
def test_nine_digits_that_lost_the_trunk_zero(lost_zero: object) -> None:
    """Spreadsheets turn 0901234567 into the number 901234567."""
    assert normalize_phone(lost_zero, "VN") == VN_MOBILE


def test_international_digits_without_plus_from_a_spreadsheet() -> None:
    assert normalize_phone(84901234567, "VN") == VN_MOBILE


def test_landline_keeps_its_area_code() -> None:
    assert normalize_phone("028 3812 3456", "VN") == "+842838123456"
    assert normalize_phone(2838123456, "VN") == "+842838123456"


@pytest.mark.parametrize("spelling", [
    "13812345678", "138 1234 5678", "+86 138 1234 5678", "008613812345678", 13812345678,
])
def test_chinese_mobile_with_region_cn(spelling: object) -> None:
    assert normalize_phone(spelling, "CN") == "+8613812345678"


def test_chinese_landline_drops_the_trunk_zero() -> None:
    assert normalize_phone("010 1234 5678", "CN") == "+861012345678"
    assert normalize_phone("01012345678", "CN") == "+861012345678"


def test_the_region_decides_what_a_national_number_means() -> None:
    assert normalize_phone("0901234567", "CN") == "+86901234567"
    # an international number is the same whatever the tenant's region
    assert normalize_phone("+84901234567", "CN") == VN_MOBILE
    assert normalize_phone("+86 138 1234 5678", "VN") == "+8613812345678"


@pytest.mark.parametrize("bad", ["abc", "", "   ", "12", "1900", "*100#", None, True, False,
                                 [], {}, "123456789012345678901", float("nan"), float("inf"),
                                 float("-inf")])
def test_not_a_number_is_none_when_strict(bad: object) -> None:
    assert normalize_phone(bad, "VN") is None


@pytest.mark.parametrize(("raw", "kept"), [
    ("1900", "1900"), ("12", "12"), ("*100#", "*100#"), ("090123456789012", "090123456789012"),
])
def test_telephony_short_codes_kept_as_digits_when_not_strict(raw: str, kept: str) -> None:
    assert normalize_phone(raw, "VN", strict=False) == kept


@pytest.mark.parametrize("bad", ["abc", "", "call me", float("nan"), None,
                                 "123456789012345678901"])
def test_garbage_is_none_even_when_not_strict(bad: object) -> None:
    assert normalize_phone(bad, "VN", strict=False) is None
