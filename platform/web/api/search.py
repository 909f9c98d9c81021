"""Global record search over customers, contacts and tickets."""
from __future__ import annotations

from . import api  # noqa: F401
