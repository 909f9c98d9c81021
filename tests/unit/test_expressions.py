"""The expression language: parsing, error messages, checking against fields, evaluation."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callboard.engine.expressions import (
    Expression,
    ExpressionError,
    NameInfo,
    check,
    evaluate,
    parse,
)


def ev(source: str, **values: Any) -> Any:
    return evaluate(parse(source), values)


# ---------------------------------------------------------------- parsing and evaluation


@pytest.mark.parametrize(
    ("source", "values", "expected"),
    [
        ("tier != 'bronze' and priority >= 3", {"tier": "gold", "priority": 3}, True),
        ("tier != 'bronze' and priority >= 3", {"tier": "bronze", "priority": 5}, False),
        ("tier != 'bronze' and priority >= 3", {"tier": "gold", "priority": 2}, False),
        # precedence: not binds tighter than or, and comparison tighter than not
        ("not a == 1 or b", {"a": 1, "b": False}, False),
        ("not a == 1 or b", {"a": 1, "b": True}, True),
        ("not a == 1 or b", {"a": 2, "b": False}, True),
        ("not (a == 1 or b)", {"a": 2, "b": True}, False),
        # and binds tighter than or
        ("a or b and c", {"a": True, "b": False, "c": False}, True),
        ("(a or b) and c", {"a": True, "b": False, "c": False}, False),
        ("a and b or c", {"a": False, "b": True, "c": True}, True),
        ("not not a", {"a": 1}, True),
        ("a or b or c", {"c": "x"}, True),
        ("a and b and c", {"a": 1, "b": 1, "c": 0}, False),
        # literals
        ("x == 'it\\'s'", {"x": "it's"}, True),
        ('x == "say \\"hi\\""', {"x": 'say "hi"'}, True),
        ("x == 'a\\\\b'", {"x": "a\\b"}, True),
        ("x == -1.5", {"x": -1.5}, True),
        ("x == -2", {"x": -2}, True),
        ("x == true", {"x": True}, True),
        ("x == false", {"x": False}, True),
        ("x == null", {}, True),
        ("x != null", {"x": 0}, True),
        ("x in ['a', 'b']", {"x": "b"}, True),
        ("x in []", {"x": "b"}, False),
        ("x not in ['a', 'b']", {"x": "c"}, True),
        ("x in [1, 2.5, y]", {"x": 7, "y": 7}, True),
        # dotted names, keyed flat or nested
        ("customer.tier == 'gold'", {"customer.tier": "gold"}, True),
        ("customer.tier == 'gold'", {"customer": {"tier": "gold"}}, True),
        ("call.from == '+8428'", {"call.from": "+8428"}, True),
        ("customer.tier == 'gold'", {"customer": "gold"}, False),
        # whitespace is free
        ("  a==1 and(b)  ", {"a": 1, "b": 1}, True),
        ("a\n==\t1", {"a": 1}, True),
    ],
)
def test_evaluate_table(source: str, values: dict[str, Any], expected: Any) -> None:
    assert evaluate(parse(source), values) is expected


def test_bare_operand_returns_value_operators_return_booleans() -> None:
    assert ev("x", x="abc") == "abc"
    assert ev("[1, 'a', null]") == [1, "a", None]
    assert ev("a or b", a="x", b=0) is True
    assert ev("a and b", a="x", b=0) is False
    assert ev("1.25") == 1.25


def test_names_collects_every_dotted_name() -> None:
    expr = parse("customer.tier == 'gold' and (call.from in [a, b.c] or not d)")
    assert isinstance(expr, Expression)
    assert expr.names == {"customer.tier", "call.from", "a", "b.c", "d"}
    assert expr.source.startswith("customer.tier")
    assert parse("1 == 1").names == frozenset()


def test_keywords_are_case_sensitive_and_can_prefix_names() -> None:
    assert parse("android == 1").names == {"android"}
    assert parse("order.notes != null").names == {"order.notes"}
    assert parse("call.from == x").names == {"call.from", "x"}


def test_short_circuit() -> None:
    class Boom:
        def __bool__(self) -> bool:
            raise AssertionError("evaluated")

    assert evaluate(parse("a or b"), {"a": True, "b": Boom()}) is True
    assert evaluate(parse("a and b"), {"a": False, "b": Boom()}) is False


# ---------------------------------------------------------------- evaluation semantics


def test_missing_names_are_none() -> None:
    assert ev("x == null") is True
    assert ev("x != 'a'") is True
    assert ev("x == 'a'") is False
    assert ev("not x") is True
    assert ev("x") is None
    assert ev("x in ['a']") is False
    assert ev("x not in ['a']") is True
    assert ev("'a' in x") is False
    assert ev("customer.tier == 'gold'") is False


@pytest.mark.parametrize("op", ["<", "<=", ">", ">="])
def test_ordering_with_none_or_incomparable_is_false(op: str) -> None:
    assert ev(f"x {op} 1") is False
    assert ev(f"x {op} 1", x=None) is False
    assert ev(f"1 {op} x", x=None) is False
    assert ev(f"x {op} 1", x="abc") is False
    assert ev(f"x {op} 1", x=[1]) is False
    assert ev(f"x {op} y", x=dt.date(2020, 1, 1), y=3) is False
    assert ev(f"x {op} y", x={"a": 1}, y={"a": 1}) is False
    assert ev(f"x {op} true", x=True) is False


def test_numbers_compare_numerically() -> None:
    assert ev("x == 1", x=1.0) is True
    assert ev("x == 1.5", x=Decimal("1.5")) is True
    assert ev("x == 1.1", x=Decimal("1.1")) is True
    assert ev("x == y", x=Decimal("1.10"), y=1.1) is True
    assert ev("x > 2", x=Decimal("2.5")) is True
    assert ev("x == 3", x="3") is True
    assert ev("x == 3", x=" 3.0 ") is True
    assert ev("x < 10", x="9") is True  # numeric, not lexical
    assert ev("x == '3'", x=3) is True
    assert ev("x == 3", x="three") is False
    assert ev("'01' == '1'") is False  # two strings: plain equality
    assert ev("'10' < '9'") is True  # two strings: lexical


def test_booleans_are_not_numbers() -> None:
    assert ev("x == 1", x=True) is False
    assert ev("x == true", x=1) is False
    assert ev("x == true", x=True) is True


def test_dates() -> None:
    assert ev("d < '2000-01-01'", d="1999-12-31") is True
    assert ev("d < '2000-01-01'", d=dt.date(1999, 12, 31)) is True
    assert ev("d == '2000-01-01'", d=dt.date(2000, 1, 1)) is True
    assert ev("d >= e", d=dt.date(2000, 1, 2), e=dt.date(2000, 1, 1)) is True
    assert ev("d > e", d=dt.datetime(2000, 1, 1, 9), e=dt.date(2000, 1, 1)) is True
    aware = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    assert ev("d < e", d=aware, e=dt.datetime(2000, 1, 2)) is False  # incomparable, no raise
    assert ev("d > '2000-01-01T08:00'", d=dt.datetime(2000, 1, 1, 9)) is True


def test_in() -> None:
    assert ev("x in y", x="b", y=("a", "b")) is True
    assert ev("x in y", x="b", y={"b"}) is True
    assert ev("x in y", x=2, y=["1", "2"]) is True  # element-wise light coercion
    assert ev("'ell' in x", x="hello") is True
    assert ev("1 in x", x="123") is False
    assert ev("'vip' in tags", tags=["vip", "new"]) is True
    assert ev("'old' not in tags", tags=["vip", "new"]) is True
    assert ev("tags in ['vip', 'x']", tags=["vip", "new"]) is True  # any overlap
    assert ev("tags in ['x']", tags=["vip", "new"]) is False
    assert ev("x in y", x="a", y=5) is False
    assert ev("x in y", x="a", y={"a": 1}) is False


def test_lists_compare_element_wise() -> None:
    assert ev("x == ['a', 1]", x=("a", 1.0)) is True
    assert ev("x == ['a']", x=["a", "b"]) is False


def test_never_raises_on_nasty_numbers() -> None:
    for value in (Decimal("NaN"), Decimal("sNaN"), float("nan"), float("inf"), 10**400):
        for op in ("==", "!=", "<", "<=", ">", ">=", "in"):
            assert isinstance(ev(f"x {op} 1", x=value), bool)
            assert isinstance(ev(f"x {op} x", x=value), bool)


# ---------------------------------------------------------------- syntax errors


@pytest.mark.parametrize(
    ("source", "message", "offset"),
    [
        ("", "empty expression", 0),
        ("   ", "empty expression", 0),
        ("tier = 'gold'", "unknown operator '='; use '==' to compare", 5),
        ("a == ", "expected a value after '=='", 5),
        ("a == )", "expected a value after '==', found ')'", 5),
        ("a and", "expected a value after 'and'", 5),
        ("not", "expected a value after 'not'", 3),
        ("x in [1,", "expected a value after ','", 8),
        ("tier == 'gold", "unterminated string", 8),
        ('a == "x\\"', "unterminated string", 5),
        ("a == 1 b", "unexpected 'b' after the end of the expression", 7),
        ("a == 1 'x'", "unexpected ''x'' after the end of the expression", 7),
        ("a == 1)", "unmatched ')'", 6),
        (")", "unexpected ')' at the start of the expression", 0),
        ("and a", "unexpected 'and' at the start of the expression", 0),
        ("== 1", "unexpected '==' at the start of the expression", 0),
        ("(a == 1", "unclosed '('", 0),
        ("x in ['a', 'b'", "unclosed '['", 5),
        ("(a b)", "expected ')', found 'b'", 3),
        ("x in [1 2]", "expected ',' or ']' in the list, found '2'", 8),
        ("a == b == c", "comparisons cannot be chained; join them with 'and'", 7),
        ("a < b in c", "comparisons cannot be chained; join them with 'and'", 6),
        ("a not b", "expected 'in' after 'not'", 6),
        ("a && b", "unknown operator '&&'; use 'and'", 2),
        ("a || b", "unknown operator '||'; use 'or'", 2),
        ("!a", "unknown operator '!'; use 'not' or '!='", 0),
        ("a + 1", "unknown operator '+'; arithmetic is not supported", 2),
        ("a == 1abc", "malformed number '1abc'", 5),
        ("a == 1.2.3", "malformed number '1.2.3'", 5),
        ("a == 1.", "malformed number '1.'", 5),
        ("a == 1" + "0" * 60, "number '10000000000000000000...' is too long", 5),
        ("a == #", "unexpected character '#'", 5),
        ("tên == 1", "unexpected character 'ê'", 1),
        ("customer. == 1", "expected a field name after 'customer.'", 9),
        ("a == True", "write 'True' in lower case: 'true'", 5),
        ("a AND b", "write 'AND' in lower case: 'and'", 2),
        ("(" * 100 + "a" + ")" * 100, "expression is nested too deeply", 64),
        ("not " * 100 + "a", "expression is nested too deeply", 256),
    ],
)
def test_syntax_errors(source: str, message: str, offset: int) -> None:
    with pytest.raises(ExpressionError) as info:
        parse(source)
    assert info.value.message == message
    assert str(info.value) == message
    assert info.value.offset == offset


def test_long_flat_chains_do_not_recurse() -> None:
    source = " or ".join(f"x == {i}" for i in range(3000))
    assert evaluate(parse(source), {"x": 2999}) is True
    assert check(parse(source), {"x": NameInfo("integer")}) == []


# ---------------------------------------------------------------- check


SCOPE = {
    "tier": NameInfo("select", ("bronze", "silver", "gold")),
    "tags": NameInfo("multiselect", ("vip", "new")),
    "priority": NameInfo("rating"),
    "amount": NameInfo("decimal"),
    "count": NameInfo("integer"),
    "is_active": NameInfo("boolean"),
    "name": NameInfo("text"),
    "birthday": NameInfo("date"),
}
CALLER_SCOPE = {
    "customer.tier": NameInfo("select", ("bronze", "silver", "gold")),
    "customer.priority": NameInfo("rating"),
    "call.from": NameInfo("phone"),
}


def problems(source: str, scope: dict[str, NameInfo] = SCOPE) -> list[tuple[str, int]]:
    return [(e.message, e.offset) for e in check(parse(source), scope)]


@pytest.mark.parametrize(
    "source",
    [
        "tier != 'bronze' and priority >= 3",
        "tier in ['gold', 'silver'] and 'vip' in tags and tags not in ['new']",
        "tags == 'new' or not is_active or is_active == false",
        "birthday < '2000-01-01' and amount > 1.5 and count != null",
        "tier == name or tier in [name, 'gold']",
        "priority in [1, 2, 3]",
    ],
)
def test_check_clean(source: str) -> None:
    assert problems(source) == []


def test_check_unknown_fields() -> None:
    assert problems("tierr == 'gold'") == [("unknown field 'tierr' (did you mean 'tier'?)", 0)]
    assert problems("zzz == 1") == [("unknown field 'zzz'", 0)]
    assert problems("a == 1 or b == 2") == [("unknown field 'a'", 0), ("unknown field 'b'", 10)]


def test_check_dotted_names() -> None:
    assert problems("customer.tier == 'gold' and call.from != null", CALLER_SCOPE) == []
    assert problems("customer.teir == 'gold'", CALLER_SCOPE) == [
        ("unknown field 'customer.teir' (did you mean 'customer.tier'?)", 0)
    ]
    assert problems("x == 1 or caller.x == 1", CALLER_SCOPE) == [
        ("unknown field 'x'", 0),
        ("unknown field 'caller.x': 'caller' is not available here (did you mean 'call'?)", 10),
    ]
    assert problems("order.total > 1", CALLER_SCOPE) == [
        ("unknown field 'order.total': 'order' is not available here "
         "(available: call, customer)", 0)
    ]
    assert problems("customer.tier == 'gold'") == [
        ("unknown field 'customer.tier': 'customer' is not available here", 0)
    ]
    assert problems("priority > 1", CALLER_SCOPE) == [
        ("unknown field 'priority' (did you mean 'customer.priority'?)", 0)
    ]


def test_check_select_options() -> None:
    msg = "'bronz' is not an option of tier (bronze, silver, gold)"
    assert problems("tier == 'bronz'") == [(msg, 8)]
    assert problems("'bronz' != tier") == [(msg, 0)]
    assert problems("tier in ['gold', 'bronz']") == [(msg, 17)]
    assert problems("tier not in ['bronz']") == [(msg, 13)]
    assert problems("'old' in tags") == [("'old' is not an option of tags (vip, new)", 0)]
    assert problems("tags == 'old'") == [("'old' is not an option of tags (vip, new)", 8)]
    assert problems("customer.tier == 'Gold'", CALLER_SCOPE) == [
        ("'Gold' is not an option of customer.tier (bronze, silver, gold)", 17)
    ]
    assert problems("tier == 1 or tier == null") == []  # only strings are checked


def test_check_numbers_against_strings() -> None:
    assert problems("priority >= 'high'") == [
        ("priority is a number; compare it with a number, not 'high'", 12)
    ]
    assert problems("'3' == count") == [("count is a number; compare it with a number, not '3'", 0)]
    assert problems("amount in [1, '2']") == [
        ("amount is a number; compare it with a number, not '2'", 14)
    ]


def test_check_ordering_on_booleans() -> None:
    msg = "'<' does not apply to is_active, which is true or false; use '==' or '!='"
    assert problems("is_active < true") == [(msg, 10)]
    assert problems("1 >= is_active") == [(msg.replace("'<'", "'>='"), 2)]


def test_check_in_needs_a_list_or_multiselect() -> None:
    msg = "the right side of 'in' must be a list like ['a', 'b'] or a multiselect field"
    assert problems("'gold' in tier") == [(msg, 10)]
    assert problems("'a' in 'abc'") == [(msg, 7)]
    assert problems("'a' not in name") == [(msg.replace("'in'", "'not in'"), 11)]
    assert problems("'a' in (tier == 'gold')") == [(msg, 13)]
    assert problems("'a' in nope") == [("unknown field 'nope'", 7)]  # reported once


def test_check_reports_everything_in_offset_order() -> None:
    assert problems("tierr == 'x' or tier == 'bronz' or is_active > 1 or 'a' in name") == [
        ("unknown field 'tierr' (did you mean 'tier'?)", 0),
        ("'bronz' is not an option of tier (bronze, silver, gold)", 24),
        ("'>' does not apply to is_active, which is true or false; use '==' or '!='", 45),
        ("the right side of 'in' must be a list like ['a', 'b'] or a multiselect field", 59),
    ]


# ---------------------------------------------------------------- properties

TOKENS = [
    "a", "b", "customer.tier", "call.from", "x.", "==", "!=", "<", "<=", ">", ">=", "=", "in",
    "not", "and", "or", "true", "false", "null", "True", "(", ")", "[", "]", ",", "'s'",
    '"d\\"q"', "'", "1", "-2", "3.5", "1.", "!", "&&", "-", "\\", ".", "é", " ",
]


@settings(max_examples=500)
@given(st.text())
def test_parse_arbitrary_text_never_crashes(source: str) -> None:
    try:
        expr = parse(source)
    except ExpressionError as error:
        assert 0 <= error.offset <= len(source)
        assert error.message
    else:
        assert isinstance(expr, Expression)


@settings(max_examples=500)
@given(st.lists(st.sampled_from(TOKENS), max_size=25))
def test_parse_token_soup_never_crashes(tokens: list[str]) -> None:
    source = " ".join(tokens)
    try:
        expr = parse(source)
    except ExpressionError as error:
        assert 0 <= error.offset <= len(source)
    else:
        assert check(expr, SCOPE) is not None
        assert isinstance(evaluate(expr, {}), object)


SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.decimals()
    | st.text(max_size=5)
    | st.sampled_from(["1", " 2.5 ", "gold", "2000-01-01", "-0"])
    | st.dates()
    | st.datetimes(timezones=st.none() | st.just(dt.UTC))
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3)
    | st.tuples(inner)
    | st.frozensets(st.integers() | st.text(max_size=2), max_size=3)
    | st.dictionaries(st.sampled_from(["tier", "x"]), inner, max_size=2),
    max_leaves=5,
)
NAMES = ["a", "b", "customer.tier", "customer", "call.from"]
SOURCES = [
    f"{left} {op} {right}"
    for op in ("==", "!=", "<", "<=", ">", ">=", "in", "not in")
    for left, right in (("a", "b"), ("a", "1"), ("'x'", "b"), ("customer.tier", "[a, 1.5, null]"))
] + ["not a", "a and b", "a or customer", "not (a in b) and call.from"]


@settings(max_examples=500)
@given(
    st.sampled_from(SOURCES),
    st.dictionaries(st.sampled_from(NAMES), VALUES, max_size=5),
)
def test_evaluate_never_raises_on_arbitrary_values(source: str, values: dict[str, Any]) -> None:
    evaluate(parse(source), values)


@settings(max_examples=300)
@given(
    st.lists(st.sampled_from(TOKENS), max_size=15),
    st.dictionaries(st.sampled_from(["a", "b", "customer.tier"]), VALUES, max_size=3),
)
def test_evaluate_any_parsed_expression_never_raises(tokens: list[str], values: dict) -> None:
    try:
        expr = parse(" ".join(tokens))
    except ExpressionError:
        return
    evaluate(expr, values)
