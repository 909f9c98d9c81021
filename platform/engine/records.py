"""The record service: the one door through which every record is read and written.

Validation from the runtime model, ownership and visibility (`access.scope`), the key and
link side tables, the activity log and the optimistic lock all happen here, in one
transaction per call. Listeners (search indexing, screen pop…) hear of a change after it
has been committed.
"""
from __future__ import annotations

import string
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property, lru_cache
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from . import expressions as ex
from .access import Actor, can_delete, scope
from .errors import Conflict, Forbidden, NotFound, ValidationFailed
from .fields import BUILTIN_TYPES
from .model import Entity, Field, TenantModel, fields_where
from .phones import normalize_phone
from .queries import COLUMNS, ConditionBuilder, Page, Query, filterable_fields, iso
from .tables import activity, members, record_keys, record_links, records
from .tenancy import Tenant
from .values import Context, DefaultCoercer, Invalid, coerce, format_datetime, key_values

RESERVED = {"id", "entity", "version", "owner", "created_at", "updated_at", "created_by",
            "updated_by", "title"}


@dataclass(frozen=True)
class Change:
    """What a committed write did, for listeners."""

    tenant_id: int
    entity: str
    id: int
    action: str                     # create, update, delete, claim, transition…
    record: dict[str, Any] | None   # after (None when deleted)
    before: dict[str, Any] | None


class RecordHook(Protocol):
    """Platform behaviour that runs inside a write's transaction (SLA, call links…).

    `before_save` may change `data` (the validated fields about to be stored) or raise
    ValidationFailed; `after_save` sees the stored record and may write others on `tx`.
    `before` is the previous data ({} on create) / the previous record (None on create).
    """

    def before_save(self, svc: RecordService, tx: Connection, actor: Actor, entity: Entity,
                    data: dict[str, Any], before: Mapping[str, Any]) -> None: ...

    def after_save(self, svc: RecordService, tx: Connection, actor: Actor, entity: Entity,
                   record: dict[str, Any], before: Mapping[str, Any] | None) -> None: ...


_ALL = Query()
_PENDING = "callboard_changes"  # changes of writes on a caller's transaction, not yet told
_listeners: list[Callable[[Change], None]] = []
_ON_ENGINE = "_callboard_listeners"  # listeners of one engine, kept on the engine itself so
                                     # that they go when it goes (no registry keeps it alive)


def _engine_listeners(engine: Engine) -> list[Callable[[Change], None]]:
    found = getattr(engine, _ON_ENGINE, None)
    if found is None:
        found = []
        setattr(engine, _ON_ENGINE, found)
    return found


def on_change(listener: Callable[[Change], None], *, engine: Engine | None = None
              ) -> Callable[[Change], None]:
    """Register `listener` to hear every committed change (usable as a decorator); with
    `engine`, only the changes written through services on that engine. A listener with a
    `hear_all(changes)` method gets the changes of one transaction in one call instead; one
    with a `within(tx, changes)` method is also called inside the write's transaction,
    before it commits."""
    if engine is None:
        _listeners.append(listener)
    elif listener not in _engine_listeners(engine):
        _engine_listeners(engine).append(listener)
    return listener


def _now() -> datetime:
    return datetime.now(UTC)


