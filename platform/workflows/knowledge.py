"""Knowledge-base rules that run inside the record service's transaction: an article's
HTML body is sanitised (nh3) before it is stored, and a category cannot become its own
ancestor."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import nh3
from sqlalchemy import Connection, select

from callboard.engine.access import Actor
from callboard.engine.errors import ValidationFailed
from callboard.engine.model import Entity
from callboard.engine.records import RecordService
from callboard.engine.tables import records

# Formatting an article needs; scripts, styles, event handlers and iframes are dropped.
TAGS = {"a", "abbr", "b", "blockquote", "br", "code", "div", "em", "h1", "h2", "h3", "h4",
        "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "s", "span", "strong", "sub",
        "sup", "table", "tbody", "td", "th", "thead", "tr", "u", "ul"}
ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title", "width", "height"},
              "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"}}


def sanitize_html(markup: str) -> str:
    """`markup` with only safe tags and attributes left (links get rel="noopener…")."""
    return nh3.clean(markup, tags=TAGS, attributes=ATTRIBUTES,
                     url_schemes={"http", "https", "mailto", "tel"})


class KnowledgeHook:
    """Sanitised article bodies; a category tree without cycles."""

    def before_save(self, svc: RecordService, tx: Connection, actor: Actor, entity: Entity,
                    data: dict[str, Any], before: Mapping[str, Any]) -> None:
        if entity.name == "kb_article" and isinstance(data.get("body"), str) \
                and data.get("body") != before.get("body"):
            data["body"] = sanitize_html(data["body"])

    def after_save(self, svc: RecordService, tx: Connection, actor: Actor, entity: Entity,
                   record: dict[str, Any], before: Mapping[str, Any] | None) -> None:
        """A category moved under one of its own descendants is refused (rolled back)."""
        if entity.name != "kb_category" or before is None or record.get("parent") is None \
                or record.get("parent") == before.get("parent"):
            return
        rows = tx.execute(select(records.c.id, records.c.data).where(
            records.c.tenant_id == svc.tenant.id, records.c.entity == "kb_category",
            records.c.deleted_at.is_(None))).all()
        parents = {r.id: (r.data or {}).get("parent") for r in rows}
        seen, node = set(), record["parent"]
        while node is not None and node not in seen:
            if node == record["id"]:
                raise ValidationFailed({"parent": ["a category cannot be inside itself"]})
            seen.add(node)
            node = parents.get(node)
