"""Knowledge base: search, hot articles, favourites, feedback, attachments."""
from __future__ import annotations

from . import api  # noqa: F401
