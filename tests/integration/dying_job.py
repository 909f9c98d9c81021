"""A job kind whose process dies at once (SIGKILL), as an out-of-memory kill would end it:
for the tests of jobs a web server runs in a process of their own."""
from __future__ import annotations

import os
import signal
from typing import Any


def die(ctx: Any) -> dict[str, Any]:
    os.kill(os.getpid(), signal.SIGKILL)
    return {}


def large(engine: Any, tenant_id: int, params: dict[str, Any]) -> int:
    return 10**6
