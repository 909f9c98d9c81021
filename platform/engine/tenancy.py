"""Tenants, their versioned bundles and their members.

A tenant's bundle lives in the database as files (path -> YAML text), one row per version.
The tenant row carries the digest of the current version, so every process notices a new
version on its next request and compiles it once (`compile_bundle` caches by digest):
changes apply live, without a restart.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from .bundle import FOLDERS, BundleSource, compile_bundle
from .db import ensure_field_index
from .errors import Conflict, NotFound, ValidationFailed
from .model import TenantModel
from .problems import BundleError
from .tables import bundles, members, tenants
from .values import EMAIL

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
KINDS = {"tenant": "tenant.yaml", "entity": "entities", "ticket_type": "ticket_types",
         "ivr": "ivr"}
KIND_ALIASES = {"entities": "entity", "ticket_types": "ticket_type", "tenant": "tenant",
                "entity": "entity", "ticket_type": "ticket_type", "ivr": "ivr"}


@dataclass(frozen=True)
class Tenant:
    """A tenant with the compiled model of its current bundle."""

    id: int
    slug: str
    name: str
    version: int
    model: TenantModel


def _now() -> datetime:
    return datetime.now(UTC)


def file_path(kind: str, name: str) -> str:
    """The bundle path of a file kind and name: ("entity", "order") -> entities/order.yaml."""
    kind = KIND_ALIASES.get(kind, "")
    if not kind:
        raise NotFound(f"no such kind of bundle file (use {', '.join(KINDS)})")
    if kind == "tenant":
        return "tenant.yaml"
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name or ""):
        raise ValidationFailed({"name": ["use lower-case letters, digits and _"]})
    return f"{KINDS[kind]}/{name}.yaml"


class TenantStore:
    """Creates tenants and changes their bundles; every change is checked first."""

    def __init__(self, engine: Engine):
        self.engine = engine

    # -- reading ---------------------------------------------------------------------
    def get(self, key: int | str) -> Tenant:
        """The tenant by id or slug, with its current model (NotFound when missing)."""
        col = tenants.c.id if isinstance(key, int) else tenants.c.slug
        with self.engine.connect() as conn:
            row = conn.execute(select(tenants).where(col == key)).first()
            if row is None:
                raise NotFound(f"no tenant '{key}'")
            files = None
            model = _cached(row.bundle_digest)
            if model is None:
                files = conn.execute(select(bundles.c.files).where(
                    bundles.c.tenant_id == row.id,
                    bundles.c.version == row.bundle_version)).scalar_one()
        if model is None:
            model = compile_bundle(BundleSource(files))
        return Tenant(row.id, row.slug, row.name, row.bundle_version, model)

    def slugs(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(tenants.c.slug).order_by(tenants.c.id)).scalars())

    def files(self, tenant_id: int, version: int | None = None) -> dict[str, str]:
        """The bundle files of a version (the current one by default)."""
        with self.engine.connect() as conn:
            if version is None:
                version = conn.execute(select(tenants.c.bundle_version).where(
                    tenants.c.id == tenant_id)).scalar_one()
            files = conn.execute(select(bundles.c.files).where(
                bundles.c.tenant_id == tenant_id, bundles.c.version == version)).scalar()
        if files is None:
            raise NotFound(f"no bundle version {version}")
        return dict(files)

    def history(self, tenant_id: int) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(bundles.c.version, bundles.c.note, bundles.c.created_at,
                                       bundles.c.created_by).where(
                bundles.c.tenant_id == tenant_id).order_by(bundles.c.version.desc()))
            return [dict(r._mapping) for r in rows]

    # -- writing ---------------------------------------------------------------------
    def create(self, slug: str, name: str | None, source: BundleSource) -> Tenant:
        """A new tenant from a bundle (BundleError when it does not check)."""
        if not SLUG.match(slug):
            raise ValidationFailed({"slug": ["use 2-63 lower-case letters, digits and -"]})
        model = compile_bundle(source)
        with self.engine.begin() as conn:
            if conn.execute(select(tenants.c.id).where(tenants.c.slug == slug)).first():
                raise Conflict(f"tenant '{slug}' already exists")
            tenant_id = conn.execute(insert(tenants).values(
                slug=slug, name=name or model.settings.name, bundle_version=0,
                created_at=_now()).returning(tenants.c.id)).scalar_one()
            self._store(conn, tenant_id, source, "created", None)
        self.ensure_indexes(model)
        return self.get(tenant_id)

    def apply(self, tenant_id: int, source: BundleSource, *, note: str = "applied",
              user_id: int | None = None) -> Tenant:
        """Make `source` the tenant's current bundle (BundleError when it does not check)."""
        model = compile_bundle(source)
        with self.engine.begin() as conn:
            self._store(conn, tenant_id, source, note, user_id)
        self.ensure_indexes(model)
        return self.get(tenant_id)

    def put_file(self, tenant_id: int, path: str, text: str | None, *,
                 user_id: int | None = None) -> Tenant:
        """Replace (or with None, remove) one file; the whole bundle is checked first."""
        files = self.files(tenant_id)
        if text is None:
            if path not in files:
                raise NotFound(f"no file {path}")
            files.pop(path)
        else:
            files[path] = text
        return self.apply(tenant_id, BundleSource(files), note=f"changed {path}",
                          user_id=user_id)

    def _store(self, conn: Connection, tenant_id: int, source: BundleSource, note: str,
               user_id: int | None) -> None:
        current = conn.execute(select(func.max(bundles.c.version)).where(
            bundles.c.tenant_id == tenant_id)).scalar() or 0
        conn.execute(insert(bundles).values(
            tenant_id=tenant_id, version=current + 1, digest=source.digest,
            files=dict(source.files), note=note[:500], created_at=_now(), created_by=user_id))
        conn.execute(update(tenants).where(tenants.c.id == tenant_id).values(
            bundle_version=current + 1, bundle_digest=source.digest))

    def ensure_indexes(self, model: TenantModel) -> None:
        """Expression indexes for every `index: true` field of the model."""
        for entity in model.entities.values():
            for field in entity.fields:
                if field.index and field.type not in ("multiselect",) and not field.multiple:
                    ensure_field_index(self.engine, entity.name, field)
        for tt in model.ticket_types.values():
            for field in tt.fields:
                if field.index and field.type != "multiselect" and not field.multiple:
                    ensure_field_index(self.engine, "ticket", field)

    def export(self, tenant_id: int, folder: str | Path) -> list[Path]:
        """Write the current bundle as YAML files under `folder`."""
        root = Path(folder)
        written = []
        for rel, text in sorted(self.files(tenant_id).items()):
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
        return written

    # -- members ---------------------------------------------------------------------
    def add_member(self, tenant_id: int, user_id: int, email: str, role: str, *,
                   name: str = "", team: str | None = None, department: str | None = None,
                   extension: str | None = None) -> dict[str, Any]:
        from .access import ROLES

        errors: dict[str, list[str]] = {}
        if role not in ROLES:
            errors["role"] = [f"must be one of {', '.join(ROLES)}"]
        email = (email or "").strip()
        if not EMAIL.match(email):
            errors["email"] = [f"'{email}' is not an e-mail address"]
        model = self.get(tenant_id).model
        if department and department not in model.settings.departments:
            errors["department"] = [f"no department '{department}' in tenant.yaml "
                                    f"({', '.join(model.settings.departments)})"]
        if errors:
            raise ValidationFailed(errors)
        row = dict(user_id=user_id, tenant_id=tenant_id, email=email.lower(), name=name,
                   role=role, team=team, department=department, extension=extension,
                   active=True, created_at=_now())
        with self.engine.begin() as conn:
            taken = conn.execute(select(members.c.user_id, members.c.email).where(
                or_(members.c.user_id == user_id, members.c.email == row["email"]))).first()
            if taken is not None:
                what = "user" if taken.user_id == user_id else "e-mail"
                raise Conflict(f"that {what} is already a member of a tenant")
            try:
                conn.execute(insert(members).values(**row))
            except IntegrityError:
                raise Conflict("that user or e-mail is already a member of a tenant") from None
        return row

    def update_member(self, tenant_id: int, user_id: int, **changes: Any) -> dict[str, Any]:
        """Change a member of `tenant_id` (role, active, team, department, extension, name);
        NotFound when the user is no member of that tenant."""
        from .access import ROLES

        allowed = {"role", "active", "team", "department", "extension", "name"}
        changes = {k: v for k, v in changes.items() if k in allowed}
        errors: dict[str, list[str]] = {}
        if "role" in changes and changes["role"] not in ROLES:
            errors["role"] = [f"must be one of {', '.join(ROLES)}"]
        department = changes.get("department")
        if department and department not in self.get(tenant_id).model.settings.departments:
            errors["department"] = [f"no department '{department}' in tenant.yaml"]
        if errors:
            raise ValidationFailed(errors)
        with self.engine.begin() as conn:
            where = (members.c.user_id == user_id) & (members.c.tenant_id == tenant_id)
            if conn.execute(select(members.c.user_id).where(where)).first() is None:
                raise NotFound(f"no user {user_id} in this tenant")
            if changes:
                conn.execute(update(members).where(where).values(**changes))
            return dict(conn.execute(select(members).where(where)).one()._mapping)

    def member(self, user_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(members).where(members.c.user_id == user_id)).first()
        return dict(row._mapping) if row else None

    def members(self, tenant_id: int, **filters: Any) -> list[dict[str, Any]]:
        q = select(members).where(members.c.tenant_id == tenant_id)
        for key, value in filters.items():
            if value is not None:
                q = q.where(getattr(members.c, key) == value)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q.order_by(members.c.user_id))]


def _cached(digest: str | None) -> TenantModel | None:
    from .bundle import _cache, _cache_lock

    if digest is None:
        return None
    with _cache_lock:
        return _cache.get(digest)


__all__ = ["FOLDERS", "BundleError", "Tenant", "TenantStore", "file_path"]
