"""Coercion of every field type: the stored form of good input, a plain message for bad."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from callboard.engine.model import FIELD_TYPES, Field, Label, Option
from callboard.engine.values import (
    Context,
    Invalid,
    coerce,
    format_datetime,
    key_values,
    parse_date,
    parse_datetime,
)

USERS = {"4": 4, "agent@water.test": 4, "7": 7, "boss@water.test": 7}
CTX = Context("VN", "Asia/Ho_Chi_Minh", resolve_user=lambda v: USERS.get(str(v).lower()))


def fld(ftype: str, name: str = "f", **kw: Any) -> Field:
    return Field(name, ftype, Label.of(name), **kw)


def options(*values: str, labels: dict[str, dict[str, str]] | None = None
            ) -> tuple[Option, ...]:
    labels = labels or {}
    return tuple(Option(v, Label.of(labels.get(v, v))) for v in values)


def ok(field: Field, value: Any, ctx: Context = CTX) -> Any:
    return coerce(field, value, ctx)


def bad(field: Field, value: Any, ctx: Context = CTX) -> str:
    with pytest.raises(Invalid) as info:
        coerce(field, value, ctx)
    message = str(info.value)
    assert message and "Traceback" not in message
    return message


def test_every_field_type_is_covered_here() -> None:
    covered = {"text", "longtext", "integer", "decimal", "boolean", "date", "datetime",
               "select", "multiselect", "phone", "email", "url", "link", "user", "rating",
               "file", "table"}
    assert covered == set(FIELD_TYPES)


# -- empty input ------------------------------------------------------------------------
@pytest.mark.parametrize("ftype", ["text", "longtext", "integer", "decimal", "date",
                                   "datetime", "select", "phone", "email", "url", "link",
                                   "user", "rating", "file"])
@pytest.mark.parametrize("empty", [None, "", "   "])
def test_empty_is_none(ftype: str, empty: Any) -> None:
    assert ok(fld(ftype, options=options("a")), empty) is None


@pytest.mark.parametrize("ftype", ["multiselect", "table"])
def test_empty_list_types_are_empty_lists(ftype: str) -> None:
    assert ok(fld(ftype), None) == []
    assert ok(fld(ftype), "") == []


def test_empty_multiple_link_is_empty_list() -> None:
    assert ok(fld("link", entity="customer", multiple=True), None) == []


# -- text ---------------------------------------------------------------------------------
def test_text_strips_and_accepts_numbers() -> None:
    f = fld("text")
    assert ok(f, "  Nguyễn Văn An  ") == "Nguyễn Văn An"
    assert ok(f, 12) == "12"
    assert ok(f, 12.0) == "12"      # a spreadsheet's 12 is not "12.0"
    assert ok(f, 12.5) == "12.5"


def test_longtext_keeps_its_whitespace() -> None:
    assert ok(fld("longtext"), "line 1\n  line 2\n") == "line 1\n  line 2\n"


@pytest.mark.parametrize("value", [True, False, {"a": 1}, ["a"], object()])
def test_text_refuses_non_text(value: Any) -> None:
    assert bad(fld("text"), value) == "must be text"


def test_text_max_length() -> None:
    f = fld("text", max_length=5)
    assert ok(f, "12345") == "12345"
    assert bad(f, "123456") == "must be at most 5 characters"


def test_text_pattern() -> None:
    f = fld("text", pattern="^[0-9]{11}$")
    assert ok(f, "01234567890") == "01234567890"
    assert bad(f, "0123") == "does not have the expected form (^[0-9]{11}$)"


# -- numbers ------------------------------------------------------------------------------
@pytest.mark.parametrize(("raw", "stored"), [
    (5, 5), ("5", 5), (" 42 ", 42), ("1 000", 1000), (5.0, 5), ("5.0", 5), ("-3", -3),
    ("1e3", 1000),
])
def test_integer_good(raw: Any, stored: int) -> None:
    value = ok(fld("integer"), raw)
    assert value == stored and type(value) is int


@pytest.mark.parametrize("raw", ["5.5", 5.5, "abc", "1,5", True, False, float("nan"),
                                 float("inf"), "NaN", "Infinity", [1]])
def test_integer_bad(raw: Any) -> None:
    assert bad(fld("integer"), raw) == "must be a whole number"


def test_numbers_beyond_64_bits_are_refused() -> None:
    """They could be neither bound nor compared by the databases."""
    assert ok(fld("integer"), 2**63 - 1) == 2**63 - 1
    assert ok(fld("integer"), -(2**63 - 1)) == -(2**63 - 1)
    assert bad(fld("integer"), "99999999999999999999999") == "is too large"
    assert bad(fld("integer"), -(2**64)) == "is too large"
    assert bad(fld("rating"), 2**70) == "is too large"
    assert bad(fld("decimal"), "1e400") == "is too large"
    assert bad(fld("decimal"), "-99999999999999999999.5") == "is too large"


def test_integer_min_max_messages() -> None:
    f = fld("integer", min=1, max=50)
    assert ok(f, 1) == 1 and ok(f, 50) == 50
    assert bad(f, 0) == "must be at least 1"
    assert bad(f, "51") == "must be at most 50"


@pytest.mark.parametrize(("raw", "stored"), [
    ("10.50", 10.5), (10.5, 10.5), ("3", 3), (3, 3), ("-0.25", -0.25), ("1 000.5", 1000.5),
])
def test_decimal_good(raw: Any, stored: float) -> None:
    assert ok(fld("decimal"), raw) == stored


def test_decimal_whole_values_are_stored_as_ints() -> None:
    assert type(ok(fld("decimal"), "3.0")) is int


@pytest.mark.parametrize("raw", ["abc", True, "NaN", float("nan"), float("inf"), "1,5"])
def test_decimal_bad(raw: Any) -> None:
    assert bad(fld("decimal"), raw) == "must be a number"


def test_decimal_min_max() -> None:
    f = fld("decimal", min=0, max=100)
    assert bad(f, "-0.01") == "must be at least 0"
    assert bad(f, 100.5) == "must be at most 100"


def test_rating_is_a_bounded_whole_number() -> None:
    f = fld("rating", min=1, max=5)
    assert ok(f, "3") == 3
    assert bad(f, 6) == "must be at most 5"
    assert bad(f, 0) == "must be at least 1"
    assert bad(f, "2.5") == "must be a whole number"


# -- boolean ------------------------------------------------------------------------------
@pytest.mark.parametrize("raw", [True, 1, 1.0, "true", "TRUE", "1", "yes", "y", "on", "x",
                                 "có", "Có", "co", "是"])
def test_boolean_true(raw: Any) -> None:
    assert ok(fld("boolean"), raw) is True


@pytest.mark.parametrize("raw", [False, 0, "false", "0", "no", "n", "off", "không", "khong",
                                 "否", ""])
def test_boolean_false(raw: Any) -> None:
    assert ok(fld("boolean"), raw) is False


@pytest.mark.parametrize("raw", ["maybe", 2, -1, "2", [True]])
def test_boolean_bad(raw: Any) -> None:
    assert bad(fld("boolean"), raw) == "must be true or false"


# -- dates --------------------------------------------------------------------------------
@pytest.mark.parametrize(("raw", "stored"), [
    ("2026-01-31", "2026-01-31"),
    ("31/01/2026", "2026-01-31"),
    ("1/2/2026", "2026-02-01"),            # day first: 1 February
    ("31.01.2026", "2026-01-31"),
    ("31-01-2026", "2026-01-31"),
    ("2026-01-31T08:30:00", "2026-01-31"),  # the date of a date-time
    ("2026-01-31 08:30", "2026-01-31"),
    (45658, "2025-01-01"),                  # Excel serial numbers
    (46023, "2026-01-01"),
    (46023.75, "2026-01-01"),               # a serial with a time of day
    (date(2026, 1, 31), "2026-01-31"),
    (datetime(2026, 1, 31, 23, 59), "2026-01-31"),
])
def test_date_good(raw: Any, stored: str) -> None:
    assert ok(fld("date"), raw) == stored


@pytest.mark.parametrize("raw", ["31/02/2026", "2026-13-01", "2026-02-30", "32/01/2026",
                                 "hello", "2026/01/31x", "31/01/26", "2026-01-31junk",
                                 "2026-01-311"])
def test_date_bad_text(raw: str) -> None:
    message = bad(fld("date"), raw)
    assert message == f"'{raw}' is not a date (use 2026-01-31 or 31/01/2026)"


@pytest.mark.parametrize("raw", [0, -5, 3e6, True])
def test_date_bad_serials(raw: Any) -> None:
    assert "not a date" in bad(fld("date"), raw)


def test_date_month_first_when_asked() -> None:
    us = Context("US", "America/New_York", day_first=False)
    assert ok(fld("date"), "02/01/2026", us) == "2026-02-01"
    assert ok(fld("date"), "02/01/2026") == "2026-01-02"
    assert parse_date("12/31/2026", day_first=False) == date(2026, 12, 31)


def test_date_today() -> None:
    assert ok(fld("date"), "today") == date.today().isoformat()


def test_date_min_max() -> None:
    f = fld("date", min="2020-01-01", max="2030-12-31")
    assert ok(f, "01/01/2020") == "2020-01-01"
    assert bad(f, "31/12/2019") == "must be on or after 2020-01-01"
    assert bad(f, "2031-01-01") == "must be on or before 2030-12-31"


@pytest.mark.parametrize(("raw", "stored"), [
    ("2026-01-31T08:30:00Z", "2026-01-31T08:30:00Z"),
    ("2026-01-31T08:30:00+07:00", "2026-01-31T01:30:00Z"),
    ("2026-01-31T08:30", "2026-01-31T01:30:00Z"),       # naive: the tenant's time zone
    ("2026-01-31 08:30:15.999", "2026-01-31T01:30:15Z"),  # to the second
    ("31/01/2026 08:30", "2026-01-31T01:30:00Z"),
    ("31/01/2026", "2026-01-30T17:00:00Z"),             # midnight in Hồ Chí Minh City
    ("2026-01-31", "2026-01-30T17:00:00Z"),
    (46023.5, "2026-01-01T05:00:00Z"),                   # Excel: noon local
    (datetime(2026, 1, 31, 8, 30, tzinfo=UTC), "2026-01-31T08:30:00Z"),
    (datetime(2026, 1, 31, 8, 30, tzinfo=timezone(timedelta(hours=8))),
     "2026-01-31T00:30:00Z"),
])
def test_datetime_good(raw: Any, stored: str) -> None:
    assert ok(fld("datetime"), raw) == stored


@pytest.mark.parametrize("raw", ["hello", "31/02/2026 08:00", "2026-01-31T25:00", "8:30"])
def test_datetime_bad(raw: str) -> None:
    message = bad(fld("datetime"), raw)
    assert "is not a date and time" in message or "not a date" in message


def test_datetime_bad_serial_and_nan() -> None:
    assert bad(fld("datetime"), float("nan")) == "is not a date and time"
    assert bad(fld("datetime"), 1e12) == "is not a date and time"


def test_datetime_now_is_utc_to_the_second() -> None:
    stored = ok(fld("datetime"), "now")
    moment = datetime.fromisoformat(stored.replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - moment).total_seconds()) < 5
    assert stored.endswith("Z")


def test_format_datetime_reads_naive_values_as_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite gives back naive UTC datetimes; the server's own time zone must not matter."""
    import time

    monkeypatch.setenv("TZ", "Asia/Ho_Chi_Minh")
    time.tzset()
    try:
        assert format_datetime(datetime(2026, 1, 31, 8, 30)) == "2026-01-31T08:30:00Z"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_parse_datetime_is_aware_utc() -> None:
    dt = parse_datetime("2026-01-31T08:30", "Asia/Ho_Chi_Minh")
    assert dt.tzinfo is not None and dt.utcoffset() == timedelta(0)
    assert dt == datetime(2026, 1, 31, 1, 30, tzinfo=UTC)


