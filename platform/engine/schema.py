"""Create or migrate the database schema with Alembic (`callboard db upgrade`)."""
from __future__ import annotations

from collections.abc import Callable
from importlib import resources

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location",
                        str(resources.files("callboard.engine").joinpath("migrations")))
    # configparser reads "%" as interpolation: a URL with %-escapes (options=-csearch_path%3D…)
    cfg.set_main_option("sqlalchemy.url",
                        engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (the newest by default)."""
    _migrate(engine, command.upgrade, revision)


def current(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def downgrade(engine: Engine, revision: str) -> None:
    """Take the schema back to `revision`."""
    _migrate(engine, command.downgrade, revision)


def _migrate(engine: Engine, step: Callable[[Config, str], None], revision: str) -> None:
    cfg = alembic_config(engine)
    with engine.begin() as conn:  # Alembic runs on this connection (env.py)
        cfg.attributes["connection"] = conn
        step(cfg, revision)
