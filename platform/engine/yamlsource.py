"""Read YAML safely, keeping where every value stands and rejecting duplicate keys.

PyYAML's safe loader silently keeps the last of two equal keys; a tenant admin who pastes a
field twice deserves to hear about it. We compose the node tree ourselves, convert it to
plain Python values, and remember the line and column of every value and key by JSON path.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from .problems import Path, Problem, format_path

_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_STR = "tag:yaml.org,2002:str"


@dataclass
class Document:
    """One parsed YAML file: its data and where each path starts (1-based line, column)."""

    file: str
    data: Any
    text: str = ""
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """The position of `path` (its key when `key`), or of its nearest known ancestor."""
        path = tuple(path)
        if key and path in self.keys:
            return self.keys[path]
        while path:
            if path in self.values:
                return self.values[path]
            path = path[:-1]
        return self.values.get((), (1, 1))

    def problem(self, path: Path, message: str, *, key: bool = False,
                offset: int | None = None) -> Problem:
        """A problem at `path` in this document; `offset` (0-based) points at a character
        inside the scalar's text, past its opening quote if it has one."""
        line, col = self.where(path, key=key)
        if offset is not None:
            line, col = self._inside(line, col, offset)
        return Problem(self.file, line, col, format_path(path), message)

    def _inside(self, line: int, col: int, offset: int) -> tuple[int, int]:
        """The source position of character `offset` of the scalar starting at (line, col):
        past its opening quote, through escapes ('' and backslashes) and folded lines."""
        lines = self.text.splitlines()
        if not 0 < line <= len(lines) or not 0 < col <= len(lines[line - 1]):
            return line, col
        quote = lines[line - 1][col - 1]
        if quote in "|>":
            return line, col  # block scalars: their start is close enough
        style = quote if quote in "'\"" else ""
        i, row, left = col - 1 + (1 if style else 0), line - 1, offset
        while left > 0 and row < len(lines):
            text = lines[row]
            if i >= len(text):  # a folded line break counts as one space
                row += 1
                if row >= len(lines):
                    break
                i = len(lines[row]) - len(lines[row].lstrip())
                left -= 1
                continue
            step = 1
            if style == "'" and text.startswith("''", i):
                step = 2
            elif style == '"' and text[i] == "\\":
                step = {"x": 4, "u": 6, "U": 10}.get(text[i + 1: i + 2], 2)
            i += step
            left -= 1
        return row + 1, i + 1


class _Converter(yaml.constructor.SafeConstructor):
    """Turns scalar nodes into values; times, dates and sexagesimals stay text."""

    def scalar(self, node: yaml.ScalarNode) -> Any:
        if node.tag == _TIMESTAMP:
            return node.value
        if node.tag == _INT and ":" in node.value:
            return node.value  # "8:30" is a time to us, not 510 (YAML 1.1 base 60)
        if node.tag == _FLOAT and ":" in node.value:
            return node.value
        return self.construct_object(node, deep=True)


