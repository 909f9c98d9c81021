"""What every request needs of the platform, created once per app and kept on it."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, current_app
from sqlalchemy import Engine

from callboard.engine.records import Change, RecordService
from callboard.engine.settings import Settings
from callboard.engine.tenancy import Tenant, TenantStore
from callboard.workflows.hooks import records_service


@dataclass
class Platform:
    settings: Settings
    engine: Engine
    store: TenantStore

    listeners: tuple[Callable[[Change], None], ...] = ()

    def records(self, tenant: Tenant) -> RecordService:
        """The tenant's record service, with the platform's hooks and this app's listeners."""
        return records_service(self.engine, tenant, listeners=self.listeners)


def platform(app: Flask | None = None) -> Platform:
    """The Platform of `app` (or of the current app)."""
    return (app or current_app).extensions["callboard"]
