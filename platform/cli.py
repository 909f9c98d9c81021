"""The `callboard` command line (CONTRACT §2).

Every command turns the errors a user can cause (a bad bundle, a bad value, a missing
folder, an unreachable or unmigrated database) into a one-line message and a non-zero
exit, never a traceback. The web package is imported inside the commands that need it,
so `callboard check` and `callboard db upgrade` never load Flask.
"""
from __future__ import annotations

import re
import secrets
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from callboard.engine.bundle import BundleSource, check_bundle
from callboard.engine.model import ROLES
from callboard.engine.problems import BundleError, Problem

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from callboard.engine.settings import Settings
    from callboard.engine.tenancy import TenantStore

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DEMO_SLUG = "demo"
DEMO_USERS = (  # e-mail, role, name, team, department, extension
    ("admin@demo.callboard.test", "owner", "Quản trị viên", None, None, None),
    ("supervisor@demo.callboard.test", "supervisor", "Trần Thị Giám Sát", "care", "support",
     "100"),
    ("agent@demo.callboard.test", "agent", "Nguyễn Văn Tổng Đài", "care", "support", "101"),
)


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


def _check_user_input(email: str, password: str, role: str, prefix: str = "--") -> None:
    """Cheap checks before anything is written (create_user checks the rest)."""
    if role not in ROLES:
        raise click.ClickException(f"--role: '{role}' is not one of {', '.join(ROLES)}")
    if not EMAIL.match(email or ""):
        raise click.ClickException(f"{prefix}email: '{email}' is not an e-mail address")
    if not password:
        raise click.ClickException(f"{prefix}password: must not be empty")


def _discard_tenant(engine: Engine, tenant_id: int) -> None:
    """Undo a tenant created a moment ago (no records yet) when its owner failed."""
    from sqlalchemy import delete

    from callboard.engine.tables import bundles, members, tenants

    with engine.begin() as conn:
        conn.execute(delete(members).where(members.c.tenant_id == tenant_id))
        conn.execute(delete(bundles).where(bundles.c.tenant_id == tenant_id))
        conn.execute(delete(tenants).where(tenants.c.id == tenant_id))


# -- commands ---------------------------------------------------------------------------
@click.group(cls=CallboardGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Callboard: a low-code CRM and contact centre driven by YAML bundles."""


@main.command()
@click.argument("folder", default="config", required=False)
def check(folder: str) -> None:
    """Validate the config bundle in FOLDER (default ./config).

    Prints every problem as FILE:LINE:COL: PATH: message and exits 1, or prints a one-line
    summary and exits 0.
    """
    try:
        source = BundleSource.from_dir(folder)
    except (FileNotFoundError, NotADirectoryError, PermissionError) as e:
        raise click.ClickException(str(e)) from None
    problems = check_bundle(source)
    for p in problems:
        click.echo(p.format(folder))
    files = len(source.files)
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        click.echo(f"{count} in {folder} ({files} files)", err=True)
        sys.exit(1)
    click.echo(f"{folder}: OK ({files} files, no problems)")


# -- db ---------------------------------------------------------------------------------
@main.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema at CALLBOARD_DATABASE_URL."""
    settings = _settings()
    engine = _engine(settings)
    before, after = _upgrade(engine)
    where = engine.url.render_as_string(hide_password=True)
    if before == after:
        click.echo(f"{where}: already at revision {after}")
    else:
        click.echo(f"{where}: upgraded {before or '(empty)'} -> {after}")


def _upgrade(engine: Engine) -> tuple[str | None, str | None]:
    from callboard.engine import schema

    before = schema.current(engine)
    schema.upgrade(engine)
    return before, schema.current(engine)


# -- tenant -----------------------------------------------------------------------------
@main.group()
def tenant() -> None:
    """Tenants and their config bundles."""


@tenant.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="Display name of the tenant.")
@click.option("--template", default="config", show_default=True,
              help="Bundle folder to start from (./config or templates/NAME).")
