"""Telephony commands: ivr simulate, telephony listen."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click

from callboard.cli.common import _read_bundle, _settings, _store


@click.group()
def ivr() -> None:
    """IVR trees: walk one with an imagined call."""


@ivr.command("simulate")
@click.argument("tenant_or_folder", metavar="SLUG|DIR")
@click.option("--from", "number", required=True, help="The caller's number.")
@click.option("--to", "to", default=None, help="The called number (picks the IVR tree).")
@click.option("--digits", default="", help="Keys pressed at the menus in turn: 1,2")
@click.option("--at", "at", default=None,
              help="ISO date-time of the call (default now; without an offset: the "
                   "tenant's local time).")
def ivr_simulate(tenant_or_folder: str, number: str, to: str | None, digits: str,
                 at: str | None) -> None:
    """Walk the IVR of tenant SLUG (callers looked up) or of the bundle in DIR.

    Prints one line per node visited (node, type, exit taken, why) and the final action.
    """
    from datetime import UTC, datetime

    from callboard.workflows.ivr_simulate import simulate

    presses = [d.strip() for d in digits.split(",") if d.strip()]
    bad = [d for d in presses if not re.fullmatch(r"[0-9*#]+", d)]
    if bad:
        raise click.ClickException(f"--digits: '{bad[0]}' is not made of 0-9, * and #")
    try:
        now = datetime.fromisoformat(at) if at else datetime.now(UTC)
    except ValueError:
        raise click.ClickException(f"--at: '{at}' is not an ISO date-time "
                                   "(2026-11-30T10:00)") from None
    svc = None
    if Path(tenant_or_folder).is_dir():
        from callboard.engine.bundle import compile_bundle

        model = compile_bundle(_read_bundle(tenant_or_folder))
    else:
        from callboard.engine.records import RecordService

        store = _store(_settings())
        current = store.get(tenant_or_folder)
        model, svc = current.model, RecordService(store.engine, current)
    result = simulate(model, number=number, to=to, now=now, digits=presses, svc=svc)
    for line in result.lines:
        click.echo(line)


@click.group()
def telephony() -> None:
    """Telephony providers that stream their events (Asterisk AMI)."""


@telephony.command("listen")
@click.argument("slug")
def telephony_listen(slug: str) -> None:
    """Follow tenant SLUG's PBX (telephony.provider: asterisk) and feed each call event to
    the call pipeline, one line per event, until the PBX hangs up or Ctrl-C."""
    from callboard.plugins import ProviderError
    from callboard.workflows.hooks import records_service
    from callboard.workflows.telephony_listen import follow

    settings = _settings()
    store = _store(settings)
    svc = records_service(store.engine, store.get(slug))
    notify = None
    if settings.redis_url:
        # Agents' screen pops reach the app servers' event streams through Redis pub/sub.
        from callboard.web.events import Broker

        broker = Broker()
        broker.use_redis(settings.redis_url, listen=False)
        notify = broker.publish
    else:
        click.echo("CALLBOARD_REDIS_URL is not set: calls are logged, but screen pops "
                   "cannot reach agents in the web app", err=True)

    def report(event: dict[str, Any], reply: dict[str, Any]) -> None:
        outcome = f"refused {reply['errors']}" if "errors" in reply else \
            "skipped" if "skipped" in reply else " ".join(
                a.get("type", "?") for a in reply.get("actions") or ()) or "ok"
        click.echo(f"{event['event']} {event['call_id']}: {outcome}")

    try:
        count = follow(svc, report=report, notify=notify)
    except ProviderError as e:
        raise click.ClickException(e.message) from None
    except KeyboardInterrupt:
        count = None
    click.echo("stopped" if count is None else f"the PBX closed the stream after {count} "
               "events")
