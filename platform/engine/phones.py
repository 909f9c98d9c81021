"""Phone numbers normalised to E.164 with the tenant's region (via phonenumbers)."""
from __future__ import annotations

import math
import re

import phonenumbers

_JUNK = re.compile(r"[\s.\-()/]")


def normalize_phone(value: object, region: str, *, strict: bool = True) -> str | None:
    """`0901234567`, `090 123 4567` and `+84901234567` -> `+84901234567`.

    Returns None when `value` is not a possible number. With `strict=False` (numbers that
    telephony reports: short codes, extensions, hotlines) an impossible number is kept as
    its digits instead.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            return None
        value = str(int(value))
        if region == "VN" and len(value) == 9:
            value = "0" + value  # a spreadsheet dropped the trunk 0 of a VN mobile
    if not isinstance(value, str):
        return None
    raw = _JUNK.sub("", value.strip())
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