@click.option("--admin-email", required=True, help="E-mail of the owner user.")
@click.option("--admin-password", required=True, help="Password of the owner user.")
def tenant_create(slug: str, name: str, template: str, admin_email: str,
                  admin_password: str) -> None:
    """Create tenant SLUG from a bundle folder, with an owner user."""
    from callboard.engine.errors import NotFound, ServiceError
    from callboard.engine.tenancy import SLUG

    if not SLUG.match(slug):
        raise click.ClickException(
            f"slug: use 2-63 lower-case letters, digits and - (not '{slug}')")
    _check_user_input(admin_email, admin_password, "owner", prefix="--admin-")
    source = _read_bundle(template)
    settings = _settings()
    store = _store(settings)
    try:
        store.get(slug)
    except NotFound:
        pass
    else:
        raise click.ClickException(f"tenant '{slug}' already exists")
    create_app, create_user = _web()
    created = store.create(slug, name, source)
    try:
        app = _app(settings, create_app)
        user_id = create_user(app, slug, admin_email, admin_password, "owner")
    except ServiceError as e:
        _discard_tenant(store.engine, created.id)
        raise click.ClickException(
            f"owner user: {_one_line(e.message)} (tenant '{slug}' not created)") from None
    except BaseException:
        _discard_tenant(store.engine, created.id)
        raise
    click.echo(f"created tenant {slug} ({created.name}) from {template}, "
               f"bundle version {created.version}")
    click.echo(f"owner: {admin_email} (user {user_id})")


@tenant.command("export")
@click.argument("slug")
@click.argument("folder")
def tenant_export(slug: str, folder: str) -> None:
    """Write tenant SLUG's current bundle as YAML files into FOLDER."""
    store = _store(_settings())
    current = store.get(slug)
    root = Path(folder)
    if root.exists() and not root.is_dir():
        raise click.ClickException(f"{folder}: not a folder")
    written = store.export(current.id, root)
    mine = {p.resolve() for p in written}
    stale = [p for p in _bundle_files(root) if p.resolve() not in mine]
    for path in stale:
        click.echo(f"warning: {path} is not part of the bundle (left as it is; "
                   f"`tenant apply` would read it)", err=True)
    click.echo(f"wrote {len(written)} files of {slug} (bundle version {current.version}) "
               f"to {folder}")


def _bundle_files(root: Path) -> list[Path]:
    from callboard.engine.bundle import FOLDERS

    found = [root / "tenant.yaml"] if (root / "tenant.yaml").is_file() else []
    for sub in FOLDERS:
        if (root / sub).is_dir():
            found += sorted(p for p in (root / sub).glob("*") if p.is_file())
    return found


@tenant.command("apply")
@click.argument("slug")
@click.argument("folder")
def tenant_apply(slug: str, folder: str) -> None:
    """Validate the bundle in FOLDER and make it tenant SLUG's current bundle.

    On problems, prints them like `check` and exits 1; the tenant keeps its version.
    """
    store = _store(_settings())
    current = store.get(slug)
    source = _read_bundle(folder)
    if dict(source.files) == store.files(current.id):
        click.echo(f"{slug}: bundle version {current.version} unchanged (same files)")
        return
    try:
        applied = store.apply(current.id, source, note=f"applied from {folder}")
    except BundleError as e:
        _fail_bundle(e.problems, folder)
    click.echo(f"{slug}: bundle version {applied.version} (was {current.version})")


@tenant.command("list")
def tenant_list() -> None:
    """List the tenants: slug, bundle version, members, name."""
    store = _store(_settings())
    slugs = store.slugs()
    if not slugs:
        click.echo("no tenants yet (create one with `callboard tenant create`)")
        return
    for slug in slugs:
        t = store.get(slug)
        click.echo(f"{t.slug}\tv{t.version}\t{len(store.members(t.id))} members\t{t.name}")


# -- user -------------------------------------------------------------------------------
@main.group()
def user() -> None:
    """Users of a tenant."""


@user.command("create")
@click.option("--tenant", "tenant_slug", required=True, help="Slug of the tenant.")
@click.option("--email", required=True)
@click.option("--password", required=True)
@click.option("--role", required=True, help=f"One of {', '.join(ROLES)}.")
@click.option("--name", default="", help="Display name.")
@click.option("--team", default=None, help="Team (supervisors see their team's records).")
@click.option("--department", default=None, help="A department of the tenant's tenant.yaml.")
@click.option("--extension", default=None, help="Phone extension, for calls and screen pop.")
def user_create(tenant_slug: str, email: str, password: str, role: str, name: str,
                team: str | None, department: str | None, extension: str | None) -> None:
    """Create a user in a tenant."""
    _check_user_input(email, password, role)
    settings = _settings()
    _store(settings).get(tenant_slug)  # a clear "no tenant" before loading the web app
    create_app, create_user = _web()
    app = _app(settings, create_app)
    user_id = create_user(app, tenant_slug, email, password, role, name=name, team=team,
                          department=department, extension=extension)
    click.echo(f"created user {user_id}: {email.lower()} ({role}) in {tenant_slug}")


