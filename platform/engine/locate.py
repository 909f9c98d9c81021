"""Where a compiled value came from, so every cross-file problem can point at its line."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .expressions import ExpressionError
from .messages import suggest
from .problems import Path, Problem
from .yamlsource import Document


@dataclass(frozen=True)
class Loc:
    """A place in a document; `at()` walks into it, `err()` records a problem there."""

    doc: Document
    path: Path
    sink: list[Problem] = field(compare=False)

    def at(self, *parts: str | int) -> Loc:
        return Loc(self.doc, (*self.path, *parts), self.sink)

    def err(self, message: str, *, key: bool = False, offset: int | None = None) -> None:
        self.sink.append(self.doc.problem(self.path, message, key=key, offset=offset))

    def expr_errors(self, errors: Iterable[ExpressionError]) -> None:
        for e in errors:
            self.err(e.message, offset=e.offset)

    def missing(self, what: str, name: str, choices: Iterable[str], *, key: bool = False,
                where: str = "") -> None:
        """`no what 'name'[ in where]` with a did-you-mean from `choices`."""
        place = f" in {where}" if where else ""
        self.err(f"no {what} '{name}'{place}{suggest(name, sorted(choices))}", key=key)


@dataclass(frozen=True)
class MergedLoc(Loc):
    """A system definition restated by a bundle: keys it restates point into the bundle."""

    over: Loc | None = None
    over_keys: frozenset[str] = frozenset()

    def at(self, *parts: str | int) -> Loc:
        if self.over is not None and parts and parts[0] in self.over_keys:
            return self.over.at(*parts)
        return Loc(self.doc, (*self.path, *parts), self.sink)