# -- choices ------------------------------------------------------------------------------
DISTRICT = fld("select", options=options(
    "quan_1", "binh_thanh", labels={"quan_1": {"en": "District 1", "vi": "Quận 1"},
                                    "binh_thanh": {"en": "Binh Thanh", "vi": "Bình Thạnh"}}))


def test_select_by_value_or_by_label_in_any_locale() -> None:
    assert ok(DISTRICT, "quan_1") == "quan_1"
    assert ok(DISTRICT, " quan_1 ") == "quan_1"
    assert ok(DISTRICT, "District 1") == "quan_1"
    assert ok(DISTRICT, "quận 1") == "quan_1"
    assert ok(DISTRICT, "BÌNH THẠNH") == "binh_thanh"


def test_select_bad_lists_the_options() -> None:
    assert bad(DISTRICT, "quan_2") == "'quan_2' is not one of quan_1, binh_thanh"


def test_select_of_booleans() -> None:
    f = fld("select", options=options("true", "false"))
    assert ok(f, True) == "true"


TAGS = fld("multiselect", options=options("vip", "late_payer", "new"))


def test_multiselect_list_or_comma_text_deduplicated_in_order() -> None:
    assert ok(TAGS, ["vip", "new"]) == ["vip", "new"]
    assert ok(TAGS, "new, vip,new") == ["new", "vip"]
    assert ok(TAGS, "vip") == ["vip"]


