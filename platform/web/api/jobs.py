"""Background jobs: status and result files."""
from __future__ import annotations

from . import api  # noqa: F401
