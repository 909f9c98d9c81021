"""Keeping the search indexes in step with the records, in every process.

Inside a write's transaction the `SearchIndexer` installed on that database engine
(`install()`, called by the web app and the command line alike) notes the record in
`search_pending` (the note commits with the record); once the write has committed, it
drains that table under the tenant's one index writer, reading each noted record as it
now is in the database (gone or deleted: its document is removed). A process that cannot
get the writer in time leaves its notes for the next writer or search, so no change is
lost and the last state always wins, whatever the order of the processes.

Within a bulk operation (`engine.deferral.deferring()`: an import, a bulk delete, the
revert of an import) each batch only notes its records; the notes are drained once at
the end, COMMIT_EVERY documents per index commit, instead of one index commit per batch.
A single write or a search takes on at most OPPORTUNISTIC notes of a backlog, newest
first, so it never pays for someone else's import.
"""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import phonenumbers
from sqlalchemy import Connection, Engine, delete, func, insert, select

from callboard.engine.access import scope, system_actor
from callboard.engine.db import own_engine
from callboard.engine.deferral import later
from callboard.engine.model import Field, TenantModel
from callboard.engine.records import Change, on_change
from callboard.engine.tables import attachments, records, search_pending
from callboard.engine.tenancy import Tenant, TenantStore

from .backend import Batch, Document, IndexBusy, SearchBackend, chunks
from .extract import html_text
from .whoosh_backend import WhooshBackend

log = logging.getLogger(__name__)

RECORD_ENTITIES = ("customer", "contact", "ticket")   # the global record search
KB_ENTITY = "kb_article"
INDEXED = (*RECORD_ENTITIES, KB_ENTITY)
WRITE_WAIT = 3.0    # seconds a writing process waits for the index writer (then leaves a note)
BULK_WAIT = 60.0    # the same at the end of a bulk operation (a job: it can wait longer)
BATCH = 500           # notes, and records, read at a time
COMMIT_EVERY = 10_000  # documents per index commit when a backlog is drained
OPPORTUNISTIC = 200    # notes of a backlog that one write or one search takes on
ALONGSIDE_FROM = 2_000  # documents in one index commit before a side process takes half
Progress = Callable[[int, int], None]