def parse(file: str, text: str) -> tuple[Document | None, list[Problem]]:
    """Parse `text` (the content of `file`); return the document or located problems."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        line, col, what = _syntax(exc, text)
        return None, [Problem(file, line, col, "(root)", f"YAML syntax: {what}")]
    except yaml.reader.ReaderError as exc:  # control characters and the like
        before = text[: exc.position]
        line, col = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        char = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1])
        return None, [Problem(file, line, col, "(root)",
                              f"YAML syntax: character #x{char:04x} is not allowed in YAML")]
    except yaml.YAMLError as exc:
        what = " ".join(str(exc).split())
        return None, [Problem(file, 1, 1, "(root)", f"YAML syntax: {what}")]
    doc = Document(file, None, text)
    problems: list[Problem] = []
    if node is None:
        return doc, problems
    conv = _Converter()
    budget = [MAX_NODES]
    try:
        doc.data = _convert(node, (), doc, conv, problems, budget)
    except _TooBig:
        return None, [Problem(file, 1, 1, "(root)", f"too large: more than {MAX_NODES} values "
                              "(aliases that expand without end?)")]
    return doc, problems


_OPENED = {
    "while scanning a quoted scalar": "this quoted text is never closed",
    "while parsing a flow mapping": "this { is never closed",
    "while parsing a flow sequence": "this [ is never closed",
}


_PLAIN = {
    "expected <block end>, but found": "this line does not line up with the keys above it "
                                       "(check its indentation)",
    "mapping values are not allowed here": "a ':' is not allowed here (quote a value that "
                                           "contains ': ')",
    "found character '\\t' that cannot start any token": "a tab character; indent with "
                                                        "spaces",
}


def _syntax(exc: yaml.MarkedYAMLError, text: str) -> tuple[int, int, str]:
    """Where a syntax error really is, and what it is, in words: an unclosed quote or
    bracket is reported where it was opened, not at the end of the file."""
    problem, context = exc.problem or "", exc.context or ""
    mark, cmark = exc.problem_mark, exc.context_mark
    past_end = mark is None or "end of stream" in problem or mark.index >= len(text.rstrip()) \
        or problem.startswith("expected ','")  # the next line began before it was closed
    if cmark is not None and context in _OPENED and past_end:
        return cmark.line + 1, cmark.column + 1, _OPENED[context]
    if mark is None:
        mark = cmark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    what = problem or context or "not valid YAML"
    for jargon, words in _PLAIN.items():
        if jargon in what:
            what = words
            break
    if cmark is not None and context in _OPENED and cmark.line != (mark.line if mark else -1):
        opener = "{" if "mapping" in context else "[" if "sequence" in context else "quote"
        what += f" (inside the {opener} opened at line {cmark.line + 1})"
    elif "another document" in what:
        what = "a second document (---) in one file; a bundle file holds one document"
    return line, col, what


MAX_NODES = 200_000


class _TooBig(Exception):
    pass


def _pos(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _convert(node: yaml.Node, path: Path, doc: Document, conv: _Converter,
             problems: list[Problem], budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0 or len(path) > 50:
        raise _TooBig
    doc.values[path] = _pos(node)
    if isinstance(node, yaml.MappingNode):
        try:
            conv.flatten_mapping(node)
        except yaml.constructor.ConstructorError as exc:
            mark = exc.problem_mark or node.start_mark
            problems.append(Problem(doc.file, mark.line + 1, mark.column + 1, format_path(path),
                                    "a merge key '<<' needs a map or a list of maps"))
            node.value = [(k, v) for k, v in node.value if k.tag != "tag:yaml.org,2002:merge"]
        out: dict[Any, Any] = {}
        first: dict[Any, tuple[int, int]] = {}
        for key_node, value_node in node.value:
            where = _pos(key_node)
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append(Problem(doc.file, where[0], where[1], format_path(path),
                                        "a key must be plain text, not a list or a map"))
                continue
            key = _key(key_node, conv)
            if key in first:
                problems.append(Problem(
                    doc.file, where[0], where[1], format_path((*path, key)),
                    f"duplicate key '{key}' (first given at line {first[key][0]})"))
                continue
            first[key] = where
            doc.keys[(*path, key)] = where
            out[key] = _convert(value_node, (*path, key), doc, conv, problems, budget)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), doc, conv, problems, budget)
                for i, item in enumerate(node.value)]
    try:
        return conv.scalar(node)
    except (yaml.constructor.ConstructorError, ValueError, OverflowError):
        line, col = _pos(node)
        problems.append(Problem(doc.file, line, col, format_path(path),
                                f"cannot read value {node.value!r}"))
        return node.value


def _key(node: yaml.ScalarNode, conv: _Converter) -> str:
    """Mapping keys are text to us: `1:` in a menu means the digit, `on:` the word."""
    if node.tag == "tag:yaml.org,2002:null" and node.value in ("", "~"):
        return "null" if node.value else ""
    return str(node.value)
