"""Add or change one field in an entity's YAML file, keeping the rest of the text (and
its comments) as the admin wrote it.

The change is made on the text where the file has the usual shape; the result is parsed
back and compared with the intended data, and when they differ (an unusual layout) the
whole file is written out again instead, so the outcome is always exactly the intent.
"""
from __future__ import annotations

import copy
import re
from typing import Any

import yaml

TOP = re.compile(r"^([A-Za-z_][\w]*):")
FLOW_LIST = r"\[[^\]#]*\](\s*#.*)?\s*"  # a one-line list, perhaps with a comment after it


def flow(value: Any) -> str:
    """`value` as one line of YAML flow style."""
    return yaml.safe_dump(value, default_flow_style=True, allow_unicode=True,
                          width=1_000_000, sort_keys=False).strip().removesuffix("...").strip()


def intended(data: dict[str, Any], name: str, spec: dict[str, Any], *,
             column: bool, filter_: bool, section: int | None) -> dict[str, Any]:
    """The file's data once field `name` is `spec` and placed where asked."""
    out = copy.deepcopy(data)
    out.setdefault("fields", {})
    if out["fields"] is None:
        out["fields"] = {}
    out["fields"][name] = spec
    layout = out.get("list") or {}
    for key, wanted in (("columns", column), ("filters", filter_)):
        names = layout.get(key)
        if wanted and isinstance(names, list) and name not in names:
            names.append(name)
        elif not wanted and isinstance(names, list) and name in names:
            names.remove(name)
    sections = (out.get("form") or {}).get("sections")
    if section is not None and isinstance(sections, list) and 0 <= section < len(sections):
        for sec in sections:
            if isinstance(sec, dict) and name in (sec.get("fields") or []):
                sec["fields"].remove(name)
        sections[section].setdefault("fields", []).append(name)
    return out


def set_field(text: str, name: str, spec: dict[str, Any], *, column: bool = False,
              filter_: bool = False, section: int | None = None) -> str:
    """The file `text` with field `name` set to `spec` (see the module's docstring)."""
    data = yaml.safe_load(text) if text.strip() else {}
    if not isinstance(data, dict):
        data = {}
    want = intended(data, name, spec, column=column, filter_=filter_, section=section)
    try:
        edited = _edit(text, want, name, spec, section)
        if yaml.safe_load(edited) == want:
            return edited
    except (yaml.YAMLError, ValueError, IndexError, KeyError, TypeError):
        pass
    return yaml.safe_dump(want, allow_unicode=True, sort_keys=False, width=100)


def _block(lines: list[str], key: str) -> tuple[int, int]:
    """(first, end) line indexes of top-level `key`'s block; ValueError when absent."""
    start = next(i for i, line in enumerate(lines) if (m := TOP.match(line)) and
                 m.group(1) == key)
    end = start + 1
    while end < len(lines) and not TOP.match(lines[end]):
        end += 1
    while end > start + 1 and (not lines[end - 1].strip()
                               or lines[end - 1].lstrip().startswith("#")):
        end -= 1
    return start, end


def _edit(text: str, want: dict[str, Any], name: str, spec: dict[str, Any],
          section: int | None) -> str:
    lines = text.splitlines()
    if not any((m := TOP.match(line)) and m.group(1) == "fields" for line in lines):
        lines += ["", "fields:"]
    start, end = _block(lines, "fields")
    body = [i for i in range(start + 1, end)
            if lines[i].strip() and not lines[i].lstrip().startswith("#")]
    indent = (len(lines[body[0]]) - len(lines[body[0]].lstrip())) if body else 2
    pad = " " * indent
    new_line = f"{pad}{name}: {flow(spec)}"
    own = next((i for i in body if lines[i].startswith(f"{pad}{name}:")), None)
    if own is not None:
        stop = own + 1
        while stop < end and (not lines[stop].strip() or
                              len(lines[stop]) - len(lines[stop].lstrip()) > indent):
            stop += 1
        lines[own:stop] = [new_line]
    else:
        lines.insert(end, new_line)
    before = yaml.safe_load(text) if text.strip() else {}
    before = before if isinstance(before, dict) else {}
    for key in ("columns", "filters"):
        names = (want.get("list") or {}).get(key)
        if isinstance(names, list) and names != (before.get("list") or {}).get(key):
            _replace_flow(lines, "list", re.compile(rf"^(\s+{key}:\s*){FLOW_LIST}$"), 0, names)
    sections = (want.get("form") or {}).get("sections")
    if section is not None and isinstance(sections, list):
        pattern = re.compile(rf"^(\s*(?:-\s+)?fields:\s*){FLOW_LIST}$")
        for i, sec in enumerate(sections):
            _replace_flow(lines, "form", pattern, i, sec.get("fields") or [])
    return "\n".join(lines) + "\n"


def _replace_flow(lines: list[str], key: str, pattern: re.Pattern[str], nth: int,
                  value: list[Any]) -> None:
    start, end = _block(lines, key)
    hits = [i for i in range(start, end) if pattern.match(lines[i])]
    i = hits[nth]
    m = pattern.match(lines[i])
    lines[i] = m.group(1) + flow(value) + (m.group(2) or "")  # type: ignore[union-attr]
