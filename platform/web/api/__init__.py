"""The REST API under /api/v1 (CONTRACT §4)."""
from __future__ import annotations

from flask import Blueprint, Flask

api = Blueprint("api", __name__, url_prefix="/api/v1")


def register_api(app: Flask) -> None:
    from . import (  # noqa: F401
        admin,
        agents,
        imports,
        jobs,
        knowledge,
        meta,
        openapi,
        records,
        saved_filters,
        search,
        telephony,
        users,
        workflow,
    )

    app.register_blueprint(api)