# -- serve and worker -------------------------------------------------------------------
@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--threads", default=32, show_default=True, type=click.IntRange(1, 1024))
@click.option("--demo", is_flag=True,
              help="Create the data dir, schema and a demo tenant with sample data first.")
def serve(host: str, port: int, threads: int, demo: bool) -> None:
    """Run the web application."""
    settings = _settings()
    create_app, create_user = _web()
    try:
        from callboard.web.serve import run
    except ImportError as e:
        raise click.ClickException(
            f"the web server is not available ({_one_line(str(e))})") from None
    logins: list[tuple[str, str, str]] = []
    if demo:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = _engine(settings)
        _upgrade(engine)
        app = create_app(settings)
        logins = _demo(settings, engine, app, create_user)
        engine.dispose()  # the app has its own pools; this one is done
    else:
        app = create_app(settings)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    click.echo(f"Callboard on http://{shown}:{port}/ (data in {settings.data_dir})")
    for email, role, password in logins:
        click.echo(f"  {role:<10} {email}  password: {password}")
    run(app, host, port, threads=threads)


def _demo(settings: Settings, engine: Engine, app: Any, create_user: Any,
          ) -> list[tuple[str, str, str]]:
    """The demo tenant from ./config, its users and sample data (each only if missing)."""
    from callboard.engine.access import system_actor
    from callboard.engine.demo import seed_demo
    from callboard.engine.errors import NotFound
    from callboard.engine.tenancy import TenantStore

    store = TenantStore(engine)
    try:
        demo = store.get(DEMO_SLUG)
    except NotFound:
        if not Path("config", "tenant.yaml").is_file():
            raise click.ClickException(
                "no ./config/tenant.yaml here: run `callboard serve --demo` in the folder "
                "that holds the config bundle (the Callboard checkout)") from None
        demo = store.create(DEMO_SLUG, None, _read_bundle("config"))
        click.echo(f"created tenant {DEMO_SLUG} from ./config")
    password = _demo_password(settings.data_dir)
    owners: dict[str, int] = {}
    for email, role, name, team, department, extension in DEMO_USERS:
        existing = store.members(demo.id, email=email)
        if existing:
            user_id = existing[0]["user_id"]
        else:
            user_id = create_user(app, DEMO_SLUG, email, password, role, name=name,
                                  team=team, department=department, extension=extension)
        owners[role] = user_id
    demo = store.get(DEMO_SLUG)
    from callboard.workflows.hooks import records_service

    result = seed_demo(engine, demo, system_actor(demo.id),
                       owners=[owners["agent"], owners["supervisor"]],
                       service=records_service(engine, demo))
    if not result["skipped"]:
        made = ", ".join(f"{n} {entity}" for entity, n in result["created"].items())
        click.echo(f"sample data: {made}")
        for message in result["failed"]:
            click.echo(f"  not created: {message}", err=True)
    return [(email, role, password) for email, role, *_ in DEMO_USERS]


def _demo_password(data_dir: Path) -> str:
    """One random password for the demo users, kept in the data dir across restarts."""
    path = data_dir / "demo_password"
    if path.exists():
        return path.read_text().strip()
    password = secrets.token_urlsafe(9)
    path.write_text(password)
    path.chmod(0o600)
    return password


@main.command()
@click.option("--queue", "queues", multiple=True, default=("default",), show_default=True,
              help="RQ queue to work on (repeatable).")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
def worker(queues: tuple[str, ...], burst: bool) -> None:
    """Run an RQ worker for background jobs (needs CALLBOARD_REDIS_URL)."""
    settings = _settings()
    if not settings.redis_url:
        raise click.ClickException(
            "CALLBOARD_REDIS_URL is not set: without Redis, jobs run inline in the web "
            "process and no worker is needed")
    try:
        from redis import Redis
        from rq import Worker
    except ImportError as e:
        raise click.ClickException(
            f"the worker needs the rq package ({_one_line(str(e))}): pip install rq") from None
    connection = Redis.from_url(settings.redis_url)
    try:
        connection.ping()
    except Exception as e:  # any connection failure is a setting
        raise click.ClickException(
            f"cannot reach Redis at CALLBOARD_REDIS_URL: {_one_line(str(e))}") from None
    Worker(list(queues), connection=connection).work(burst=burst)


