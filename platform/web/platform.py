"""What every request needs of the platform, created once per app and kept on it."""
from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app
from sqlalchemy import Engine

from callboard.engine.records import RecordService
from callboard.engine.settings import Settings
from callboard.engine.tenancy import Tenant, TenantStore


@dataclass
class Platform:
    settings: Settings
    engine: Engine
    store: TenantStore

    def records(self, tenant: Tenant) -> RecordService:
        return RecordService(self.engine, tenant)


def platform(app: Flask | None = None) -> Platform:
    """The Platform of `app` (or of the current app)."""
    return (app or current_app).extensions["callboard"]
