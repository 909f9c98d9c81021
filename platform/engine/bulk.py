"""Batched writes and streamed reads of records: imports, exports and bulk deletes.

Every row is validated by the record service's own `_validate` (one validation for the API
and for files). What costs one query per row there, uniqueness and link targets, is checked
here for the whole batch with one query per field, including collisions between rows of
the same batch. Records, keys, links and activity are then written with executemany inside
the caller's transaction, and listeners hear the changes once it commits
(`RecordService.transaction`).
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    Connection,
    String,
    Table,
    and_,
    any_,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from .access import Actor, scope
from .errors import ValidationFailed
from .model import Entity, Field, Label, fields_where
from .phones import normalize_phone
from .queries import ConditionBuilder, Query, filterable_fields, iso
from .records import Change, RecordService, _priority, _status
from .tables import activity, record_keys, record_links, records
from .values import Invalid, coerce, key_values

MODES = ("insert", "upsert")
CHUNK = 500  # values per IN (...) list
_ALL = Query()


@dataclass
class RowOutcome:
    """What became of one input row."""

    row_no: int
    action: str = "create"           # create, update, unchanged, failed
    record_id: int | None = None
    before: dict[str, Any] | None = None  # an updated record's data and owner before
    errors: dict[str, list[str]] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict, repr=False)
    owner: int | None = None
    version: int = 0
    title: str = ""
    keys: list[tuple[str, str, bool]] = field(default_factory=list, repr=False)
    data_json: str | None = field(default=None, repr=False)     # `data` as stored (JSON)
    created_json: str | None = field(default=None, repr=False)  # a creation's activity

    def fail(self, name: str, message: str) -> None:
        self.action = "failed"
        self.errors.setdefault(name, []).append(message)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickled as its values in order (a helper process sends thousands)."""
        return RowOutcome, tuple(vars(self).values())  # set by __init__ in field order

    def snapshot(self) -> tuple[Any, ...]:
        """What `BulkWriter.finish` changes, to put back when a batch is tried again."""
        return (self.action, self.record_id, self.version,
                {k: list(v) for k, v in self.errors.items()} if self.errors else {})

    def restore(self, state: tuple[Any, ...]) -> None:
        self.action, self.record_id, self.version, self.errors = state


class Dumped(str):
    """JSON text already serialised: stored as it is instead of being dumped again."""


def json_text(value: Any) -> str:
    """`value` as JSON text, by orjson (ten times the standard library's speed, and UTF-8
    text rather than escapes); what orjson refuses (integers beyond 64 bits, keys that are
    not text) goes to `json.dumps`, which stores it as before or refuses it too."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False)


def _now() -> datetime:
    return datetime.now(UTC)


def _in(column: Any, values: Sequence[Any], dialect: str) -> Any:
    """`column IN (values)`; on PostgreSQL `= ANY(array)`: one parameter instead of
    hundreds, which psycopg and the planner handle far faster (measured 40x here)."""
    if dialect == "postgresql":
        item = BigInteger() if values and isinstance(values[0], int) else String()
        return column == any_(bindparam(None, list(values), type_=ARRAY(item)))
    return column.in_(list(values))


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def key_fields(ent: Entity) -> list[str]:
    """Fields an upsert can match on: `id` and the entity's key fields, unique first."""
    keyed = [f for f in ent.fields if f.is_key and not f.multiple]
    return ["id", *[f.name for f in keyed if f.unique], *[f.name for f in keyed
                                                          if not f.unique]]


