"""Phone numbers normalised to E.164 with the tenant's region (via phonenumbers)."""
from __future__ import annotations

import math
import re
from functools import lru_cache

import phonenumbers

_JUNK = re.compile(r"[\s.\-()/]")
_ANY = re.compile(r"\+?[0-9*#]{1,20}")


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
    number = _national(raw, region) or _parsed(raw, region)
    if number is None and not strict and _ANY.fullmatch(raw):
        return raw
    return number


def is_valid(raw: str, region: str) -> bool:
    """phonenumbers' `is_valid_number(parse(raw, region))`, without parsing the national
    numbers the fast path reads (validity depends only on the country code and the national
    number); NumberParseException as parse raises it."""
    e164 = _national(raw, region)
    rule = _trunk_rule(region) if e164 is not None else None
    if rule is not None and e164 is not None:
        national = e164[len(rule[0]):]
        if national[:1] != "0":  # no leading zero to carry over
            return phonenumbers.is_valid_number(phonenumbers.PhoneNumber(
                country_code=int(rule[0][1:]), national_number=int(national)))
    return phonenumbers.is_valid_number(phonenumbers.parse(raw, region))


@lru_cache(maxsize=4096)
def _parsed(raw: str, region: str) -> str | None:
    """phonenumbers' E.164 form of `raw`, when it is a possible number (memoised: a pure
    function of its arguments)."""
    try:
        number = phonenumbers.parse(raw, region)
        if phonenumbers.is_possible_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        pass
    return None


@lru_cache(maxsize=256)
def _trunk_rule(region: str) -> tuple[str, re.Pattern[str], re.Pattern[str] | None,
                                      frozenset[int]] | None:
    """For a region whose national prefix is a plain `0` (VN, FR, DE…): the country code
    prefix, the national number pattern, the international prefix and the possible lengths
    of its metadata. None where parsing a national number takes more than dropping the 0."""
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region, None)
    if meta is None or meta.national_prefix_for_parsing != "0" \
            or meta.national_prefix_transform_rule or meta.general_desc is None \
            or not meta.general_desc.national_number_pattern \
            or phonenumbers.region_code_for_country_code(meta.country_code) != region:
        return None
    desc = meta.general_desc
    lengths = frozenset(n for n in desc.possible_length or ()
                        if n > 0 and n not in (desc.possible_length_local_only or ()))
    idd = re.compile(meta.international_prefix) if meta.international_prefix else None
    return (f"+{meta.country_code}", re.compile(desc.national_number_pattern), idd, lengths)


def _national(raw: str, region: str) -> str | None:
    """Fast path for the common spellings of a national number, with its trunk 0
    (`0901234567`) or without it (`901234567`, as a spreadsheet keeps it): the answer
    phonenumbers' parse gives (the 0 dropped when the rest is a national number of a
    possible length), without parsing; None to let phonenumbers decide."""
    if len(raw) < 3 or raw.startswith("00") or not (raw.isascii() and raw.isdigit()):
        return None
    rule = _trunk_rule(region)
    if rule is None:
        return None
    prefix, national, idd, lengths = rule
    if idd is not None and idd.match(raw):
        return None
    if raw[0] != "0":  # no prefix to strip: possible when its length is
        if raw.startswith(prefix[1:]) or len(raw) not in lengths:
            return None
        return prefix + raw
    rest = raw[1:]
    if len(rest) not in lengths or not national.fullmatch(rest):
        return None
    return prefix + rest
