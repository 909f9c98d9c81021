"""Import, export, templates and bulk delete (Excel and CSV)."""
from __future__ import annotations

from . import api  # noqa: F401