def test_multiselect_bad_item() -> None:
    assert bad(TAGS, ["vip", "gold"]) == "'gold' is not one of vip, late_payer, new"


# -- contact values -----------------------------------------------------------------------
def test_phone_is_normalised_with_the_tenant_region() -> None:
    f = fld("phone")
    for spelling in ("0901234567", "090 123 4567", "+84901234567", 901234567):
        assert ok(f, spelling) == "+84901234567"
    assert ok(f, "13812345678", Context("CN")) == "+8613812345678"


def test_phone_bad() -> None:
    assert bad(fld("phone"), "abc") == "'abc' is not a phone number"
    assert bad(fld("phone"), float("nan")) == "'nan' is not a phone number"


def test_phone_short_codes_only_when_not_strict() -> None:
    assert bad(fld("phone"), "1900") == "'1900' is not a phone number"
    assert ok(fld("phone"), "1900", Context("VN", strict_phones=False)) == "1900"


def test_email_lower_cased() -> None:
    assert ok(fld("email"), "  An.Nguyen@Water.VN ") == "an.nguyen@water.vn"


@pytest.mark.parametrize("raw", ["x", "a@b", "a b@c.d", "@c.d", "a@.", True])
def test_email_bad(raw: Any) -> None:
    message = bad(fld("email"), raw)
    assert message == "must be text" or message.endswith("is not an e-mail address")


