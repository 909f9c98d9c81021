"""Files attached to records: stored under `<data dir>/attachments`, listed and read by
whoever may see the record, their text extracted and indexed with the record."""
from __future__ import annotations

import os
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path, PurePath
from typing import Any, BinaryIO

from sqlalchemy import delete, insert, select

from callboard.engine.access import Actor
from callboard.engine.errors import Forbidden, NotFound, ServiceError, ValidationFailed
from callboard.engine.records import RecordService
from callboard.engine.tables import attachments

from .extract import Unreadable, extract_text
from .indexing import INDEXED, SearchIndexer

MAX_BYTES = 10 * 2**20   # default size limit of one attachment
_CHUNK = 64 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class TooLarge(ServiceError):
    status = 413


def _clean_name(filename: str | None) -> str:
    name = PurePath((filename or "").replace("\\", "/")).name
    name = _CONTROL.sub("", name).strip()
    return name[-255:] if name else ""


def _out(row: Any) -> dict[str, Any]:
    return {"id": row.id, "entity": row.entity, "record": row.record_id,
            "filename": row.filename, "content_type": row.content_type, "size": row.size,
            "text_length": len(row.text or ""), "created_by": row.created_by,
            "created_at": row.created_at.isoformat() if row.created_at else None}


def _may_change(actor: Actor, record: dict[str, Any]) -> None:
    """A knowledge-base article is changed by its author or a supervisor and above;
    any other record by whoever may see it (as for its fields)."""
    if record["entity"] == "kb_article" and not actor.manages and \
            record.get("owner") != actor.user_id:
        raise Forbidden("only the article's author or a supervisor may change its files")


def add_attachment(indexer: SearchIndexer, svc: RecordService, actor: Actor, entity: str,
                   record_id: Any, filename: str | None, content_type: str | None,
                   stream: BinaryIO, max_bytes: int = MAX_BYTES) -> dict[str, Any]:
    """Store an uploaded file on a record the actor may see and index its text."""
    record = svc.get(actor, entity, record_id)
    _may_change(actor, record)
    name = _clean_name(filename)
    if not name:
        raise ValidationFailed({"file": ["required: a file with a name"]})
    data = bytearray()
    while chunk := stream.read(_CHUNK):
        data.extend(chunk)
        if len(data) > max_bytes:
            raise TooLarge(f"file: larger than the limit of {max_bytes} bytes")
    try:
        text = extract_text(name, bytes(data))
    except Unreadable as e:
        raise ValidationFailed({"file": [str(e)]}) from None
    key = f"{svc.tenant.id}/{record['id']}/{uuid.uuid4().hex}{PurePath(name).suffix.lower()[:16]}"
    path = indexer.data_dir / "attachments" / key
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_bytes(bytes(data))
    os.replace(tmp, path)
    row = {"tenant_id": svc.tenant.id, "entity": entity, "record_id": record["id"],
           "filename": name, "content_type": (content_type or "")[:128] or None,
           "size": len(data), "storage_key": key, "text": text or None,
           "created_at": datetime.now(UTC), "created_by": actor.user_id}
    try:
        with svc.engine.begin() as conn:
            aid = conn.execute(insert(attachments).values(**row)
                               .returning(attachments.c.id)).scalar_one()
    except Exception:
        path.unlink(missing_ok=True)
        raise
    if entity in INDEXED:
        indexer.touch(svc.tenant.id, [(entity, record["id"])])
    return _out(_Row(id=aid, **row))


class _Row:
    def __init__(self, **kw: Any):
        self.__dict__.update(kw)


def list_attachments(svc: RecordService, actor: Actor, entity: str,
                     record_id: Any) -> list[dict[str, Any]]:
    record = svc.get(actor, entity, record_id)
    with svc.engine.connect() as conn:
        rows = conn.execute(select(attachments).where(
            attachments.c.tenant_id == svc.tenant.id,
            attachments.c.record_id == record["id"]).order_by(attachments.c.id)).all()
    return [_out(r) for r in rows]


def _find(svc: RecordService, record: dict[str, Any], attachment_id: Any) -> Any:
    try:
        aid = int(attachment_id)
        if not 0 < aid < 2**63:
            raise ValueError
    except (TypeError, ValueError):
        raise NotFound(f"no attachment {attachment_id}") from None
    with svc.engine.connect() as conn:
        row = conn.execute(select(attachments).where(
            attachments.c.id == aid, attachments.c.tenant_id == svc.tenant.id,
            attachments.c.record_id == record["id"])).first()
    if row is None:
        raise NotFound(f"no attachment {attachment_id}")
    return row


def attachment_file(indexer: SearchIndexer, svc: RecordService, actor: Actor, entity: str,
                    record_id: Any, attachment_id: Any) -> tuple[Path, dict[str, Any]]:
    """The stored file of an attachment of a record the actor may see, and its facts."""
    record = svc.get(actor, entity, record_id)
    row = _find(svc, record, attachment_id)
    path = indexer.data_dir / "attachments" / row.storage_key
    if not path.is_file():
        raise NotFound(f"the file of attachment {attachment_id} is missing")
    return path, _out(row)


def delete_attachment(indexer: SearchIndexer, svc: RecordService, actor: Actor, entity: str,
                      record_id: Any, attachment_id: Any) -> None:
    record = svc.get(actor, entity, record_id)
    _may_change(actor, record)
    row = _find(svc, record, attachment_id)
    if not actor.manages and row.created_by != actor.user_id:
        raise Forbidden("only who attached the file or a supervisor may remove it")
    with svc.engine.begin() as conn:
        conn.execute(delete(attachments).where(attachments.c.id == row.id))
    (indexer.data_dir / "attachments" / row.storage_key).unlink(missing_ok=True)
    if entity in INDEXED:
        indexer.touch(svc.tenant.id, [(entity, record["id"])])
