"""The phone fast path and memo give exactly what phonenumbers gives, for every spelling."""
from __future__ import annotations

import math
import random
import re

import phonenumbers
import pytest

from callboard.engine import phones
from callboard.engine.phones import normalize_phone
from callboard.io.columns import restore_phone

REGIONS = ["VN", "CN", "US", "FR", "DE", "GB", "IT", "RU", "JP", "IN", "AU", "BR", "TH",
           "SG", "KR", "ID", "PH", "ES", "NL", "CH"]


def reference(value: object, region: str, strict: bool = True) -> str | None:
    """normalize_phone as it was, phonenumbers on every call (the behaviour to keep)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            return None
        value = str(int(value))
        if region == "VN" and len(value) == 9:
            value = "0" + value
    if not isinstance(value, str):
        return None
    raw = re.sub(r"[\s.\-()/]", "", value.strip())
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    try:
        number = phonenumbers.parse(raw, region)
        if phonenumbers.is_possible_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        pass
    if not strict and re.fullmatch(r"\+?[0-9*#]{1,20}", raw):
        return raw
    return None


def spellings(rng: random.Random, region: str) -> list[object]:
    """Numbers of every length 1-16 after a trunk 0 or not, in the ways people type them."""
    cc = phonenumbers.country_code_for_region(region)
    out: list[object] = []
    for _ in range(150):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 16)))
        out += [digits, "0" + digits, "00" + digits, f"+{cc}{digits}", f"{cc}{digits}",
                f"0{digits[:3]} {digits[3:6]} {digits[6:]}", f"(0{digits[:2]}) {digits[2:]}",
                f"0{digits[:3]}.{digits[3:]}", f"0{digits}-{rng.randint(0, 99)}",
                f"０{digits}", f"0{digits}x12", f"+0{digits}", "0" + digits[:1] + "a" +
                digits[1:], int(digits), float(digits)]
    for _ in range(100):  # valid national numbers of the region, from its own examples
        kind = rng.choice([phonenumbers.PhoneNumberType.MOBILE,
                           phonenumbers.PhoneNumberType.FIXED_LINE])
        example = phonenumbers.example_number_for_type(region, kind)
        if example is None:
            continue
        national = str(example.national_number)
        mutated = national[:-3] + "".join(rng.choice("0123456789") for _ in range(3))
        out += ["0" + mutated, mutated, f"+{cc}{mutated}", int(mutated),
                "0" + mutated[:-1], "0" + mutated + "9"]
    return out


@pytest.mark.parametrize("region", REGIONS)
def test_fast_path_and_memo_agree_with_phonenumbers(region: str) -> None:
    rng = random.Random(f"phones-{region}")
    values = spellings(rng, region)
    assert len(values) > 2000
    for value in values:
        for strict in (True, False):
            assert normalize_phone(value, region, strict=strict) == \
                reference(value, region, strict), (value, region, strict)


def test_vietnamese_mobiles_take_the_fast_path() -> None:
    rng = random.Random(1)
    for _ in range(3000):
        national = rng.choice("35789") + "".join(rng.choice("0123456789") for _ in range(8))
        for spelling in (f"0{national}", f"0{national[:2]} {national[2:5]} {national[5:]}"):
            raw = spelling.replace(" ", "")
            assert phones._national(raw, "VN") == f"+84{national}" == reference(spelling, "VN")


def reference_restore(number: int, region: str) -> str:
    """restore_phone as it was, phonenumbers on every call (the behaviour to keep)."""
    digits = str(number)
    try:
        if not phonenumbers.is_valid_number(phonenumbers.parse(digits, region)):
            zero = "0" + digits
            if phonenumbers.is_valid_number(phonenumbers.parse(zero, region)):
                return zero
    except phonenumbers.NumberParseException:
        pass
    return digits


@pytest.mark.parametrize("region", REGIONS)
def test_restored_phones_agree_with_phonenumbers(region: str) -> None:
    rng = random.Random(f"restore-{region}")
    numbers = [v for v in spellings(rng, region) if isinstance(v, int)]
    numbers += [int(str(v).lstrip("0") or "0") for v in spellings(rng, region)
                if isinstance(v, str) and v.isdigit()]
    numbers += [0, -1, -901234567, 10**20]
    assert len(numbers) > 300
    for number in numbers:
        assert restore_phone(number, region) == reference_restore(number, region), \
            (number, region)
        for raw in (str(number), f"0{number}"):
            try:
                expected = phonenumbers.is_valid_number(phonenumbers.parse(raw, region))
            except phonenumbers.NumberParseException:
                with pytest.raises(phonenumbers.NumberParseException):
                    phones.is_valid(raw, region)
                continue
            assert phones.is_valid(raw, region) == expected, (raw, region)