class BulkWriter:
    """Create (insert) or create-or-update (upsert on a key field) many records."""

    def __init__(self, svc: RecordService, actor: Actor, entity: str, *,
                 mode: str = "insert", key: str | None = None, remember: bool = False):
        """`remember`: keep the unique values of earlier batches, to report repeats across
        batches that are not committed (a dry run rolls each batch back)."""
        self.svc, self.actor = svc, actor
        self.claimed: dict[str, dict[str, int]] | None = {} if remember else None
        self.ent = svc._entity_for(actor, entity)
        if mode not in MODES:
            raise ValidationFailed({"mode": [f"'{mode}' is not one of {', '.join(MODES)}"]})
        keys = key_fields(self.ent)
        if mode == "upsert":
            key = key or (keys[1] if len(keys) > 1 else None)
            if key not in keys:
                raise ValidationFailed({"key": [
                    f"'{key}' cannot match records; use one of {', '.join(keys)}"
                    if key else f"{entity} has no key field to match records on"]})
        elif key is not None:
            raise ValidationFailed({"key": ["only an upsert matches on a key"]})
        self.mode, self.key = mode, key
        self.ctx = svc.context(actor)

    # -- the batch -----------------------------------------------------------------------
    def write(self, tx: Connection, rows: Sequence[tuple[int, Mapping[str, Any]]]
              ) -> list[RowOutcome]:
        """Validate and write `rows` ((row number, values)) on `tx`; one outcome each."""
        self.lock(tx)
        return self.finish(tx, self.prepare(tx, rows))

    def lock(self, tx: Connection) -> None:
        """The batch's first statement. On SQLite it takes the write lock before the first
        read (sqlite3 would begin the transaction only at the first write): the batch's
        checks and writes are then one transaction, and the ids `_insert_records` numbers
        are its own. Other writers wait for the batch (the busy timeout), which is short."""
        if self.svc.dialect == "sqlite":
            tx.execute(update(records).where(records.c.id == -1).values(version=1))

    def prepare(self, conn: Connection, rows: Sequence[tuple[int, Mapping[str, Any]]]
                ) -> list[RowOutcome]:
        """Each row validated by the record service, with its title and key values: all
        that does not depend on the other rows or on the table. `conn` serves an upsert's
        lookup of the records to update and the hooks; an insert reads nothing else, so
        its rows can be prepared apart from the transaction that writes them."""
        outs = [RowOutcome(n) for n, _ in rows]
        existing = self._match(conn, rows, outs) if self.mode == "upsert" else {}
        for out, (_, values) in zip(outs, rows, strict=True):
            if out.action == "failed":
                continue
            self._validate(conn, out, values, existing.get(out.row_no))
            if out.action in ("create", "update"):
                self._derive(out)
        return outs

    def finish(self, tx: Connection, outs: list[RowOutcome]) -> list[RowOutcome]:
        """The checks against the table and the other rows (uniqueness, link targets), then
        the writes, for prepared rows on `tx` (after `lock`)."""
        live = [o for o in outs if o.action in ("create", "update")]
        self._check_unique(tx, live)
        self._check_links(tx, [o for o in live if o.action != "failed"])
        self._store(tx, [o for o in live if o.action != "failed"])
        return outs

    def _derive(self, out: RowOutcome) -> None:
        """What the stored row holds beside the data: its title, key rows and JSON."""
        out.title = self.svc._title(self.ent, out.data)
        out.keys = [(f.name, v[:320], f.unique) for f in fields_where(self._fields(out), "key")
                    for v in key_values(f, out.data.get(f.name))]
        if out.action == "create":  # an update is written through SQLAlchemy, as a dict
            out.data_json = json_text(out.data)  # plain str: a subclass pickles far slower
            out.created_json = json_text({k: [None, v] for k, v in out.data.items()})

    def _match(self, tx: Connection, rows: Sequence[tuple[int, Mapping[str, Any]]],
               outs: list[RowOutcome]) -> dict[int, Any]:
        """Upsert: the visible record each row's key names (row number -> record row)."""
        key = self.key or ""
        wanted: dict[str, RowOutcome] = {}
        for out, (_, values) in zip(outs, rows, strict=True):
            raw = values.get(key)
            if raw in (None, ""):
                out.fail(key, "needed to find the record to update (upsert)")
                continue
            try:
                if key == "id":
                    value = str(coerce(_ID, raw, self.ctx))
                else:
                    f = self.ent.field_map[key]
                    value = (key_values(f, coerce(f, raw, self.ctx)) or [""])[0]
            except Invalid as e:
                out.fail(key, str(e))
                continue
            if value in wanted:
                out.fail(key, f"'{value}' repeats row {wanted[value].row_no} of this file")
                continue
            wanted[value] = out
        ids: dict[str, set[int]] = {}
        values = list(wanted)
        for part in _chunks(values):
            if key == "id":
                found = tx.execute(select(records.c.id).where(
                    records.c.tenant_id == self.svc.tenant.id, records.c.entity == self.ent.name,
                    records.c.deleted_at.is_(None),
                    _in(records.c.id, [int(v) for v in part], self.svc.dialect)))
                for r in found:
                    ids.setdefault(str(r.id), set()).add(r.id)
                continue
            for r in tx.execute(select(record_keys.c.value, record_keys.c.record_id).where(
                    record_keys.c.tenant_id == self.svc.tenant.id,
                    record_keys.c.entity == self.ent.name, record_keys.c.field == key,
                    _in(record_keys.c.value, part, self.svc.dialect))):
                ids.setdefault(r.value, set()).add(r.record_id)
        all_ids = sorted({i for s in ids.values() for i in s})
        visible: dict[int, Any] = {}
        for part in _chunks(all_ids):
            q = select(records).where(scope(self.actor, self.ent.name),
                                      _in(records.c.id, part, self.svc.dialect))
            if self.svc.dialect == "postgresql":
                q = q.with_for_update()
            visible.update({r.id: r for r in tx.execute(q)})
        out_rows: dict[int, Any] = {}
        for value, out in wanted.items():
            found = ids.get(value, set())
            if len(found) > 1:
                out.fail(key, f"'{value}' matches {len(found)} records; use a unique key")
            elif found:
                rid = next(iter(found))
                if rid in visible:
                    out_rows[out.row_no] = visible[rid]
                else:
                    out.fail(key, f"'{value}' belongs to a record you may not change")
            elif key == "id":
                out.fail(key, f"no {self.ent.name} {value}")
        return out_rows

    def _validate(self, tx: Connection, out: RowOutcome, values: Mapping[str, Any],
                  row: Any) -> None:
        svc, ent = self.svc, self.ent
        values = {k: v for k, v in values.items() if k != "id"}
        try:
            if row is None:
                data, owner = svc._validate(tx, self.actor, ent, {}, values, creating=True,
                                            deferred=True, ctx=self.ctx)
                before: Mapping[str, Any] = {}
            else:
                before = dict(row.data)
                data, owner = svc._validate(tx, self.actor, ent, before, values,
                                            creating=False, current_owner=row.owner_id,
                                            deferred=True, ctx=self.ctx)
            for hook in svc.hooks:
                hook.before_save(svc, tx, self.actor, ent, data, before)
        except ValidationFailed as e:
            out.action = "failed"
            out.errors = e.errors
            return
        out.data, out.owner = data, owner
        if row is not None:
            out.action, out.record_id, out.version = "update", row.id, row.version
            out.before = {"data": dict(row.data), "owner": row.owner_id}
            if dict(row.data) == data and row.owner_id == owner:
                out.action = "unchanged"

    def _fields(self, out: RowOutcome) -> Mapping[str, Field]:
        return self.svc.fields_for(self.ent, out.data)

    def _check_unique(self, tx: Connection, live: list[RowOutcome]) -> None:
        """Unique values: against the table and against the other rows of the batch."""
        by_field: dict[str, dict[str, RowOutcome]] = {}
        for out in live:
            prior = out.before["data"] if out.before else None
            for name, v, unique in out.keys:
                if out.action == "failed":
                    break
                if not unique or (prior is not None and prior.get(name) == out.data.get(name)):
                    continue
                claims = by_field.setdefault(name, {})
                if v in claims:
                    out.fail(name, f"'{v}' repeats row {claims[v].row_no} of this file")
                else:
                    claims[v] = out
        for name, claims in by_field.items():
            if self.claimed is not None:
                earlier = self.claimed.setdefault(name, {})
                for v, out in claims.items():
                    if v in earlier and out.action != "failed":
                        out.fail(name, f"'{v}' repeats row {earlier[v]} of this file")
                    else:
                        earlier.setdefault(v, out.row_no)
            for part in _chunks(list(claims)):
                for r in tx.execute(select(record_keys.c.value, record_keys.c.record_id).where(
                        record_keys.c.tenant_id == self.svc.tenant.id,
                        record_keys.c.entity == self.ent.name, record_keys.c.field == name,
                        record_keys.c.is_unique, _in(record_keys.c.value, part, self.svc.dialect))):
                    out = claims[r.value]
                    if r.record_id != out.record_id and out.action != "failed":
                        out.fail(name, f"'{r.value}' is already used by "
                                       f"{self.ent.name} {r.record_id}")

    def _check_links(self, tx: Connection, live: list[RowOutcome]) -> None:
        """Link targets must be live records of the right entity the actor may see."""
        wanted: list[tuple[RowOutcome, str, str, int]] = []
        for out in live:
            for f in self._fields(out).values():
                if f.type != "link" or out.data.get(f.name) is None:
                    continue
                for v in _as_list(out.data[f.name]):
                    target = v["entity"] if isinstance(v, dict) else f.entity
                    rid = v["id"] if isinstance(v, dict) else v
                    if target not in self.svc.model.entities:
                        out.fail(f.name, f"no entity '{target}'")
                    else:
                        wanted.append((out, f.name, target, rid))
        ids = sorted({w[3] for w in wanted})
        found: dict[int, str] = {}
        for part in _chunks(ids):
            found.update({r.id: r.entity for r in tx.execute(
                select(records.c.id, records.c.entity).where(
                    scope(self.actor, None), _in(records.c.id, part, self.svc.dialect)))})
        for out, name, target, rid in wanted:
            if found.get(rid) != target:
                out.fail(name, f"no {target} {rid}")

    def _insert_records(self, tx: Connection, params: list[dict[str, Any]]) -> list[int]:
        """Insert records; their ids in the order of `params`.

        SQLite would answer RETURNING one row at a time, so there the ids are given: the
        batch holds SQLite's write lock (taken in `write`), so no one else inserts until it
        commits, and it numbers on from the highest id. PostgreSQL draws them from the
        sequence and COPYs the rows."""
        if self.svc.dialect == "postgresql":
            ids = sorted(tx.execute(text(
                "SELECT nextval(pg_get_serial_sequence('records', 'id')) "
                "FROM generate_series(1, :n)"), {"n": len(params)}).scalars())
            insert_rows(tx, records, [{**p, "id": i} for p, i in zip(params, ids, strict=True)])
            return ids
        if self.svc.dialect != "sqlite":
            return list(tx.execute(insert(records).returning(
                records.c.id, sort_by_parameter_order=True), params).scalars())
        start = tx.execute(select(func.max(records.c.id))).scalar() or 0
        ids = list(range(start + 1, start + 1 + len(params)))
        for p, i in zip(params, ids, strict=True):
            p["id"] = i
        insert_rows(tx, records, params)
        return ids

    def _store(self, tx: Connection, live: list[RowOutcome]) -> None:
        svc, ent, actor = self.svc, self.ent, self.actor
        now = _now()
        creates = [o for o in live if o.action == "create"]
        updates = [o for o in live if o.action == "update"]
        rows: dict[int, dict[str, Any]] = {}
        if creates:
            params = [{"tenant_id": svc.tenant.id, "entity": ent.name, "owner_id": o.owner,
                       "data": Dumped(o.data_json) if o.data_json else o.data,
                       "title": o.title, "version": 1,
                       "status": _status(o.data), "priority": _priority(o.data),
                       "created_at": now, "updated_at": now, "created_by": actor.user_id,
                       "updated_by": actor.user_id} for o in creates]
            ids = self._insert_records(tx, params)
            for o, rid, p in zip(creates, ids, params, strict=True):
                o.record_id, o.version = rid, 1
                rows[rid] = p
        if updates:
            params = [{"b_id": o.record_id, "b_version": o.version, "data": o.data,
                       "title": o.title, "owner_id": o.owner,
                       "status": _status(o.data), "priority": _priority(o.data),
                       "version": o.version + 1, "updated_at": now,
                       "updated_by": actor.user_id} for o in updates]
            tx.execute(update(records).where(records.c.id == bindparam("b_id"),
                                             records.c.version == bindparam("b_version"))
                       .values({k: bindparam(k) for k in params[0] if not k.startswith("b_")}),
                       params)
            old = {r.id: r for part in _chunks([o.record_id for o in updates]) for r in
                   tx.execute(select(records.c.id, records.c.created_at, records.c.created_by)
                              .where(_in(records.c.id, part, svc.dialect)))}
            for o, p in zip(updates, params, strict=True):
                o.version += 1
                rows[o.record_id] = {**p, "entity": ent.name, "created_at":
                                     old[o.record_id].created_at,
                                     "created_by": old[o.record_id].created_by}
            for part in _chunks([o.record_id for o in updates]):
                d = svc.dialect
                tx.execute(delete(record_keys).where(_in(record_keys.c.record_id, part, d)))
                tx.execute(delete(record_links).where(_in(record_links.c.from_id, part, d)))
        written = creates + updates
        keys, links, log = [], [], []
        for o in written:
            keys.extend({"tenant_id": svc.tenant.id, "entity": ent.name, "field": name,
                         "value": v, "record_id": o.record_id, "is_unique": unique}
                        for name, v, unique in o.keys)
            for f in fields_where(self._fields(o), "link"):
                for v in _as_list(o.data.get(f.name)):
                    target, to_id = ("user", v) if f.type == "user" else (
                        (v["entity"], v["id"]) if isinstance(v, dict) else (f.entity, v))
                    links.append({"tenant_id": svc.tenant.id, "from_id": o.record_id,
                                  "from_entity": ent.name, "field": f.name,
                                  "to_entity": target, "to_id": to_id})
            before = o.before["data"] if o.before else {}
            diff: Any = {k: [before.get(k), o.data.get(k)] for k in set(before) | set(o.data)
                         if before.get(k) != o.data.get(k)} if before else \
                Dumped(o.created_json) if o.created_json else \
                {k: [None, v] for k, v in o.data.items()}  # as `RecordService.create` logs
            if o.before and o.before["owner"] != o.owner:
                diff["owner"] = [o.before["owner"], o.owner]
            log.append({"tenant_id": svc.tenant.id, "record_id": o.record_id,
                        "entity": ent.name, "action": o.action, "actor_id": actor.user_id,
                        "at": now, "changes": diff, "comment": "import"})
        insert_rows(tx, record_keys, keys)
        insert_rows(tx, record_links, links)
        insert_rows(tx, activity, log)
        changes: list[Change] = []
        stamp = iso(now)
        for o in written:
            row = rows[o.record_id]
            record = {**o.data, "id": o.record_id, "entity": ent.name, "title": o.title,
                      "version": o.version, "owner": o.owner, "created_at":
                      stamp if o.action == "create" else iso(row["created_at"]),
                      "updated_at": stamp, "created_by": row["created_by"],
                      "updated_by": actor.user_id}  # as `RecordService._out_dict` shows it
            prior = None
            if o.before:
                prior = {**record, **{k: None for k in record if k in o.data},
                         **o.before["data"], "owner": o.before["owner"]}
            for hook in svc.hooks:
                hook.after_save(svc, tx, actor, ent, record, prior)
            changes.append(Change(svc.tenant.id, ent.name, o.record_id, o.action, record,
                                  prior))
            if o.action == "create" and ent.name == "customer" \
                    and svc.model.settings.auto_opportunity:
                svc._auto_opportunity(tx, actor, record)  # announces itself on tx
        svc._publish(changes, tx)


