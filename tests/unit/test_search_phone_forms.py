"""The phone forms a search document holds: the national digits, worked out once per
pattern of number and reused, are exactly what phonenumbers' own national format gives."""
from __future__ import annotations

import random

import phonenumbers
import pytest

from callboard.search import indexing
from callboard.search.indexing import _phone_forms


def formatted(text: str, region: str) -> list[str]:
    """What the search document held before the reuse: phonenumbers every time."""
    out = [text.lstrip("+")]
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return out
    national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    digits = "".join(c for c in national if c.isdigit())
    return [*out, digits] if digits else out


NUMBERS = [
    "+84901234567", "+84281234567", "+842838123456", "+8486123456",  # VN mobile, landline
    "+8613912345678", "+861012345678", "+85291234567",                # CN, HK
    "+12015550123", "+16135550123", "+447911123456", "+442071234567",  # NANP, UK
    "+390612345678", "+393123456789", "+4930123456", "+33612345678",   # IT (0 kept), DE, FR
    "+6591234567", "+66812345678", "+84", "+999123", "0901234567", "not a number",
]


@pytest.mark.parametrize("region", ["VN", "CN", "US", "IT"])
def test_the_same_forms_as_phonenumbers_every_time(region: str) -> None:
    indexing._PREFIXES.clear()
    rng = random.Random(3)
    numbers = NUMBERS + [f"+849{rng.randrange(10**8):08d}" for _ in range(300)] \
        + [f"+8613{rng.randrange(10**9):09d}" for _ in range(300)]
    for text in numbers * 2:  # the second time through the patterns worked out the first
        assert _phone_forms(text, region) == formatted(text, region), text
    assert 0 < len(indexing._PREFIXES) < len(numbers)   # reused, not one per number


def test_a_list_of_numbers() -> None:
    assert _phone_forms(["+84901234567", "+842838123456"], "VN") == [
        "84901234567", "0901234567", "842838123456", "02838123456"]
