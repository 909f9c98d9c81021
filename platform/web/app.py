"""The Flask application factory."""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from flask import Flask, jsonify
from flask_appbuilder import AppBuilder
from flask_appbuilder.const import AUTH_DB
from flask_sqlalchemy import SQLAlchemy

from callboard.engine.db import connect
from callboard.engine.settings import Settings
from callboard.engine.tenancy import TenantStore
from callboard.search.indexing import install as install_search

from .auth import check_login_payload
from .errors import register_error_handlers
from .events import Broker, assignment_notifier
from .platform import Platform
from .ui import UI_LANGUAGES, UI_TRANSLATIONS, register_ui

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, **config: Any) -> Flask:
    """A configured app. `settings` default to the environment; `config` overrides Flask
    settings (tests pass TESTING=True and the like)."""
    settings = settings or Settings.from_env()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = Flask("callboard.web", instance_path=str(settings.data_dir),
                instance_relative_config=False)
    url = settings.database_url
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=url,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        APP_NAME="Callboard",
        AUTH_TYPE=AUTH_DB,
        # Alembic owns the schema; roles and permissions are made by the platform.
        FAB_CREATE_DB=False,
        FAB_UPDATE_PERMS=False,
        FAB_ADD_SECURITY_API=False,      # FAB's cross-tenant user/role REST APIs stay off
        FAB_ADD_MENU_API=False,          # and its menu API (for FAB's React UI; unused)
        FAB_API_SWAGGER_UI=False,
        AUTH_ROLE_ADMIN="platform_admin",
        AUTH_ROLE_PUBLIC="public",
        JWT_ACCESS_TOKEN_EXPIRES=timedelta(hours=12),
        JSON_SORT_KEYS=False,
        MAX_CONTENT_LENGTH=50 * 1024 * 1024,
        # the screens (callboard.web.ui): their home page, languages and translations
        FAB_INDEX_VIEW="callboard.web.ui.views.HomeView",
        LANGUAGES=UI_LANGUAGES,
        BABEL_TRANSLATION_DIRECTORIES=str(UI_TRANSLATIONS),
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,        # an agent's console stays open all day
    )
    app.config.update(config)
    app.json.ensure_ascii = False
    app.json.sort_keys = False

    engine = connect(settings.database_url)
    broker = Broker()
    if settings.redis_url:
        broker.use_redis(settings.redis_url)
    app.extensions["callboard"] = Platform(settings, engine, TenantStore(engine),
                                           listeners=(assignment_notifier(broker),))
    app.extensions["callboard_events"] = broker
    app.extensions["callboard_search"] = install_search(engine, settings.data_dir)

    db = SQLAlchemy()
    db.init_app(app)
    appbuilder = AppBuilder()
    with app.app_context():
        appbuilder.init_app(app, db.session)
        appbuilder.post_init() if hasattr(appbuilder, "post_init") else None

    from .api import register_api

    register_api(app)
    register_ui(app)
    register_error_handlers(app)
    app.before_request(check_login_payload)

    @app.get("/health")
    def health() -> Any:
        return jsonify({"status": "ok"})

    return app