def insert_rows(tx: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows (all with the keys of the first): COPY on PostgreSQL (five to ten
    times faster than batched INSERTs there), executemany elsewhere."""
    if not rows:
        return
    if tx.dialect.name == "sqlite":
        _executemany(tx, table, rows)
        return
    if tx.dialect.name != "postgresql":
        tx.execute(insert(table), rows)
        return
    names = list(rows[0])
    json_cols = {n for n in names if isinstance(table.c[n].type, JSON)}
    cursor = tx.connection.driver_connection.cursor()
    columns = ", ".join(f'"{n}"' for n in names)
    with cursor, cursor.copy(f"COPY {table.name} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([json_text(row[n])
                            if n in json_cols and row[n] is not None
                            and not isinstance(row[n], Dumped) else row[n] for n in names])


def _executemany(tx: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """One INSERT executed for every row by the DBAPI, the values passed through the
    columns' own bind processors (JSON, dates, booleans: stored exactly as `insert(table)`
    stores them) but without SQLAlchemy's per-row parameter handling (a third of a batch's
    time). Tables with Python-side column defaults take the ordinary path."""
    names = list(rows[0])
    if any(c.default is not None or c.onupdate is not None
           for c in table.c if c.name not in names):
        tx.execute(insert(table), rows)
        return
    dialect = tx.dialect
    procs = [table.c[n].type._cached_bind_processor(dialect) for n in names]
    quote = dialect.identifier_preparer.quote
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) "
           f"VALUES ({', '.join('?' for _ in names)})")
    get = itemgetter(*names) if len(names) > 1 else (lambda r: (r[names[0]],))
    converted = [(i, p) for i, p in enumerate(procs) if p is not None]
    if not converted:
        tx.exec_driver_sql(sql, [get(r) for r in rows])
        return
    # JSON already serialised passes as it is; a batch shares its timestamps, so a value
    # that is the one before it (the same object) is not converted again.
    converted = [(i, p, isinstance(table.c[names[i]].type, JSON)) for i, p in converted]
    last: dict[int, tuple[Any, Any]] = {}
    params = []
    for r in rows:
        values = list(get(r))
        for i, p, is_json in converted:
            v = values[i]
            if is_json and isinstance(v, Dumped):
                continue
            seen = last.get(i)
            if seen is not None and seen[0] is v:
                values[i] = seen[1]
            else:
                values[i] = p(v)
                last[i] = (v, values[i])
        params.append(tuple(values))
    tx.exec_driver_sql(sql, params)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


_ID = Field("id", "link", Label.of("ID"), entity="record")  # a record id, coerced as links are


def refresh_statistics(svc: RecordService) -> None:
    """PostgreSQL: re-sample the key table. A bulk load outgrows the planner's statistics
    within seconds, and with stale ones it filters every key of the tenant instead of
    looking the batch's values up (measured: 160 ms -> 5 ms per lookup). The records table
    is left to autovacuum: a batch reads records by id only, and re-sampling them (their
    expression statistics) took 1 s at 100k rows, three times an import (measured: a 100k
    import 1–3 s faster without)."""
    if svc.dialect != "postgresql":
        return
    with svc.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE record_keys")


# -- deletes ---------------------------------------------------------------------------------
def soft_delete(svc: RecordService, tx: Connection, actor: Actor, entity: str,
                ids: Sequence[int], *, comment: str | None = None) -> list[Change]:
    """Soft-delete records (ids the caller has already scoped) on `tx`, as `delete` does."""
    now = _now()
    changes: list[Change] = []
    for part in _chunks(list(ids)):
        rows = tx.execute(select(records).where(_in(records.c.id, part, svc.dialect),
                                                records.c.deleted_at.is_(None))).all()
        if not rows:
            continue
        live = [r.id for r in rows]
        tx.execute(update(records).where(_in(records.c.id, live, svc.dialect)).values(
            deleted_at=now, version=records.c.version + 1, updated_by=actor.user_id))
        tx.execute(delete(record_keys).where(_in(record_keys.c.record_id, live, svc.dialect)))
        insert_rows(tx, activity, [
            {"tenant_id": svc.tenant.id, "record_id": r.id, "entity": entity,
             "action": "delete", "actor_id": actor.user_id, "at": now, "changes": {},
             "comment": comment} for r in rows])
        changes.extend(Change(svc.tenant.id, entity, r.id, "delete", None, svc._out(r))
                       for r in rows)
    svc._publish(changes, tx)
    return changes


def match_keys(svc: RecordService, tx: Connection, actor: Actor, entity: str,
               values: Sequence[str]) -> dict[str, set[int]]:
    """Input value -> ids of the records (that `actor` sees) whose phone, e-mail or
    lookup field holds it, normalised as the keys are stored."""
    region = svc.model.settings.phone_region
    forms: dict[str, set[str]] = {}
    for value in values:
        text = str(value).strip()
        wanted = {text, text.lower()}
        number = normalize_phone(text, region)
        if number:
            wanted.add(number)
        for w in wanted:
            forms.setdefault(w, set()).add(value)
    out: dict[str, set[int]] = {v: set() for v in values}
    stored = list(forms)
    for part in _chunks(stored):
        q = select(record_keys.c.value, record_keys.c.record_id).join(
            records, records.c.id == record_keys.c.record_id).where(
            scope(actor, entity), record_keys.c.tenant_id == svc.tenant.id,
            record_keys.c.entity == entity, _in(record_keys.c.value, part, svc.dialect))
        for r in tx.execute(q):
            for value in forms.get(r.value, ()):
                out[value].add(r.record_id)
    return out


# -- reads -----------------------------------------------------------------------------------
def iter_records(svc: RecordService, actor: Actor, entity: str, query: Query = _ALL,
                 *, extra: Sequence[Any] = (), chunk: int = 2000
                 ) -> Iterator[dict[str, Any]]:
    """Every record the actor may see that matches `query`'s filters and `q` (and the SQL
    conditions `extra`, e.g. a ticket view's), by id, fetched `chunk` at a time (keyset
    paging: constant memory whatever the count)."""
    ent = svc._entity_for(actor, entity)
    builder = ConditionBuilder(svc.dialect, filterable_fields(svc.model, ent),
                               svc.context(actor))
    where = and_(scope(actor, entity), *builder.conditions(Query(query.filters, query.q)),
                 *extra)
    last = 0
    while True:
        with svc.engine.connect() as conn:
            rows = conn.execute(select(records).where(where, records.c.id > last)
                                .order_by(records.c.id).limit(chunk)).all()
        for r in rows:
            yield svc._out(r)
        if len(rows) < chunk:
            return
        last = rows[-1].id


def count_records(svc: RecordService, actor: Actor, entity: str, query: Query = _ALL,
                  *, extra: Sequence[Any] = ()) -> int:
    """How many records `iter_records` would yield."""
    return svc.list(actor, entity, Query(query.filters, query.q, per_page=1),
                    extra=extra).total


__all__ = ["BulkWriter", "RowOutcome", "count_records", "insert_rows", "iter_records",
           "key_fields", "match_keys", "refresh_statistics", "soft_delete"]
