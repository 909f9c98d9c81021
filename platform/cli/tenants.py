"""Commands for bundles, the schema, tenants and users: check, db, tenant, user."""
from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from callboard.cli.common import (
    _app,
    _engine,
    _fail_bundle,
    _one_line,
    _read_bundle,
    _settings,
    _store,
    _upgrade,
    _web,
)
from callboard.engine.bundle import BundleSource, check_bundle
from callboard.engine.model import ROLES
from callboard.engine.problems import BundleError

if TYPE_CHECKING:
    from sqlalchemy import Engine

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


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


@click.command()
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
@click.group()
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


# -- tenant -----------------------------------------------------------------------------
@click.group()
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
@click.group()
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