# --- telephony commands (ivr simulate) ---
@main.group()
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


@main.group()
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


# --- search commands (search reindex) ---

@main.group()
def search() -> None:
    """Full-text search indexes (knowledge base and records)."""


@search.command("reindex")
@click.argument("slug")
def search_reindex(slug: str) -> None:
    """Rebuild the search index of tenant SLUG from its records."""
    import time

    from callboard.search.reindex import reindex_tenant

    settings = _settings()
    engine = _engine(settings)
    tenant = _store(settings).get(slug)
    started = time.monotonic()
    result = reindex_tenant(engine, tenant, settings.data_dir)
    click.echo(f"reindexed {result['indexed']} records of tenant {slug} "
               f"in {time.monotonic() - started:.1f}s")



# --- import and export commands (import, export, template, bulk delete) ---


def _tenant(settings: Settings, slug: str) -> Any:
    return _store(settings).get(slug)


def _run_job(settings: Settings, tenant_id: int, kind: str, params: dict[str, Any]) -> dict:
    """Record a job and run it here (the command waits for it); its finished row."""
    from callboard.jobs.runner import create_job, get_job, run

    engine = _engine(settings)
    job_id = create_job(engine, tenant_id, None, kind, params)
    run(engine, settings.data_dir, job_id)
    job = get_job(engine, tenant_id, job_id)
    if job["status"] == "failed":
        raise click.ClickException(f"{job['error']} (job {job_id})")
    return job


def _input_file(path: str) -> Path:
    from callboard.io.sheets import check_file

    file = Path(path).resolve()
    if not file.is_file():
        raise click.ClickException(f"{path}: no such file")
    check_file(file, file.name)
    return file


@main.command("import")
@click.argument("slug")
@click.argument("entity")
@click.argument("file")
@click.option("--mode", type=click.Choice(["insert", "upsert"]), default="insert",
              show_default=True, help="upsert: update the record the key matches.")
@click.option("--key", default=None, help="Field an upsert matches on (default: the "
              "entity's first unique field, such as phone).")
@click.option("--dry-run", is_flag=True, help="Check every row, write nothing.")
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1, 50000),
              help="Rows per committed batch.")
def import_(slug: str, entity: str, file: str, mode: str, key: str | None, dry_run: bool,
            batch_size: int) -> None:
    """Import an .xlsx or .csv file into ENTITY of tenant SLUG."""
    settings = _settings()
    tenant = _tenant(settings, slug)
    path = _input_file(file)
    from callboard.engine.access import Actor
    from callboard.engine.bulk import BulkWriter
    from callboard.workflows.hooks import records_service

    BulkWriter(records_service(_engine(settings), tenant), Actor(tenant.id, None, "owner"),
               entity, mode=mode, key=key)  # unknown entity, mode or key: say so now
    job = _run_job(settings, tenant.id, "import", {
        "entity": entity, "path": str(path), "name": path.name, "mode": mode, "key": key,
        "dry_run": dry_run, "batch_size": batch_size})
    r = job["result"]
    verb = "would create" if dry_run else "created"
    click.echo(f"{verb} {r['created']}, updated {r['updated']}, unchanged {r['unchanged']}, "
               f"failed {r['failed']} of {r['rows']} rows (job {job['id']})")
    if r.get("ignored_columns"):
        click.echo(f"ignored columns: {', '.join(r['ignored_columns'])}", err=True)
    if r.get("errors_file"):
        from callboard.jobs.runner import job_folder

        where = job_folder(settings.data_dir, tenant.id, job["id"]) / r["errors_file"]
        click.echo(f"rejected rows, with an error column: {where}")


@main.command("export")
@click.argument("slug")
@click.argument("entity")
@click.argument("file")
@click.option("--filter", "filters", multiple=True, metavar="FIELD__OP=VALUE",
              help="Only matching records (repeatable), as in the API's list filters.")
