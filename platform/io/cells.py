"""Cell values on the way out: formula injection neutralised, stored values shown as
people read them (option labels in the tenant's locale, users by e-mail, phones in the
national format of the tenant's region)."""
from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import phonenumbers

from callboard.engine.model import Field

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value: Any) -> Any:
    """A text a spreadsheet will not run: one that starts like a formula (= + - @, tab,
    carriage return) gets a leading apostrophe, as OWASP advises for CSV and Excel."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


class Display:
    """Stored field values as export cells."""

    def __init__(self, locale: str, region: str, users: Mapping[int, str], *,
                 typed_dates: bool = True):
        self.locale, self.region, self.users = locale, region, users
        self.typed_dates = typed_dates
        meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
        # Regions whose national form is the trunk 0 and the significant number (VN, GB,
        # FR…): numbers of the region are shown so without parsing each one.
        self._trunk = meta is not None and meta.national_prefix == "0" \
            and not meta.leading_digits
        self._prefix = f"+{meta.country_code}" if meta is not None else "+"

    def value(self, field: Field, value: Any) -> Any:
        if value is None or value == [] or value == "":
            return None
        t = field.type
        if t == "select":
            return safe_text(self._option(field, value))
        if t == "multiselect":
            return safe_text(", ".join(self._option(field, v) for v in value))
        if t == "user":
            items = value if isinstance(value, list) else [value]
            return safe_text(", ".join(self.users.get(v, str(v)) for v in items))
        if t == "phone":
            return safe_text(self._phone(value))
        if t == "link":
            items = value if isinstance(value, list) else [value]
            return ", ".join(str(v["id"] if isinstance(v, dict) else v) for v in items) \
                if len(items) > 1 or isinstance(items[0], dict) else items[0]
        if t == "date" and self.typed_dates and isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                return safe_text(value)
        if t == "datetime" and self.typed_dates and isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).replace(
                    tzinfo=None)
            except ValueError:
                return safe_text(value)
        if isinstance(value, list | dict):
            return safe_text(json.dumps(value, ensure_ascii=False))
        return safe_text(value)

    def _option(self, field: Field, value: Any) -> str:
        for o in field.options:
            if o.value == value:
                return o.label.text(self.locale) or o.value
        return str(value)

    def _phone(self, value: str) -> str:
        rest = value[len(self._prefix):]
        if self._trunk and value.startswith(self._prefix) and rest.isdigit():
            return "0" + rest  # +84901234567 -> 0901234567, without parsing it
        try:
            number = phonenumbers.parse(value, self.region)
        except phonenumbers.NumberParseException:
            return value
        if phonenumbers.region_code_for_number(number) == self.region:
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL
                                              ).replace(" ", "")
        return value