def test_url() -> None:
    assert ok(fld("url"), " https://water.vn/a?b=1 ") == "https://water.vn/a?b=1"
    assert ok(fld("url"), "HTTP://water.vn") == "HTTP://water.vn"
    for raw in ("ftp://water.vn", "water.vn", "javascript:alert(1)", "http://"):
        assert bad(fld("url"), raw) == "must be an http:// or https:// address"


# -- references ---------------------------------------------------------------------------
def test_link_ids() -> None:
    f = fld("link", entity="customer")
    assert ok(f, 12) == 12
    assert ok(f, " 12 ") == 12
    assert ok(f, {"id": 12, "title": "An"}) == 12


@pytest.mark.parametrize("raw", ["abc", 0, -1, True, 1.5, {"title": "x"}, 2**63])
def test_link_bad(raw: Any) -> None:
    assert bad(fld("link", entity="customer"), raw) == "must be a record id"


def test_link_to_any_entity_needs_entity_and_id() -> None:
    f = fld("link", entity="*")
    assert ok(f, {"entity": "customer", "id": "3"}) == {"entity": "customer", "id": 3}
    assert bad(f, 3) == 'must be {"entity": name, "id": number}'
    assert bad(f, {"entity": "customer", "id": "x"}) == "must be a record id"


def test_multiple_links_from_list_or_text() -> None:
    f = fld("link", entity="customer", multiple=True)
    assert ok(f, [3, "4", {"id": 3}]) == [3, 4]
    assert ok(f, "5, 6") == [5, 6]


def test_user_by_id_or_email() -> None:
    f = fld("user")
    assert ok(f, 4) == 4
    assert ok(f, "Agent@Water.test") == 4
    assert ok(f, {"id": 7}) == 7
    assert bad(f, "nobody@water.test") == "no user 'nobody@water.test' in this tenant"
    assert bad(f, 99) == "no user '99' in this tenant"


def test_multiple_users() -> None:
    assert ok(fld("user", multiple=True), ["4", "boss@water.test", 4]) == [4, 7]


def test_user_without_a_resolver_finds_nobody() -> None:
    assert bad(fld("user"), 4, Context()) == "no user '4' in this tenant"


def test_file() -> None:
    f = fld("file")
    assert ok(f, {"id": 9, "name": "a.pdf"}) == {"id": 9, "name": "a.pdf"}
    assert ok(f, "uploads/a.pdf") == "uploads/a.pdf"
    assert bad(f, {"name": "a.pdf"}) == "must be text"


# -- table --------------------------------------------------------------------------------
LINES = fld("table", name="lines", fields=(
    fld("text", "product", required=True, max_length=20),
    fld("integer", "qty", required=True, min=1, default=1),
    fld("decimal", "price", required=True, min=0),
))


def test_table_rows_are_coerced() -> None:
    rows = ok(LINES, [{"product": " Meter ", "qty": "2", "price": "150000"}])
    assert rows == [{"product": "Meter", "qty": 2, "price": 150000}]


def test_table_child_defaults_apply() -> None:
    assert ok(LINES, [{"product": "Pipe", "price": 10}]) == [
        {"product": "Pipe", "qty": 1, "price": 10}]


def test_table_reports_every_row_problem() -> None:
    message = bad(LINES, [{"product": "Pipe", "qty": 0, "price": 1},
                          {"qty": 2, "price": -1, "colour": "red"}])
    assert message == ("row 1, qty: must be at least 1; row 2, price: must be at least 0; "
                       "row 2: unknown column 'colour'; row 2, product: required")


@pytest.mark.parametrize("raw", ["x", {"product": "a"}, [1, 2], [["a"]]])
def test_table_must_be_rows(raw: Any) -> None:
    assert bad(LINES, raw) == "must be a list of rows"


# -- keys ---------------------------------------------------------------------------------
def test_key_values() -> None:
    assert key_values(fld("email"), "a@b.vn") == ["a@b.vn"]
    assert key_values(fld("text"), "AB123") == ["ab123"]
    assert key_values(fld("phone"), "+84901234567") == ["+84901234567"]
    assert key_values(fld("integer"), 42) == ["42"]
    assert key_values(fld("phone"), None) == []
    assert key_values(fld("text", multiple=True), ["A", "", None, "b"]) == ["a", "b"]