@click.option("--locale", default=None, help="Language of the headers and labels.")
def export(slug: str, entity: str, file: str, filters: tuple[str, ...],
           locale: str | None) -> None:
    """Export the records of ENTITY to FILE (.xlsx, or .csv by its extension)."""
    settings = _settings()
    tenant = _tenant(settings, slug)
    pairs = []
    for item in filters:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.ClickException(f"--filter '{item}': use FIELD__OP=VALUE")
        pairs.append((name.strip(), value))
    from callboard.engine.access import Actor
    from callboard.engine.queries import filterable_fields, parse_query
    from callboard.io.exporter import export_records
    from callboard.workflows.hooks import records_service

    svc = records_service(_engine(settings), tenant)
    query = parse_query(pairs, filterable_fields(tenant.model, svc.entity(entity)))
    result = export_records(svc, Actor(tenant.id, None, "owner"), entity, Path(file),
                            query=query, locale=locale)
    click.echo(f"exported {result['rows']} {entity} records to {file}")


@main.command("template")
@click.argument("slug")
@click.argument("entity")
@click.argument("file")
@click.option("--locale", default=None, help="Language of the labels (default: the "
              "tenant's).")
def template(slug: str, entity: str, file: str, locale: str | None) -> None:
    """Write the import template of ENTITY to FILE (.xlsx)."""
    settings = _settings()
    tenant = _tenant(settings, slug)
    if not file.lower().endswith(".xlsx"):
        raise click.ClickException(f"{file}: the template is an .xlsx file")
    from callboard.engine.errors import NotFound
    from callboard.io.template import write_template

    ent = tenant.model.entities.get(entity)
    if ent is None:
        raise NotFound(f"no entity '{entity}' in {slug}")
    write_template(tenant.model, ent, Path(file), locale=locale)
    click.echo(f"wrote the {entity} import template to {file}")


@main.command("bulk-delete")
@click.argument("slug")
@click.argument("entity")
@click.argument("file")
def bulk_delete(slug: str, entity: str, file: str) -> None:
    """Delete the ENTITY records whose phone, e-mail or lookup value is in FILE."""
    settings = _settings()
    tenant = _tenant(settings, slug)
    path = _input_file(file)
    job = _run_job(settings, tenant.id, "bulk_delete",
                   {"entity": entity, "path": str(path), "name": path.name})
    r = job["result"]
    click.echo(f"deleted {r['deleted']}, not found {r['not_found']} of {r['values']} "
               f"values (job {job['id']})")


@main.group("jobs")
def jobs_group() -> None:
    """Background jobs: show, resume an interrupted import, revert an import."""


def _job_row(settings: Settings, job_id: int) -> dict:
    from sqlalchemy import select

    from callboard.engine.errors import NotFound
    from callboard.engine.tables import jobs
    from callboard.jobs.runner import job_dict

    with _engine(settings).connect() as conn:
        row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
    if row is None:
        raise NotFound(f"no job {job_id}")
    return job_dict(row)


@jobs_group.command("show")
@click.argument("job_id", type=int)
def jobs_show(job_id: int) -> None:
    """Status, progress and result of a job."""
    import json

    click.echo(json.dumps(_job_row(_settings(), job_id), ensure_ascii=False, indent=2))


@jobs_group.command("resume")
@click.argument("job_id", type=int)
def jobs_resume(job_id: int) -> None:
    """Run an interrupted or failed job again here (an import skips the rows it did)."""
    from dataclasses import replace

    from callboard.jobs.runner import get_job, resume

    settings = _settings()
    job = _job_row(settings, job_id)
    resume(replace(settings, redis_url=None), job["tenant_id"], job_id,
           engine=_engine(settings))
    job = get_job(_engine(settings), job["tenant_id"], job_id)
    if job["status"] == "failed":
        raise click.ClickException(f"{job['error']} (job {job_id})")
    click.echo(f"job {job_id} {job['status']}: {job['result']}")


@jobs_group.command("revert")
@click.argument("job_id", type=int)
def jobs_revert(job_id: int) -> None:
    """Undo an import: remove what it created, restore what it updated."""
    job = _job_row(_settings(), job_id)
    if job["kind"] != "import":
        raise click.ClickException(f"job {job_id} is not an import")
    done = _run_job(_settings(), job["tenant_id"], "revert", {"job": job_id})
    r = done["result"]
    click.echo(f"removed {r['removed']}, restored {r['restored']}, skipped {r['skipped']} "
               f"(job {done['id']})")
