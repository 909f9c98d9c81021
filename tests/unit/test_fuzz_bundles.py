"""Fuzzing the checker: broken bundles must give located problems, never an exception.

Starting from the shipped bundles, hypothesis (a) mutates their YAML structurally (delete,
replace, rename, duplicate, point references elsewhere, add unknown keys, drop files) and
(b) edits their raw text character by character. Whatever comes out, `check_bundle` must
return problems that each name a file of the bundle (or the missing tenant.yaml), a line
and column from 1, a path and a one-line message, none twice; a bundle without problems
must compile.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from callboard.engine.bundle import BundleSource, check_bundle, compile_bundle
from callboard.engine.model import TenantModel

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = [ROOT / "config", *sorted(p for p in (ROOT / "templates").iterdir() if p.is_dir())]
IDS = [p.relative_to(ROOT).as_posix() for p in SHIPPED]

# CALLBOARD_FUZZ_EXAMPLES=2000 pytest tests/unit/test_fuzz_bundles.py digs deeper.
FUZZ = settings(max_examples=int(os.environ.get("CALLBOARD_FUZZ_EXAMPLES", "30")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

_SOURCES: dict[Path, dict[str, str]] = {}
_DATA: dict[Path, dict[str, Any]] = {}


def _files(bundle: Path) -> dict[str, str]:
    if bundle not in _SOURCES:
        _SOURCES[bundle] = dict(BundleSource.from_dir(bundle).files)
    return _SOURCES[bundle]


def _data(bundle: Path) -> dict[str, Any]:
    if bundle not in _DATA:
        _DATA[bundle] = {rel: yaml.safe_load(text) for rel, text in _files(bundle).items()}
    return _DATA[bundle]


def assert_sound(files: dict[str, str]) -> None:
    """The checker copes with `files`: located problems, or a model when there are none."""
    source = BundleSource(files)
    problems = check_bundle(source)
    for p in problems:
        where = p.format()
        assert p.file in files or p.file == "tenant.yaml", where
        assert isinstance(p.line, int) and p.line >= 1, where
        assert isinstance(p.column, int) and p.column >= 1, where
        assert isinstance(p.path, str) and p.path.strip(), where
        assert isinstance(p.message, str) and p.message.strip(), where
        assert "\n" not in p.path + p.message, f"a problem must fit on one line: {where!r}"
    assert len(set(problems)) == len(problems), "a problem is reported twice: " + next(
        p.format() for p in problems if problems.count(p) > 1)
    if not problems:
        assert isinstance(compile_bundle(source), TenantModel)


# ---------------------------------------------------------------- (a) structural mutations

NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20), NAMES,
    st.sampled_from(["08:00-17:00", "5m", "2026-02-30", "*", "#", "x", "", "{name}",
                     "customer.tier == 'gold'", "a ==", "text", "select", "link", "table"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(NAMES, inner, max_size=3)),
    max_leaves=6,
)


def _slots(node: Any, path: tuple = ()) -> list[tuple[Any, ...]]:
    """Every place a value sits: (path to its container, key or index)."""
    out: list[tuple[Any, ...]] = []
    if isinstance(node, dict):
        for k, v in node.items():
            out.append((path, k))
            out += _slots(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.append((path, i))
            out += _slots(v, (*path, i))
    return out


def _get(node: Any, path: tuple) -> Any:
    for part in path:
        node = node[part]
    return node


def _strings(node: Any) -> set[str]:
    if isinstance(node, str):
        return {node}
    if isinstance(node, dict):
        return {str(k) for k in node} | {s for v in node.values() for s in _strings(v)}
    if isinstance(node, list):
        return {s for v in node for s in _strings(v)}
    return set()


KINDS = ["delete", "replace", "rename", "duplicate", "reference", "unknown_key",
         "replace_document", "drop_file"]


def _mutate(draw: st.DrawFn, docs: dict[str, Any], names: list[str]) -> str:
    kind = draw(st.sampled_from(KINDS))
    rel = draw(st.sampled_from(sorted(docs)))
    if kind == "drop_file":
        del docs[rel]
        return f"drop {rel}"
    if kind == "replace_document":
        docs[rel] = draw(VALUES)
        return f"replace {rel} with {docs[rel]!r}"
    slots = _slots(docs[rel])
    if kind == "unknown_key":
        dicts = [()] + [(*p, k) for p, k in slots]
        dicts = [p for p in dicts if isinstance(_get(docs[rel], p), dict)]
        if not dicts:
            return "noop"
        path = draw(st.sampled_from(dicts))
        key, value = draw(NAMES), draw(VALUES)
        _get(docs[rel], path)[key] = value
        return f"{rel}: add {path}.{key} = {value!r}"
    if not slots:
        return "noop"
    # Pick a depth first, so top-level keys (title, workflow, start…) are hit as often as
    # the many leaves of labels and options.
    depth = draw(st.sampled_from(sorted({len(p) for p, _ in slots})))
    path, key = draw(st.sampled_from([s for s in slots if len(s[0]) == depth]))
    parent = _get(docs[rel], path)
    if kind == "delete":
        del parent[key]
        return f"{rel}: delete {path}[{key!r}]"
    if kind == "replace":
        parent[key] = draw(VALUES)
        return f"{rel}: {path}[{key!r}] = {parent[key]!r}"
    if kind == "rename":
        if not isinstance(parent, dict):
            return "noop"
        new = draw(st.one_of(NAMES, st.sampled_from([f"{key}x", str(key)[:-1] or "x"])))
        parent[new] = parent.pop(key)
        return f"{rel}: rename {path}[{key!r}] to {new!r}"
    if kind == "duplicate":
        if isinstance(parent, list):
            parent.insert(draw(st.integers(0, len(parent))), copy.deepcopy(parent[key]))
        else:
            parent[f"{key}_copy"] = copy.deepcopy(parent[key])
        return f"{rel}: duplicate {path}[{key!r}]"
    # reference: point a name somewhere else (an existing name, or a made-up one)
    parent[key] = draw(st.one_of(st.sampled_from(names), NAMES))
    return f"{rel}: {path}[{key!r}] -> {parent[key]!r}"


@pytest.mark.parametrize("bundle", SHIPPED, ids=IDS)
@FUZZ
@given(data=st.data())
def test_structural_mutations_give_located_problems(bundle: Path, data: st.DataObject) -> None:
    docs = copy.deepcopy(_data(bundle))
    names = sorted(s for s in _strings(docs) if s.isidentifier() and len(s) < 30)
    for _ in range(data.draw(st.integers(1, 5), label="mutations")):
        note(_mutate(data.draw, docs, names))
    files = {rel: yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
             for rel, doc in docs.items()}
    assert_sound(files)


# ---------------------------------------------------------------- (b) raw text edits

CHARS = st.one_of(
    st.sampled_from(list(":-[]{}'\"#&*!|>%@,?\t\n ~`\\")),
    st.sampled_from(list("abcxyz019_")),
    st.characters(),
)


@pytest.mark.parametrize("bundle", SHIPPED, ids=IDS)
@FUZZ
@given(data=st.data())
def test_text_edits_give_located_problems(bundle: Path, data: st.DataObject) -> None:
    files = dict(_files(bundle))
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        rel = data.draw(st.sampled_from(sorted(files)), label="file")
        text = files[rel]
        at = data.draw(st.integers(0, len(text)), label="at")
        if data.draw(st.booleans(), label="insert"):
            piece = data.draw(st.text(CHARS, min_size=1, max_size=4), label="text")
            files[rel] = text[:at] + piece + text[at:]
        else:
            n = data.draw(st.integers(1, 12), label="delete")
            files[rel] = text[:at] + text[at + n:]
    assert_sound(files)


# ---------------------------------------------------------------- inputs found by reading the code

T = "name: Test Co.\n"
VEHICLE = "title: \"{plate}\"\nfields:\n  plate: {type: text}\n"
EDGE_CASES: dict[str, dict[str, str]] = {
    # a field cut by its schema error, in an entity with no title of its own
    "ghost_field_no_title": {
        "tenant.yaml": T,
        "entities/vehicle.yaml": "fields:\n  plate: {type: text}\n  bought_on: {type: dat}\n"},
    # the schema lets an end hour of 24 take minutes
    "hours_past_midnight": {
        "tenant.yaml": T + "schedules:\n  business: {mon: \"08:00-24:30\"}\n"},
    # min with a UTC offset, max without: the two cannot be compared
    "aware_and_naive_datetimes": {
        "tenant.yaml": T,
        "entities/vehicle.yaml": VEHICLE + "  seen_at: {type: datetime, "
        "min: \"2026-01-01T00:00+07:00\", max: \"2026-02-01T00:00\"}\n"},
    "merge_key_with_a_scalar": {
        "tenant.yaml": T,
        "entities/vehicle.yaml": VEHICLE + "  colour: {type: text, <<: 5}\n"},
    "unhashable_complex_key": {
        "tenant.yaml": T,
        "entities/vehicle.yaml": VEHICLE + "? {[a]: 1}\n: x\n"},
    "complex_key": {
        "tenant.yaml": T,
        "entities/vehicle.yaml": VEHICLE + "? [a, b]\n: x\n"},
    "recursive_alias": {
        "tenant.yaml": T,
        "entities/vehicle.yaml": VEHICLE + "list: &x {columns: [*x]}\n"},
    "alias_bomb": {
        "tenant.yaml": T + "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"{b}: &{b} [{', '.join(['*' + a] * 10)}]\n"
                  for a, b in zip("abcdefg", "bcdefgh", strict=True))},
    "control_characters": {"tenant.yaml": "name: T\x00\x07\n"},
    "documents_of_every_shape": {
        "tenant.yaml": "- name\n- T\n", "entities/a.yaml": "5\n", "entities/b.yaml": "",
        "ticket_types/c.yaml": "[]\n", "ivr/d.yaml": "'text'\n", "ivr/e.yaml": "---\n...\n"},
    "several_documents": {"tenant.yaml": T + "---\nname: Other\n"},
    "tags": {
        "tenant.yaml": T,
        "entities/vehicle.yaml": VEHICLE + "  a: {type: text, label: !!binary aGVsbG8=}\n"
        "  b: {type: text, label: !!set {x, y}}\n  c: {type: text, help: !custom x}\n"
        "  d: {type: integer, default: !!float 1e400}\n"},
    "expressions_over_every_field_type": {
        "tenant.yaml": T,
        "entities/vehicle.yaml": VEHICLE + "".join(
            f"  f_{t}: {{type: {t}{extra}, visible_if: \"f_{t} == 1 or f_{t} in ['a'] "
            f"or f_{t} > 'b' or not f_{t}\"}}\n"
            for t, extra in [("text", ""), ("integer", ""), ("boolean", ""), ("date", ""),
                             ("select", ", options: [a]"), ("multiselect", ", options: [a]"),
                             ("link", ", entity: customer"), ("user", ""), ("rating", ""),
                             ("file", ""), ("table", ", fields: {x: {type: text}}")])},
}


@pytest.mark.parametrize("files", EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_edge_cases_give_located_problems(files: dict[str, str]) -> None:
    assert_sound(files)
