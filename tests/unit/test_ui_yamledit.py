"""The custom-field form's YAML edit: the admin's text (and comments) kept where the file
has the usual shape, the exact intent in every case."""
from __future__ import annotations

import yaml

from callboard.web.ui.yamledit import set_field

FILE = """# Our customers
label: Customer
fields:
  # the account number on the bill
  account_no: {type: text, unique: true}
  tier:
    type: select
    options: [a, b]

list:
  columns: [name, account_no]   # what agents see
  filters: [tier]
form:
  sections:
    - label: Main
      fields: [name, account_no]
    - label: More
      fields: [tier]
"""


def test_new_field_keeps_the_text() -> None:
    out = set_field(FILE, "loyalty", {"type": "select", "options": ["x", "y"]}, column=True,
                    filter_=True, section=1)
    assert "# the account number on the bill" in out
    data = yaml.safe_load(out)
    assert data["fields"]["loyalty"] == {"type": "select", "options": ["x", "y"]}
    assert data["list"] == {"columns": ["name", "account_no", "loyalty"],
                            "filters": ["tier", "loyalty"]}
    assert data["form"]["sections"][1]["fields"] == ["tier", "loyalty"]
    assert out.startswith("# Our customers\n") and "  loyalty: {type: select" in out


def test_changed_field_replaces_its_block_and_moves_section() -> None:
    out = set_field(FILE, "tier", {"type": "select", "options": ["a", "b", "c"]}, section=0)
    data = yaml.safe_load(out)
    assert data["fields"]["tier"] == {"type": "select", "options": ["a", "b", "c"]}
    assert data["fields"]["account_no"] == {"type": "text", "unique": True}
    assert [s["fields"] for s in data["form"]["sections"]] == [
        ["name", "account_no", "tier"], []]
    assert "# the account number on the bill" in out


def test_unusual_layout_falls_back_to_the_exact_data() -> None:
    block_lists = "fields:\n  a: {type: text}\nlist:\n  columns:\n    - a\n"
    out = set_field(block_lists, "b", {"type": "integer", "min": 1}, column=True)
    assert yaml.safe_load(out) == {"fields": {"a": {"type": "text"},
                                              "b": {"type": "integer", "min": 1}},
                                   "list": {"columns": ["a", "b"]}}
    assert yaml.safe_load(set_field("", "c", {"type": "text"})) == {
        "fields": {"c": {"type": "text"}}}


def test_unticked_list_places_are_left() -> None:
    out = set_field(FILE, "tier", {"type": "select", "options": ["a", "b"]}, column=False,
                    filter_=False)
    assert yaml.safe_load(out)["list"] == {"columns": ["name", "account_no"], "filters": []}
    assert "# what agents see" in out
