"""Column matching, cell shapes and formula neutralisation (no database)."""
from __future__ import annotations

from datetime import date, datetime

import pytest

from callboard.engine.bundle import BundleSource, compile_bundle
from callboard.engine.model import TenantModel
from callboard.engine.phones import normalize_phone
from callboard.io.cells import Display, safe_text
from callboard.io.columns import Columns, importable_fields, restore_phone
from callboard.io.sheets import FileProblem
from tests.conftest import CONFIG


@pytest.fixture(scope="module")
def model() -> TenantModel:
    return compile_bundle(BundleSource.from_dir(CONFIG))


def cols(model: TenantModel, header: list, entity: str = "customer") -> Columns:
    ent = model.entities[entity]
    return Columns(importable_fields(model, ent), header, "VN")


def test_headers_match_names_and_labels_in_every_locale(model: TenantModel) -> None:
    c = cols(model, ["Tên chủ hộ / Tên khách hàng *", "PHONE", "户号", "  Meter serial  no. ",
                     "Người phụ trách", "Mã", "Email (e_invoice_email)", "error", "Ghi chú"])
    assert list(c.by_index.values()) == ["name", "phone", "account_no", "meter_no", "owner",
                                         "id", "e_invoice_email"]
    assert c.unknown == ["Ghi chú"]  # `error` (of a rejected-rows file) is ignored quietly
    assert c.is_name_row(["name", "phone", None, "meter_no", "owner", "id"])
    assert not c.is_name_row(["An", "0901", None])


def test_header_problems(model: TenantModel) -> None:
    with pytest.raises(FileProblem, match="columns A and C are both 'phone'"):
        cols(model, ["phone", "name", "Điện thoại 1"])
    with pytest.raises(FileProblem, match="no column matches a field"):
        cols(model, ["foo", None, "bar"])


def test_cells_take_the_shape_the_api_takes(model: TenantModel) -> None:
    c = cols(model, ["name", "phone", "household_members", "owner", "address"])
    assert c.values(["  An ", 901234567.0, 3.0, 101.0, 12]) == {
        "name": "An", "phone": "901234567", "household_members": 3, "owner": "101",
        "address": "12"}
    assert c.values([None, "", "  ", None]) is None
    d = cols(model, ["code", "signed_date", "value"], "contract")
    assert d.values(["HD", datetime(2026, 1, 31), 1.5]) == {
        "code": "HD", "signed_date": datetime(2026, 1, 31), "value": 1.5}
    assert d.values([date(2026, 1, 2), None, None]) == {"code": "2026-01-02"}


@pytest.mark.parametrize("number, region, e164", [
    (901234567, "VN", "+84901234567"),       # a mobile typed as a number
    (2838222222, "VN", "+842838222222"),     # Ho Chi Minh City landline
    (2079460018, "GB", "+442079460018"),     # London
    (2025550143, "US", "+12025550143"),      # no trunk 0 to restore
])
def test_phones_that_lost_their_leading_zero(number: int, region: str, e164: str) -> None:
    assert normalize_phone(restore_phone(number, region), region) == e164


@pytest.mark.parametrize("text, out", [
    ("=1+2", "'=1+2"), ("+84901", "'+84901"), ("-5", "'-5"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("a=b", "a=b"), ("", ""), (5, 5), (None, None)])
def test_safe_text(text: object, out: object) -> None:
    assert safe_text(text) == out


def test_display_labels_users_and_phones(model: TenantModel) -> None:
    ent = model.entities["customer"]
    show = Display("en", "VN", {4: "agent@water.test"})
    assert show.value(ent.field_map["customer_type"], "business") == "Business / organisation"
    assert show.value(ent.field_map["phone"], "+84901234567") == "0901234567"
    assert show.value(ent.field_map["phone"], "+442079460018") == "'+442079460018"
    assert show.value(ent.field_map["name"], "=cmd") == "'=cmd"
    contract = model.entities["contract"]
    assert show.value(contract.field_map["signer"], 4) == "agent@water.test"
    assert show.value(contract.field_map["signed_date"], "2026-01-31") == date(2026, 1, 31)