class RecordService:
    """Records of one tenant, on behalf of actors of that tenant."""

    def __init__(self, engine: Engine, tenant: Tenant, *, hooks: Sequence[RecordHook] = (),
                 listeners: Sequence[Callable[[Change], None]] = ()):
        self.engine = engine
        self.tenant = tenant
        self.model: TenantModel = tenant.model
        self.dialect = engine.dialect.name
        self.hooks = tuple(hooks)
        self.listeners = tuple(listeners)
        self._default = DefaultCoercer()  # coerce() of field defaults, remembered

    # -- metadata helpers --------------------------------------------------------------
    def entity(self, name: str) -> Entity:
        entity = self.model.entities.get(name)
        if entity is None:
            raise NotFound(f"no entity '{name}'")
        return entity

    def _entity_for(self, actor: Actor, name: str) -> Entity:
        """The entity, for an actor of this tenant: another tenant's user finds nothing."""
        if actor.tenant_id != self.tenant.id:
            raise NotFound(f"no {name} here")
        return self.entity(name)

    def fields_for(self, entity: Entity, data: Mapping[str, Any]) -> Mapping[str, Field]:
        """The fields a record has (read-only, shared): a ticket's depend on its type."""
        if entity.name == "ticket":
            return self.model.ticket_field_map(data.get("type"))
        return entity.field_map

    @cached_property
    def _users(self) -> dict[str, int]:
        """Members of this tenant by id, e-mail and extension, for user fields."""
        out: dict[str, int] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(select(members.c.user_id, members.c.email,
                                           members.c.extension).where(
                    members.c.tenant_id == self.tenant.id)):
                out[str(row.user_id)] = row.user_id
                out[row.email.lower()] = row.user_id
                if row.extension:
                    out.setdefault(f"ext:{row.extension}", row.user_id)
        return out

    def resolve_user(self, value: Any, actor: Actor | None = None) -> int | None:
        """A user of this tenant from its id, e-mail or extension ("me": the actor)."""
        if value == "me" and actor is not None:
            return actor.user_id
        key = str(value).strip().lower()
        return self._users.get(key) or self._users.get(f"ext:{key}")

    def context(self, actor: Actor | None = None) -> Context:
        s = self.model.settings
        return Context(s.phone_region, s.timezone,
                       strict_phones=not (actor and actor.is_system),
                       resolve_user=lambda v: self.resolve_user(v, actor))

    # -- reads -------------------------------------------------------------------------
    def get(self, actor: Actor, entity: str, record_id: Any) -> dict[str, Any]:
        """One record the actor may see; NotFound otherwise (also for other tenants)."""
        self._entity_for(actor, entity)
        with self.engine.connect() as conn:
            return self._out(self._row(conn, actor, entity, record_id))

    def _row(self, conn: Connection, actor: Actor, entity: str, record_id: Any,
             *, lock: bool = False) -> Any:
        try:
            rid = int(record_id)
            if not 0 < rid < 2**63:  # the databases' id range: no such record
                raise ValueError
        except (TypeError, ValueError):
            raise NotFound(f"no {entity} {record_id}") from None
        q = select(records).where(scope(actor, entity), records.c.id == rid)
        if lock and self.dialect == "postgresql":
            q = q.with_for_update()
        row = conn.execute(q).first()
        if row is None:
            raise NotFound(f"no {entity} {record_id}")
        return row

    def list(self, actor: Actor, entity: str, query: Query = _ALL,
             extra: Iterable[Any] = ()) -> Page:
        """Records the actor may see, filtered, searched, sorted and paged."""
        ent = self._entity_for(actor, entity)
        builder = ConditionBuilder(self.dialect, filterable_fields(self.model, ent),
                                   self.context(actor))
        where = and_(scope(actor, entity), *builder.conditions(query), *extra)
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(records).where(where)
                                 ).scalar_one()
            rows = conn.execute(select(records).where(where)
                                .order_by(*builder.order_by(query.sort))
                                .limit(query.per_page)
                                .offset((query.page - 1) * query.per_page)).all()
        return Page([self._out(r) for r in rows], total, query.page, query.per_page)

    def related(self, actor: Actor, entity: str, record_id: Any, other: str,
                query: Query = _ALL) -> Page:
        """Records of `other` that link to this record (and that the actor may see)."""
        record = self.get(actor, entity, record_id)
        self.entity(other)
        linked = exists().where(record_links.c.from_id == records.c.id,
                                record_links.c.to_entity == entity,
                                record_links.c.to_id == record["id"])
        return self.list(actor, other, query, extra=[linked])

    def activity(self, actor: Actor, entity: str, record_id: Any) -> list[dict[str, Any]]:
        """The change log of a record the actor may see, newest first."""
        record = self.get(actor, entity, record_id)
        with self.engine.connect() as conn:
            rows = conn.execute(select(activity).where(
                activity.c.tenant_id == self.tenant.id, activity.c.record_id == record["id"])
                .order_by(activity.c.id.desc())).all()
        return [{"id": r.id, "action": r.action, "actor": r.actor_id, "at": iso(r.at),
                 "changes": r.changes or {}, "comment": r.comment} for r in rows]

    def find_by_key(self, actor: Actor, value: str, entities: Iterable[str] | None = None,
                    ) -> list[dict[str, Any]]:
        """Records whose phone, e-mail or lookup field holds `value` (normalised)."""
        if actor.tenant_id != self.tenant.id:
            return []
        text = str(value).strip()
        wanted = {text, text.lower()}  # keys as stored: e-mails and text lower-cased
        number = normalize_phone(text, self.model.settings.phone_region, strict=False)
        if number:
            wanted.add(number)
        q = select(records).join(record_keys, record_keys.c.record_id == records.c.id).where(
            scope(actor, None), record_keys.c.tenant_id == self.tenant.id,
            record_keys.c.value.in_(sorted(wanted)))
        if entities is not None:
            q = q.where(records.c.entity.in_(list(entities)))
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(records.c.id)).all()
        seen, out = set(), []
        for r in rows:
            if r.id not in seen:
                seen.add(r.id)
                out.append(self._out(r))
        return out

    # -- writes ------------------------------------------------------------------------
    def create(self, actor: Actor, entity: str, values: Mapping[str, Any], *,
               conn: Connection | None = None) -> dict[str, Any]:
        """A new record; ValidationFailed with every field's problems."""
        ent = self._entity_for(actor, entity)
        if not isinstance(values, Mapping):
            raise ValidationFailed({"_": ["expected a JSON object of fields"]})
        changes = []
        with self._tx(conn) as tx:
            if conn is None:
                tx.info.pop(_PENDING, None)
            data, owner = self._validate(tx, actor, ent, {}, values, creating=True)
            for hook in self.hooks:
                hook.before_save(self, tx, actor, ent, data, {})
            now = _now()
            row = {"tenant_id": self.tenant.id, "entity": entity, "owner_id": owner,
                   "data": data, "title": self._title(ent, data), "version": 1,
                   "status": _status(data), "priority": _priority(data),
                   "created_at": now, "updated_at": now, "created_by": actor.user_id,
                   "updated_by": actor.user_id}
            rid = tx.execute(insert(records).values(**row).returning(records.c.id)).scalar_one()
            self._index(tx, rid, ent, data, {})
            self._log(tx, rid, entity, "create", actor, {k: [None, v] for k, v in data.items()})
            record = self._out_dict(rid, row)
            changes.append(Change(self.tenant.id, entity, rid, "create", record, None))
            for hook in self.hooks:
                hook.after_save(self, tx, actor, ent, record, None)
            if conn is None:  # what hooks wrote on our transaction is ours to announce
                changes.extend(tx.info.pop(_PENDING, []))
            if entity == "customer" and self.model.settings.auto_opportunity:
                opp = self._auto_opportunity(tx, actor, record)
                if opp:
                    changes.append(opp)
            if conn is None:
                self._within(tx, changes)
        self._publish(changes, conn)
        return record

    def update(self, actor: Actor, entity: str, record_id: Any, values: Mapping[str, Any], *,
               version: int | None = None, action: str = "update", comment: str | None = None,
               allow: Iterable[str] = (), conn: Connection | None = None) -> dict[str, Any]:
        """Change some fields; `version` (when given) must match or Conflict (409)."""
        ent = self._entity_for(actor, entity)
        if not isinstance(values, Mapping):
            raise ValidationFailed({"_": ["expected a JSON object of fields"]})
        with self._tx(conn) as tx:
            if conn is None:
                tx.info.pop(_PENDING, None)
            row = self._row(tx, actor, entity, record_id, lock=True)
            if version is not None and _version(version) != row.version:
                raise Conflict(f"the record changed (version {row.version}, you sent "
                               f"{version}); reload it and try again")
            before = dict(row.data)
            data, owner = self._validate(tx, actor, ent, before, values, creating=False,
                                         current_owner=row.owner_id, allow=set(allow))
            for hook in self.hooks:
                hook.before_save(self, tx, actor, ent, data, before)
            diff = {k: [before.get(k), data.get(k)] for k in set(before) | set(data)
                    if before.get(k) != data.get(k)}
            if owner != row.owner_id:
                diff["owner"] = [row.owner_id, owner]
            if not diff and not comment:
                return self._out(row)
            now = _now()
            newv = {"data": data, "title": self._title(ent, data), "owner_id": owner,
                    "status": _status(data), "priority": _priority(data),
                    "version": row.version + 1, "updated_at": now, "updated_by": actor.user_id}
            done = tx.execute(update(records).where(records.c.id == row.id,
                                                    records.c.version == row.version)
                              .values(**newv))
            if done.rowcount != 1:
                raise Conflict("the record changed meanwhile; reload it and try again")
            self._index(tx, row.id, ent, data, before)
            self._log(tx, row.id, entity, action, actor, diff, comment)
            record = self._out_dict(row.id, {**row._mapping, **newv})
            changes = [Change(self.tenant.id, entity, row.id, action, record, self._out(row))]
            for hook in self.hooks:
                hook.after_save(self, tx, actor, ent, record, self._out(row))
            if conn is None:
                changes.extend(tx.info.pop(_PENDING, []))
                self._within(tx, changes)
        self._publish(changes, conn)
        return record

    def delete(self, actor: Actor, entity: str, record_id: Any) -> None:
        """Soft delete: the record leaves every list; its keys are freed."""
        self._entity_for(actor, entity)
        with self.engine.begin() as tx:
            row = self._row(tx, actor, entity, record_id, lock=True)
            if not can_delete(actor, row.owner_id):
                raise Forbidden("only its owner or a supervisor may delete this record")
            tx.execute(update(records).where(records.c.id == row.id).values(
                deleted_at=_now(), version=row.version + 1, updated_by=actor.user_id))
            tx.execute(delete(record_keys).where(record_keys.c.record_id == row.id))
            self._log(tx, row.id, entity, "delete", actor, {})
            changes = [Change(self.tenant.id, entity, row.id, "delete", None, self._out(row))]
            self._within(tx, changes)
        self._publish(changes, None)

    def claim(self, actor: Actor, entity: str, record_id: Any) -> dict[str, Any]:
        """Take an unowned record as its owner (409 when someone owns it already)."""
        self._entity_for(actor, entity)
        if actor.user_id is None:
            raise Forbidden("only a user can claim a record")
        with self.engine.begin() as tx:
            row = self._row(tx, actor, entity, record_id, lock=True)
            if row.owner_id is not None:
                raise Conflict("the record already has an owner")
            done = tx.execute(update(records).where(
                records.c.id == row.id, records.c.owner_id.is_(None),
                records.c.version == row.version).values(
                owner_id=actor.user_id, version=row.version + 1, updated_at=_now(),
                updated_by=actor.user_id))
            if done.rowcount != 1:
                raise Conflict("someone else claimed it first")
            self._log(tx, row.id, entity, "claim", actor, {"owner": [None, actor.user_id]})
            fresh = tx.execute(select(records).where(records.c.id == row.id)).first()
            record = self._out(fresh)
            changes = [Change(self.tenant.id, entity, row.id, "claim", record, self._out(row))]
            self._within(tx, changes)
        self._publish(changes, None)
        return record

    # -- validation --------------------------------------------------------------------
    def _validate(self, tx: Connection, actor: Actor, ent: Entity, before: Mapping[str, Any],
                  values: Mapping[str, Any], *, creating: bool,
                  current_owner: int | None = None, allow: set[str] = frozenset(),
                  deferred: bool = False, ctx: Context | None = None
                  ) -> tuple[dict[str, Any], int | None]:
        """The data to store and its owner; ValidationFailed with every problem.

        `deferred`: leave the link and uniqueness checks (one query per row) to the caller,
        which makes them for a whole batch at once (engine/bulk.py), which also passes the
        actor's `ctx` once for all its rows."""
        ctx = ctx or self.context(actor)
        errors: dict[str, list[str]] = {}
        data = dict(before)
        incoming = {k: v for k, v in values.items()  # `title` may be a field (task, kb…)
                    if k not in RESERVED or k in ent.field_map}
        if "type" in incoming and ent.name == "ticket":
            data["type"] = incoming["type"]
        fields = self.fields_for(ent, data)  # data holds the incoming type already
        workflow = ent.workflow if ent.name != "ticket" else None
        for key, raw in incoming.items():
            field = fields.get(key)
            if field is None:
                errors.setdefault(key, []).append("unknown field")
                continue
            if key == "status" and (workflow or ent.name == "ticket") and key not in allow \
                    and not actor.is_system:
                errors.setdefault(key, []).append(
                    "changes only through a workflow transition")
                continue
            if field.readonly and not actor.is_system and key not in allow:
                errors.setdefault(key, []).append("is read-only")
                continue
            try:
                data[key] = coerce(field, raw, ctx)
            except Invalid as e:
                errors.setdefault(key, []).append(str(e))
        if ent.name == "ticket" and data.get("type") and "type" not in errors and \
                creating is False and before.get("type") != data.get("type"):
            for key in list(data):  # a new type: fields of the old one no longer apply
                if key not in fields:
                    data.pop(key)
            tt = self.model.ticket_types.get(data["type"])
            if tt is not None:  # ... its own fields start from their defaults
                self._field_defaults(tt.field_map, data, actor, ctx, errors)
                if data.get("status") not in tt.workflow.states:
                    data["status"] = tt.workflow.initial  # a state its workflow can leave
        if creating:
            self._defaults(ent, fields, data, actor, ctx, errors)
        self._rules(ent, fields, data, errors)
        if not deferred:
            ok = {k: v for k, v in fields.items() if k not in errors}
            self._check_links(tx, actor, ok, data, errors)
            self._check_unique(tx, ent, ok, data, errors, before)
        owner = self._owner(actor, values, creating, current_owner, errors)
        if errors:
            raise ValidationFailed(errors)
        return {k: v for k, v in data.items() if v not in (None, [], "")}, owner

    def _defaults(self, ent: Entity, fields: Mapping[str, Field], data: dict[str, Any],
                  actor: Actor, ctx: Context, errors: dict[str, list[str]]) -> None:
        workflow = self.model.workflow_for(ent.name, data.get("type"))
        if workflow is not None:
            data["status"] = workflow.initial
        if ent.name == "ticket" and data.get("type"):
            tt = self.model.ticket_types.get(data["type"])
            if tt and tt.department and not data.get("department"):
                data["department"] = tt.department
        self._field_defaults(fields, data, actor, ctx, errors)

    def _field_defaults(self, fields: Mapping[str, Field], data: dict[str, Any], actor: Actor,
                        ctx: Context, errors: dict[str, list[str]]) -> None:
        for field in fields_where(fields, "default"):
            if data.get(field.name) in (None, [], ""):
                default = field.default
                if field.type == "user" and default == "me":
                    default = actor.user_id
                try:
                    data[field.name] = self._default(field, default, ctx)
                except Invalid as e:
                    errors.setdefault(field.name, []).append(f"default: {e}")

    def _rules(self, ent: Entity, fields: Mapping[str, Field], data: dict[str, Any],
               errors: dict[str, list[str]]) -> None:
        """required, visible_if and required_if, evaluated on the server."""
        values: dict[str, Any] | None = None
        for field in fields_where(fields, "rules"):  # the others are never missing
            if field.name in errors:
                continue
            empty = data.get(field.name) in (None, "", [])
            if not empty:  # a filled field is never missing (expressions have no effects)
                continue
            if values is None:
                values = dict(data)
            needed = (field.required and (field.visible_if is None or bool(
                ex.evaluate(field.visible_if, values)))) or (
                field.required_if is not None and bool(ex.evaluate(field.required_if, values)))
            if needed and empty:
                errors.setdefault(field.name, []).append("required")
        if ent.name == "ticket" and data.get("type") not in self.model.ticket_types \
                and "type" not in errors:
            errors.setdefault("type", []).append(
                    f"must be one of {', '.join(self.model.ticket_types) or '(none defined)'}")

    def _check_links(self, tx: Connection, actor: Actor, fields: Mapping[str, Field],
                     data: dict[str, Any], errors: dict[str, list[str]]) -> None:
        """Link fields must point at live records of the right entity that the actor may
        see: a record one cannot see does not exist for one, not even as a link target."""
        wanted: dict[int, tuple[str, str]] = {}
        for field in fields.values():
            if field.type != "link" or data.get(field.name) is None:
                continue
            for value in _as_list(data[field.name]):
                target = value["entity"] if isinstance(value, dict) else field.entity
                rid = value["id"] if isinstance(value, dict) else value
                if target not in self.model.entities:
                    errors.setdefault(field.name, []).append(f"no entity '{target}'")
                    continue
                wanted[rid] = (target, field.name)
        if not wanted:
            return
        found = {r.id: r.entity for r in tx.execute(select(records.c.id, records.c.entity).where(
            scope(actor, None), records.c.id.in_(list(wanted))))}
        for rid, (target, name) in wanted.items():
            if found.get(rid) != target:
                errors.setdefault(name, []).append(f"no {target} {rid}")

    def _check_unique(self, tx: Connection, ent: Entity, fields: Mapping[str, Field],
                      data: dict[str, Any], errors: dict[str, list[str]],
                      before: Mapping[str, Any]) -> None:
        for field in fields.values():
            if not field.unique or data.get(field.name) in (None, ""):
                continue
            if before.get(field.name) == data.get(field.name) and before:
                continue
            for value in key_values(field, data[field.name]):
                taken = tx.execute(select(record_keys.c.record_id).where(
                    record_keys.c.tenant_id == self.tenant.id,
                    record_keys.c.entity == ent.name, record_keys.c.field == field.name,
                    record_keys.c.value == value, record_keys.c.is_unique)).first()
                if taken:
                    errors.setdefault(field.name, []).append(
                        f"'{value}' is already used by {ent.name} {taken.record_id}")

    def _owner(self, actor: Actor, values: Mapping[str, Any], creating: bool,
               current: int | None, errors: dict[str, list[str]]) -> int | None:
        if "owner" not in values:
            if creating:
                return actor.user_id if actor.role == "agent" else None
            return current
        if actor.role == "agent":
            if creating or values["owner"] != current:
                if creating and values["owner"] in (actor.user_id, "me", actor.email):
                    return actor.user_id
                if not creating and values["owner"] in (None, "") and current == actor.user_id:
                    return None  # an agent may give a record back to the pool
                errors.setdefault("owner", []).append(
                    "an agent's records are its own; use claim to take an unowned one")
            return actor.user_id if creating else current
        if values["owner"] in (None, ""):
            return None
        owner = self.resolve_user(values["owner"], actor)
        if owner is None:
            errors.setdefault("owner", []).append(f"no user '{values['owner']}' in this tenant")
        return owner

    # -- storage helpers ---------------------------------------------------------------
    def _title(self, ent: Entity, data: Mapping[str, Any]) -> str:
        parts = _title_parts(ent.title)
        if parts is not None:  # plain `{field}` places: filled without a Formatter
            title = "".join(text if name is None else _shown(data.get(name, _BLANK))
                            for text, name in parts)
            return " ".join(title.split())[:500]
        shown = _Blank({k: (", ".join(map(str, v)) if isinstance(v, list) else v)
                        for k, v in data.items()})
        try:
            title = string.Formatter().vformat(ent.title, (), shown)
        except (ValueError, IndexError, KeyError, AttributeError):
            title = ""
        return " ".join(title.split())[:500]

    def _index(self, tx: Connection, rid: int, ent: Entity, data: Mapping[str, Any],
               before: Mapping[str, Any]) -> None:
        """Rewrite the record's key and link rows when their fields changed."""
        fields = self.fields_for(ent, data)
        old_fields = self.fields_for(ent, before) if before else {}
        keyed = [f for f in fields.values() if f.is_key]
        linked = [f for f in fields.values() if f.type in ("link", "user")]
        def changed(fs: list[Field]) -> bool:
            names = {f.name for f in fs} | {f.name for f in old_fields.values()
                                            if f.is_key or f.type in ("link", "user")}
            return not before or any(before.get(n) != data.get(n) for n in names)
        if changed(keyed):
            tx.execute(delete(record_keys).where(record_keys.c.record_id == rid))
            rows = [{"tenant_id": self.tenant.id, "entity": ent.name, "field": f.name,
                     "value": v[:320], "record_id": rid, "is_unique": f.unique}
                    for f in keyed for v in key_values(f, data.get(f.name))]
            if rows:
                try:
                    tx.execute(insert(record_keys), rows)
                except IntegrityError:
                    raise ValidationFailed({f.name: ["is already used by another record"]
                                            for f in keyed if f.unique}) from None
        if changed(linked):
            tx.execute(delete(record_links).where(record_links.c.from_id == rid))
            rows = []
            for f in linked:
                for v in _as_list(data.get(f.name)):
                    target, to_id = ("user", v) if f.type == "user" else (
                        (v["entity"], v["id"]) if isinstance(v, dict) else (f.entity, v))
                    rows.append({"tenant_id": self.tenant.id, "from_id": rid,
                                 "from_entity": ent.name, "field": f.name,
                                 "to_entity": target, "to_id": to_id})
            if rows:
                tx.execute(insert(record_links), rows)

    def _log(self, tx: Connection, rid: int, entity: str, action: str, actor: Actor,
             changes: Mapping[str, Any], comment: str | None = None) -> None:
        tx.execute(insert(activity).values(
            tenant_id=self.tenant.id, record_id=rid, entity=entity, action=action,
            actor_id=actor.user_id, at=_now(), changes=dict(changes), comment=comment))

    def _auto_opportunity(self, tx: Connection, actor: Actor,
                          customer: Mapping[str, Any]) -> Change | None:
        if "opportunity" not in self.model.entities:
            return None
        from .access import system_actor

        values = {"name": customer["title"] or f"customer {customer['id']}",
                  "customer": customer["id"]}
        opp = self.create(system_actor(self.tenant.id), "opportunity",
                          {**values, "owner": customer["owner"]}, conn=tx)
        return Change(self.tenant.id, "opportunity", opp["id"], "create", opp, None)

    def _tx(self, conn: Connection | None) -> Any:
        if conn is not None:
            return _Nested(conn)
        return self.engine.begin()

    def _publish(self, changes: list[Change], conn: Connection | None) -> None:
        if conn is not None:
            pending = conn.info.setdefault(_PENDING, [])
            pending.extend(changes)
            return
        listeners = self._listening()
        for change in changes:
            for listener in listeners:
                if hasattr(listener, "hear_all"):
                    continue
                try:
                    listener(change)
                except Exception:  # a listener must never undo a committed write
                    import logging

                    logging.getLogger(__name__).exception("change listener failed")
        for listener in listeners:  # those that take a transaction's changes at once
            if changes and hasattr(listener, "hear_all"):
                try:
                    listener.hear_all(changes)
                except Exception:
                    import logging

                    logging.getLogger(__name__).exception("change listener failed")

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction for several writes (pass it as `conn=`); listeners hear of
        the changes once it has committed."""
        with self.engine.begin() as tx:
            tx.info.pop(_PENDING, None)  # the pooled connection may hold a failed write's
            try:
                yield tx
            except BaseException:
                tx.info.pop(_PENDING, None)  # rolled back: nothing happened to announce
                raise
            pending = tx.info.pop(_PENDING, [])
            self._within(tx, pending)
        self._publish(pending, None)

    def _listening(self) -> list[Callable[[Change], None]]:
        return [*self.listeners, *_listeners, *getattr(self.engine, _ON_ENGINE, ())]

    def _within(self, tx: Connection, changes: list[Change]) -> None:
        """The part of listeners that belongs in the write's own transaction (a
        `within(tx, changes)` method, e.g. the search indexer's notes): it commits, or
        rolls back, with the write, so a process that dies right after the commit loses
        nothing that listeners would have done after it."""
        if not changes:
            return
        for listener in self._listening():
            within = getattr(listener, "within", None)
            if within is not None:
                within(tx, changes)

    # -- output ------------------------------------------------------------------------
    def _out(self, row: Any) -> dict[str, Any]:
        return self._out_dict(row.id, row._mapping)

    def _out_dict(self, rid: int, row: Mapping[str, Any]) -> dict[str, Any]:
        return {**row["data"], "id": rid, "entity": row["entity"], "title": row["title"],
                "version": row["version"], "owner": row["owner_id"],
                "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"]),
                "created_by": row["created_by"], "updated_by": row["updated_by"]}


_BLANK = object()  # a field the record does not have: shown as nothing


@lru_cache(maxsize=256)
def _title_parts(template: str) -> tuple[tuple[str | None, str | None], ...] | None:
    """A title template as (text, None) and (None, field) parts, when every place in it
    is a plain `{field}` (no format spec, conversion, index or attribute); else None."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return None
    parts: list[tuple[str | None, str | None]] = []
    for text, name, spec, conversion in parsed:
        if text:
            parts.append((text, None))
        if name is None:
            continue
        if spec or conversion or not name.isidentifier():
            return None
        parts.append((None, name))
    return tuple(parts)


def _shown(value: Any) -> str:
    """A value in a title, as `format` would show it (a list as a comma list)."""
    if value is _BLANK:
        return ""
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return value if isinstance(value, str) else format(value)


class _Blank(dict):
    """A title's fields: a missing one reads as empty."""

    def __missing__(self, key: str) -> str:
        return ""


class _Nested:
    """Use a caller's connection as if it were a transaction of our own."""

    def __init__(self, conn: Connection):
        self.conn = conn

    def __enter__(self) -> Connection:
        return self.conn

    def __exit__(self, *exc: object) -> None:
        return None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _version(value: Any) -> int:
    try:
        if isinstance(value, bool):
            raise ValueError
        return int(value)
    except (TypeError, ValueError):
        raise ValidationFailed({"version": ["must be a whole number"]}) from None


def _status(data: Mapping[str, Any]) -> str | None:
    value = data.get("status")
    return str(value)[:64] if value is not None else None


def _priority(data: Mapping[str, Any]) -> int | None:
    value = data.get("priority")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


__all__ = [
    "BUILTIN_TYPES",
    "COLUMNS",
    "Change",
    "RecordService",
    "format_datetime",
    "on_change",
    "or_",
]
