"""Plugin hook specs and the plugin manager (pluggy; entry point group ``callboard``).

A plugin is a module (or object) with functions marked ``@hookimpl`` named like the specs
below. Installed packages declare it under the ``callboard`` entry point group; the
built-in telephony providers (``callboard_telephony.sim``, ``.webhook``, ``.asterisk``)
are registered the same way. `get_plugin_manager()` builds a fresh manager each call (no
global state at import time) and `check_pending()` rejects hooks with misspelt names.

This module knows nothing of Flask: providers get plain bytes and header maps.
"""
from __future__ import annotations

import functools
import importlib
import logging
import sys
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

import pluggy

__all__ = ["BUILTINS", "EVENT_FIELDS", "GROUP", "ProviderError", "TelephonyProvider",
           "check_event", "get_plugin_manager", "hookimpl", "hookspec", "plugin_manager",
           "provider", "providers"]

GROUP = "callboard"
BUILTINS = ("callboard_telephony.sim", "callboard_telephony.webhook",
            "callboard_telephony.asterisk")

log = logging.getLogger(__name__)
hookspec = pluggy.HookspecMarker(GROUP)
hookimpl = pluggy.HookimplMarker(GROUP)


class ProviderError(Exception):
    """A provider request that cannot be used: `status` is the HTTP status to answer
    (400 bad body, 401 bad signature, 502 the telephony server failed), `message` says why."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


@runtime_checkable
class TelephonyProvider(Protocol):
    """What a telephony provider offers the platform.

    `name` is the path segment of `POST /api/v1/telephony/{name}/events` and the value of
    tenant.yaml `telephony.provider`. `login` True means the endpoint authenticates the
    sender with the usual API bearer token (the tenant is the user's); False means the
    provider authenticates the request itself with the tenant's `telephony.secret`.

    A provider whose PBX streams events over a connection it opens (Asterisk AMI) may also
    offer `listen(settings, emit, *, stop=None) -> int`: follow the stream, hand each
    neutral event to `emit`, return how many when the stream ends or `stop` is set.
    """

    name: str
    login: bool

    def parse(self, body: bytes, headers: Mapping[str, str],
              secret: str | None) -> list[dict[str, Any]]:
        """The neutral call events (CONTRACT §5) in one provider request; ProviderError
        when the body is malformed or the signature does not match `secret`."""
        ...

    def originate(self, settings: Mapping[str, Any], from_ext: str,
                  number: str) -> dict[str, Any]:
        """Start an outbound call from extension `from_ext` to `number` with the tenant's
        `telephony` settings; returns at least `call_id`; ProviderError on failure."""
        ...


# -- neutral events ---------------------------------------------------------------------
# Event name -> fields it must carry (beyond `event`); CONTRACT §5. `call.queued` is what a
# PBX that runs its own queues (Asterisk) reports; a pipeline may ignore it.
EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "call.incoming": ("call_id",), "call.digits": ("call_id", "digits"),
    "call.timeout": ("call_id",), "call.queued": ("call_id", "queue"),
    "call.ringing": ("call_id", "agent"), "call.answered": ("call_id",),
    "call.ended": ("call_id",),
}
_TEXT = ("call_id", "event_id", "from", "to", "digits", "agent", "queue", "cause",
         "recording_url", "direction", "at")


def check_event(raw: Any) -> dict[str, Any]:
    """A neutral call event checked and tidied (text fields as strings, `duration` a
    number); ProviderError (400) naming what is wrong."""
    if not isinstance(raw, Mapping):
        raise ProviderError("an event must be a JSON object")
    name = raw.get("event", raw.get("type"))
    if name not in EVENT_FIELDS:
        raise ProviderError(f"event: {name!r} is not one of {', '.join(EVENT_FIELDS)}")
    out: dict[str, Any] = {k: v for k, v in raw.items() if k != "type"}
    out["event"] = name
    for key in _TEXT:
        value = out.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ProviderError(f"{name}: {key} must be text")
        out[key] = str(value)
    for key in EVENT_FIELDS[name]:
        if not out.get(key):
            raise ProviderError(f"{name}: {key} is required")
    if out.get("duration") is not None:
        try:
            out["duration"] = float(out["duration"])
            if not 0 <= out["duration"] < 10**7:
                raise ValueError
        except (TypeError, ValueError):
            raise ProviderError(f"{name}: duration must be a number of seconds") from None
    return out


# -- hook specs -------------------------------------------------------------------------
@hookspec
def callboard_telephony_providers() -> list[TelephonyProvider]:
    """Telephony provider objects this plugin offers (see TelephonyProvider)."""


# -- the manager ------------------------------------------------------------------------
def get_plugin_manager(*, entry_points_too: bool = True,
                       extra: tuple[Any, ...] = ()) -> pluggy.PluginManager:
    """A manager with the specs, the built-ins, the installed entry points and `extra`
    plugin objects; raises pluggy's PluginValidationError on a hook no spec names."""
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(sys.modules[__name__])
    for name in BUILTINS:
        module = importlib.import_module(name)
        if not pm.is_registered(module):
            pm.register(module, name=name)
    if entry_points_too:
        for ep in entry_points(group=GROUP):
            try:
                plugin = ep.load()
            except Exception:  # a broken package must not take the platform down with it
                log.exception("plugin %s (%s) could not be loaded; skipped", ep.name, ep.value)
                continue
            if not pm.is_registered(plugin) and pm.get_plugin(ep.name) is None:
                pm.register(plugin, name=ep.name)
    for plugin in extra:
        pm.register(plugin)
    pm.check_pending()
    return pm


@functools.cache
def plugin_manager() -> pluggy.PluginManager:
    """The process's plugin manager, made on first use (`plugin_manager.cache_clear()`
    makes the next call load the plugins again)."""
    return get_plugin_manager()


def providers(pm: pluggy.PluginManager | None = None) -> dict[str, TelephonyProvider]:
    """Every telephony provider by name (the last registered plugin wins a name clash)."""
    pm = pm or plugin_manager()
    out: dict[str, TelephonyProvider] = {}
    for group in reversed(pm.hook.callboard_telephony_providers()):
        for prov in group or ():
            out[prov.name] = prov
    return out


def provider(name: str, pm: pluggy.PluginManager | None = None) -> TelephonyProvider:
    """The provider called `name`; ProviderError (404) when no plugin offers it."""
    found = providers(pm)
    if name not in found:
        known = ", ".join(sorted(found)) or "none"
        raise ProviderError(f"no telephony provider '{name}' (installed: {known})", 404)
    return found[name]
