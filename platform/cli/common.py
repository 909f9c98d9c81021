"""Helpers shared by the `callboard` commands: settings, engine, tenant store, bundles,
the web app, and user-caused errors as one-line messages."""
from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NoReturn

import click

from callboard.engine.bundle import BundleSource, check_bundle
from callboard.engine.problems import BundleError, Problem

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from callboard.engine.settings import Settings
    from callboard.engine.tenancy import TenantStore


class CallboardGroup(click.Group):
    """The root group: user-caused errors of any subcommand become one-line messages."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BundleError as e:
            _fail_bundle(e.problems, "")
        except _NO_ARGS_HELP:
            raise  # a bare group name: click shows its help, as it should
        except click.UsageError as e:
            # One line instead of click's usage block: the message and where to look.
            where = e.ctx.command_path if e.ctx is not None else ctx.command_path
            raise _UsageLine(f"{e.format_message()} (see `{where} --help`)") from None
        except (click.exceptions.Exit, click.Abort, click.ClickException):
            raise
        except Exception as e:  # classified below; a bug is re-raised
            message = _user_error(e)
            if message is None:
                raise
            raise click.ClickException(message) from None


_NO_ARGS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


class _UsageLine(click.ClickException):
    exit_code = 2


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in str(text).splitlines() if line.strip())


def _user_error(e: Exception) -> str | None:
    """The one-line message of an error the user caused, or None for a bug."""
    from callboard.engine.errors import ServiceError

    if isinstance(e, ServiceError):
        return _one_line(e.message or type(e).__name__)
    if isinstance(e, (FileNotFoundError, NotADirectoryError, IsADirectoryError,
                      PermissionError)):
        return _one_line(f"{e.filename}: {e.strerror}" if e.filename and e.strerror
                         else str(e))
    from sqlalchemy import exc as sa_exc

    if isinstance(e, sa_exc.DBAPIError):
        detail = _one_line(str(e.orig) if e.orig is not None else str(e))
        if re.search(r"no such table|does not exist|UndefinedTable", detail):
            return f"the database has no Callboard schema yet: run `callboard db upgrade` " \
                   f"({detail})"
        return f"database error: {detail}"
    if isinstance(e, (sa_exc.ArgumentError, sa_exc.NoSuchModuleError)):
        return f"CALLBOARD_DATABASE_URL: {_one_line(str(e))}"
    if isinstance(e, sa_exc.SQLAlchemyError):
        return f"database error: {_one_line(str(e))}"
    if type(e).__module__.startswith("alembic"):
        return f"migration failed: {_one_line(str(e))}"
    return None


def _fail_bundle(problems: Iterable[Problem], folder: str) -> NoReturn:
    """Print every problem of a bundle as `check` does, then exit 1."""
    problems = list(problems)
    for p in problems:
        click.echo(p.format(folder))
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    click.echo(f"{count} in {folder or 'the bundle'}", err=True)
    sys.exit(1)


# -- shared set-up ----------------------------------------------------------------------
def _settings() -> Settings:
    from callboard.engine.settings import Settings

    return Settings.from_env()


def _engine(settings: Settings) -> Engine:
    """An engine for this command, disposed of when the command ends."""
    from callboard.engine.db import connect

    engine = connect(settings.database_url)
    from callboard.search.indexing import install

    install(engine, settings.data_dir)  # commands' writes are indexed like the web app's
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(engine.dispose)
    return engine


def _store(settings: Settings) -> TenantStore:
    from callboard.engine.tenancy import TenantStore

    return TenantStore(_engine(settings))


def _read_bundle(folder: str) -> BundleSource:
    """The bundle in `folder`; its problems printed (exit 1) when it does not check."""
    source = BundleSource.from_dir(folder)
    problems = check_bundle(source)
    if problems:
        _fail_bundle(problems, folder)
    return source


def _web() -> tuple[Any, Any]:
    """create_app and create_user from the web package (a clear message if missing)."""
    try:
        from callboard.web.app import create_app
        from callboard.web.users import create_user
    except ImportError as e:
        raise click.ClickException(
            f"the web application is not available ({_one_line(str(e))})") from None
    return create_app, create_user


def _app(settings: Settings, create_app: Any) -> Any:
    """The web app for this command; its database pools are closed when the command ends
    (a serving app lives until the process does)."""
    app = create_app(settings)
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(lambda: _dispose_app(app))
    return app


def _dispose_app(app: Any) -> None:
    ext = app.extensions.get("callboard")
    if getattr(ext, "engine", None) is not None:
        ext.engine.dispose()
    if "sqlalchemy" in app.extensions:
        with app.app_context():
            app.extensions["sqlalchemy"].engine.dispose()


def _upgrade(engine: Engine) -> tuple[str | None, str | None]:
    from callboard.engine import schema

    before = schema.current(engine)
    schema.upgrade(engine)
    return before, schema.current(engine)
