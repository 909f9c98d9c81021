"""A record's title: plain `{field}` templates are filled without string.Formatter, and
give exactly what the Formatter gives; other templates still go through it."""
from __future__ import annotations

import pickle
import string
from typing import Any

import pytest

from callboard.engine.bulk import RowOutcome
from callboard.engine.records import _BLANK, _Blank, _shown, _title_parts

TEMPLATES = ["{name}", "{name} - {phone}", "Ticket {code}: {subject}", "{ name }", "{a!r}",
             "{a:>5}", "{0}", "{a.b}", "{a[0]}", "{{x}} {name}", "no places", "{name", "{a}{a}",
             "{}", "Đơn {code} – {name}"]
FALLBACK = {"{ name }", "{a!r}", "{a:>5}", "{0}", "{a.b}", "{a[0]}", "{name", "{}"}
DATA: list[dict[str, Any]] = [
    {"name": "An", "phone": "+84901234567", "code": 12, "subject": ["a", "b"], "a": 1.5},
    {},
    {"name": None, "code": True, "a": {"x": 1}, "subject": []},
    {"name": "  spaced  ", "code": 0, "a": [1, 2.5]},
]


def formatter(template: str, data: dict[str, Any]) -> str:
    shown = _Blank({k: (", ".join(map(str, v)) if isinstance(v, list) else v)
                    for k, v in data.items()})
    return string.Formatter().vformat(template, (), shown)


@pytest.mark.parametrize("template", TEMPLATES)
def test_plain_templates_give_what_the_formatter_gives(template: str) -> None:
    parts = _title_parts(template)
    if parts is None:  # a spec, a conversion, an index, an odd name or a malformed one
        assert template in FALLBACK
        return
    assert template not in FALLBACK
    for data in DATA:
        fast = "".join(t if n is None else _shown(data.get(n, _BLANK)) for t, n in parts)
        assert fast == formatter(template, data)


def test_outcomes_cross_processes_whole() -> None:
    out = RowOutcome(7, data={"name": "An"}, owner=3, title="An", keys=[("phone", "+84", True)])
    out.fail("email", "bad")
    back = pickle.loads(pickle.dumps(out))
    assert back == out and back.errors == {"email": ["bad"]} and back.action == "failed"
