"""Problems found in a config bundle, located by file, line, column and path."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Path = tuple[str | int, ...]


def format_path(path: Sequence[str | int]) -> str:
    """Render a JSON path as `fields.tier.options[2]`; the document itself is `(root)`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(root)"


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a bundle, in the words a tenant admin reads."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def format(self, prefix: str = "") -> str:
        """`FILE:LINE:COL: PATH: message`, the file joined to `prefix` (the bundle folder)."""
        name = f"{prefix.rstrip('/')}/{self.file}" if prefix and prefix != "." else self.file
        return f"{name}:{self.line}:{self.column}: {self.path}: {self.message}"


class BundleError(Exception):
    """Raised when a bundle that must be valid is not; carries every problem."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = tuple(sorted(problems))
        super().__init__("\n".join(p.format() for p in self.problems))
