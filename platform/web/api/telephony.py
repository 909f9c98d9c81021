"""Telephony: provider webhooks, screen pop, queues, agent status, click-to-call."""
from __future__ import annotations

from . import api  # noqa: F401
