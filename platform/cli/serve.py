"""Commands that run services: serve (optionally with a demo tenant) and worker."""
from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from callboard.cli.common import _engine, _one_line, _read_bundle, _settings, _upgrade, _web

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from callboard.engine.settings import Settings

DEMO_SLUG = "demo"
DEMO_USERS = (  # e-mail, role, name, team, department, extension
    ("admin@demo.callboard.test", "owner", "Quản trị viên", None, None, None),
    ("supervisor@demo.callboard.test", "supervisor", "Trần Thị Giám Sát", "care", "support",
     "100"),
    ("agent@demo.callboard.test", "agent", "Nguyễn Văn Tổng Đài", "care", "support", "101"),
)


@click.command()
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


@click.command()
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