class SearchIndexer:
    """The search indexes of one data dir, fed from the records of one database."""

    def __init__(self, engine: Engine, data_dir: Path, backend: SearchBackend | None = None):
        self.engine = engine
        self.data_dir = Path(data_dir)
        self.backend = backend or WhooshBackend(self.data_dir / "search")
        self.store = TenantStore(engine)
        self._pid = os.getpid()

    # -- the listener ------------------------------------------------------------------
    def __call__(self, change: Change) -> None:
        """One change, told outside a record write's transaction: noted, then indexed."""
        if change.entity in INDEXED:
            self.touch(change.tenant_id, [(change.entity, change.id)])

    def within(self, tx: Connection, changes: Iterable[Change]) -> None:
        """Note the changed records in the write's own transaction: the notes commit with
        the records, so a process that dies just after the commit leaves them for the
        next drain (none lost)."""
        rows = [{"tenant_id": c.tenant_id, "entity": c.entity, "record_id": int(c.id)}
                for c in changes if c.entity in INDEXED]
        if rows:
            tx.execute(insert(search_pending), rows)

    def hear_all(self, changes: Iterable[Change]) -> None:
        """The changes of one committed transaction (noted by `within`): indexed now, or
        at the end of the bulk operation the writer is in."""
        by_tenant: dict[int, int] = {}
        for change in changes:
            if change.entity in INDEXED:
                by_tenant[change.tenant_id] = by_tenant.get(change.tenant_id, 0) + 1
        for tenant_id, n in by_tenant.items():
            self._follow(tenant_id, n)

    def touch(self, tenant_id: int, keys: Iterable[tuple[str, int]],
              wait: float = WRITE_WAIT) -> None:
        """Note that these records changed (outside a record write: an attachment's
        text…), then bring the index up to date: now, or at the end of the bulk
        operation the caller is in."""
        rows = [{"tenant_id": tenant_id, "entity": e, "record_id": int(i)} for e, i in keys]
        if rows:
            with self.engine.begin() as conn:
                conn.execute(insert(search_pending), rows)
        self._follow(tenant_id, len(rows), wait)

    def _follow(self, tenant_id: int, noted: int, wait: float = WRITE_WAIT) -> None:
        """Index what was just noted: at the end of the current bulk operation, or now
        (taking on at most OPPORTUNISTIC notes of someone else's backlog)."""
        if not later(("search", id(self), tenant_id),
                     lambda progress: self.drain(tenant_id, wait=max(wait, BULK_WAIT),
                                                 progress=progress), stage="indexing"):
            self.drain(tenant_id, wait=wait, limit=max(noted, OPPORTUNISTIC), newest=True)

    def pending(self, tenant_id: int) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(search_pending).where(
                search_pending.c.tenant_id == tenant_id)).scalar_one()

    def _noted(self, tenant_id: int, n: int, newest: bool = False) -> list[Any]:
        """The oldest (or newest) `n` noted changes of the tenant."""
        order = search_pending.c.id.desc() if newest else search_pending.c.id
        with self.engine.connect() as conn:
            return conn.execute(select(search_pending).where(
                search_pending.c.tenant_id == tenant_id).order_by(order).limit(n)).all()

    def drain(self, tenant_id: int, wait: float = WRITE_WAIT, *, limit: int | None = None,
              newest: bool = False, progress: Callable[[float], None] | None = None) -> bool:
        """Index the noted records of the tenant (at most `limit` notes, the newest first
        with `newest`); False when another writer kept the index longer than `wait`
        seconds (it, or the next writer, will do it). `progress`: the share of the notes
        found at the start that are indexed so far."""
        left = limit
        total = self.pending(tenant_id) if progress is not None else 0
        done = 0
        try:
            while left is None or left > 0:
                if not self._noted(tenant_id, 1):
                    return True
                with self.backend.writing(tenant_id, timeout=wait) as batch:
                    batch.bulk = left is None  # a bulk operation's follow-up, in a job
                    # read under the writer: another process may have drained meanwhile;
                    # twice as many when two processes write them
                    step = COMMIT_EVERY * (2 if batch.parallel else 1)
                    noted = self._noted(tenant_id, step if left is None
                                        else min(left, COMMIT_EVERY), newest)
                    if not noted:
                        return True
                    # every note is read before any record: each document is at least as
                    # new as the change that noted it
                    keys = list(dict.fromkeys((r.entity, r.record_id) for r in noted))
                    tenant = self.tenant(tenant_id)
                    # with two cores, each half written at the same time (a segment each)
                    halves = [keys[:len(keys) // 2], keys[len(keys) // 2:]] \
                        if len(keys) >= ALONGSIDE_FROM and batch.parallel else [keys]

                    def report(written: int, count: int = len(noted),
                               share: int = len(halves[0]), done: int = done) -> None:
                        # documents written: half a commit's share; the index commit: the rest
                        if progress is not None and total:
                            progress((done + count * written / share / 2) / total)

                    batch.split([partial(self._write_all, tenant=tenant, keys=list(half),
                                         report=report if n == 0 else None)
                                 for n, half in enumerate(halves)])
                    batch.on_commit(lambda ids=[r.id for r in noted]: self._done(ids))
                done += len(noted)
                if progress is not None and total:
                    progress(done / total)
                if left is not None:
                    left -= len(noted)
            return True
        except IndexBusy:
            return False

    def _done(self, ids: list[int]) -> None:
        """Forget notes once their documents are committed (still under the writer, so
        no other process reads them meanwhile)."""
        with self.engine.begin() as conn:
            for part in chunks(ids, 1000):
                conn.execute(delete(search_pending).where(search_pending.c.id.in_(part)))

    def _forget_until(self, tenant_id: int, mark: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(search_pending).where(
                search_pending.c.tenant_id == tenant_id, search_pending.c.id <= mark))

    # -- rebuilding --------------------------------------------------------------------
    def reindex(self, tenant: Tenant, progress: Progress | None = None) -> int:
        """Rebuild the tenant's index from its records; returns how many were indexed.
        Writes made meanwhile wait for the writer or are noted and drained at the end."""
        cond = scope(system_actor(tenant.id), None)
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(records).where(
                cond, records.c.entity.in_(INDEXED))).scalar_one()
            mark = conn.execute(select(func.max(search_pending.c.id)).where(
                search_pending.c.tenant_id == tenant.id)).scalar()
        counted = [0]

        def report(n: int) -> None:
            counted[0] = min(total, counted[0] + n)
            if progress is not None:
                progress(counted[0], total)

        with self.backend.writing(tenant.id, timeout=60.0) as batch:
            batch.clear()
            ranges: list[tuple[int, int | None]] = [(0, None)]
            if total >= ALONGSIDE_FROM and batch.parallel:  # two processes, half each
                with self.engine.connect() as conn:
                    mid = conn.execute(select(records.c.id).where(
                        cond, records.c.entity.in_(INDEXED)).order_by(records.c.id)
                        .offset(total // 2).limit(1)).scalar()
                if mid is not None:
                    ranges = [(0, mid), (mid - 1, None)]
            parts = len(ranges)  # the first part's progress stands for every part's

            def first(n: int) -> None:
                report(n * parts)

            batch.split([partial(self._rebuild_part, tenant=tenant, after=after,
                                 before=before, report=first if i == 0 else None)
                         for i, (after, before) in enumerate(ranges)])
            if mark is not None:  # notes older than the scan: their records were read
                batch.on_commit(lambda: self._forget_until(tenant.id, mark))
        indexed = self.backend.count(tenant.id)
        if progress is not None:
            progress(total, total)
        self.drain(tenant.id)
        return indexed

    def _rebuild_part(self, batch: Batch, *, tenant: Tenant, after: int,
                      before: int | None, report: Callable[[int], None] | None) -> None:
        """The documents of the tenant's records with after < id < before."""
        cond = scope(system_actor(tenant.id), None)
        with self._own_connections():
            last = after
            while True:
                q = select(*DOCUMENT_COLUMNS).where(
                    cond, records.c.entity.in_(INDEXED), records.c.id > last)
                if before is not None:
                    q = q.where(records.c.id < before)
                with self.engine.connect() as conn:
                    rows = conn.execute(q.order_by(records.c.id).limit(BATCH)).all()
                if not rows:
                    return
                texts = self._attachment_texts([r.id for r in rows], tenant.id)
                for row in rows:
                    batch.add(document(tenant.model, row, texts.get(row.id, "")))
                last = rows[-1].id
                if report is not None:
                    report(len(rows))

    # -- documents ---------------------------------------------------------------------
    def tenant(self, tenant_id: int) -> Tenant:
        """The tenant as it is now (its compiled model is cached by the store)."""
        return self.store.get(tenant_id)

    def _write(self, batch: Batch, tenant: Tenant, keys: list[tuple[str, int]]) -> None:
        ids = [i for _, i in keys]
        with self.engine.connect() as conn:
            rows = {r.id: r for r in conn.execute(select(*DOCUMENT_COLUMNS).where(
                scope(system_actor(tenant.id), None), records.c.id.in_(ids)))}
        texts = self._attachment_texts(list(rows), tenant.id)
        for entity, rid in keys:
            row = rows.get(rid)
            if row is None or row.entity != entity:
                batch.delete(entity, rid)
            else:
                batch.add(document(tenant.model, row, texts.get(rid, "")))

    def _write_all(self, batch: Batch, *, tenant: Tenant, keys: list[tuple[str, int]],
                   report: Callable[[int], None] | None = None) -> None:
        """`_write` in parts (`report`: documents written so far)."""
        with self._own_connections():
            written = 0
            for part in chunks(keys, BATCH):
                self._write(batch, tenant, list(part))
                written += len(part)
                if report is not None:
                    report(written)

    @contextmanager
    def _own_connections(self) -> Iterator[None]:
        """In a forked process (a part of a split batch), connections of its own, closed
        as a client should before it exits."""
        if os.getpid() == self._pid:
            yield
            return
        self._reconnect()
        try:
            yield
        finally:
            self.engine.dispose()

    def _reconnect(self) -> None:
        """A forked process's own engine: the inherited connections are the parent's
        (kept referenced, so never closed from here)."""
        self.engine = own_engine(self.engine)
        self.store = TenantStore(self.engine)
        self._pid = os.getpid()

    def _attachment_texts(self, ids: list[int], tenant_id: int) -> dict[int, str]:
        if not ids:
            return {}
        out: dict[int, list[str]] = {}
        with self.engine.connect() as conn:
            for r in conn.execute(select(attachments.c.record_id, attachments.c.text).where(
                    attachments.c.tenant_id == tenant_id, attachments.c.record_id.in_(ids))
                    .order_by(attachments.c.id)):
                if r.text:
                    out.setdefault(r.record_id, []).append(r.text)
        return {k: "\n".join(v) for k, v in out.items()}


DOCUMENT_COLUMNS = (records.c.id, records.c.entity, records.c.title, records.c.data)


def document(model: TenantModel, row: Any, attachment_text: str = "") -> Document:
    """The search document of a record row (at least its DOCUMENT_COLUMNS)."""
    data: Mapping[str, Any] = row.data or {}
    if row.entity == KB_ENTITY:
        return Document(row.entity, row.id, title=str(data.get("title") or row.title or ""),
                        keywords=str(data.get("keywords") or ""),
                        body=html_text(str(data.get("body") or "")),
                        attachments=attachment_text, category=_int(data.get("category")))
    fields = model.ticket_fields(data.get("type")) if row.entity == "ticket" else \
        model.entities[row.entity].fields if row.entity in model.entities else ()
    keys: list[str] = []
    body: list[str] = []
    region = model.settings.phone_region
    for field in fields:
        value = data.get(field.name)
        if value in (None, "", []):
            continue
        if field.type == "phone":
            keys.extend(_phone_forms(value, region))
        elif field.type == "email":
            keys.extend(str(v) for v in _as_list(value))
        elif field.search:
            body.append(_text(field, value))
    return Document(row.entity, row.id, title=row.title or "", keywords=" ".join(keys),
                    body="\n".join(b for b in body if b), attachments=attachment_text)


def _text(field: Field, value: Any) -> str:
    if field.type == "longtext" and isinstance(value, str) and "<" in value:
        return html_text(value)
    return " ".join(str(v) for v in _as_list(value) if not isinstance(v, dict))


def _phone_forms(value: Any, region: str) -> list[str]:
    """A stored E.164 number as it is typed: +84901234567 -> 84901234567 0901234567."""
    out = []
    for number in _as_list(value):
        text = str(number)
        out.append(text.lstrip("+"))
        national = _national_digits(text, region)
        if national:
            out.append(national)
    return out


_PREFIXES: dict[tuple[str, str, int, str], str | None] = {}


def _national_digits(text: str, region: str) -> str | None:
    """The digits of `text` (E.164) in the national format of `region`'s rules.

    Parsing and formatting cost ~50 µs a number; what the national format puts before the
    national number (a trunk prefix such as 0, or nothing) depends on the country code,
    the number's leading digits and its length, so it is worked out once per such pattern
    and reused (a bulk drain indexes hundreds of thousands of numbers)."""
    digits = text[1:] if text.startswith("+") else ""
    cc = next((digits[:n] for n in (1, 2, 3)
               if int(digits[:n] or 0) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE), None) \
        if digits.isdigit() else None
    if cc is None:
        return _format_national(text, region)
    nsn = digits[len(cc):]
    pattern = (cc, nsn[:5], len(nsn), region)
    if pattern not in _PREFIXES:
        if len(_PREFIXES) >= 100_000:  # bounded, whatever numbers come
            _PREFIXES.clear()
        national = _format_national(text, region)
        _PREFIXES[pattern] = national[:-len(nsn)] if national and nsn and \
            national.endswith(nsn) else None
        return national
    prefix = _PREFIXES[pattern]
    return prefix + nsn if prefix is not None else _format_national(text, region)


def _format_national(text: str, region: str) -> str | None:
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    return "".join(c for c in national if c.isdigit())


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


_install_lock = threading.Lock()
_ON_ENGINE = "_callboard_indexers"  # kept on the engine: they go when it goes


def install(engine: Engine, data_dir: Path) -> SearchIndexer:
    """The indexer of `data_dir` for writes through `engine`, listening from now on
    (once per engine and data dir). The web app, the command line and job workers call it
    so that every write is indexed, whichever process makes it."""
    path = Path(data_dir).resolve()
    with _install_lock:
        per_engine: dict[Path, SearchIndexer] | None = getattr(engine, _ON_ENGINE, None)
        if per_engine is None:
            per_engine = {}
            setattr(engine, _ON_ENGINE, per_engine)
        indexer = per_engine.get(path)
        if indexer is None:
            indexer = per_engine[path] = SearchIndexer(engine, path)
            on_change(indexer, engine=engine)
        return indexer
