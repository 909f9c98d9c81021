"""Knowledge-base services: search, the category tree, views and the hot list,
favourites and feedback. Every read of articles goes through the record service or its
`scope`, so an agent never learns of an unpublished article, here or in a highlight."""
from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update

from callboard.engine.access import Actor, scope
from callboard.engine.errors import NotFound, ValidationFailed
from callboard.engine.phones import normalize_phone
from callboard.engine.queries import Query
from callboard.engine.records import RecordService
from callboard.engine.tables import kb_favorites, kb_feedback, kb_stats, records

from .indexing import KB_ENTITY, OPPORTUNISTIC, RECORD_ENTITIES, SearchIndexer

HALF_LIFE = 7 * 24 * 3600.0               # a view counts half as much a week later
_TAU = HALF_LIFE / math.log(2)
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
MAX_LIMIT = 100
_PHONE = re.compile(r"^\+?[0-9][0-9 ().\-]{5,}$")


def _now() -> datetime:
    return datetime.now(UTC)


def parse_limit(raw: Any, default: int = 20) -> int:
    """A `limit` query argument: a whole number from 1 to 100 (422 otherwise)."""
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = 0
    if not 1 <= value <= MAX_LIMIT:
        raise ValidationFailed({"limit": [f"must be a whole number from 1 to {MAX_LIMIT}"]})
    return value


def _visible(svc: RecordService, actor: Actor, titles: dict[tuple[str, int], str]):
    """The visibility filter for search hits: the record service's scope, in one query."""
    def keep(pairs: Sequence[tuple[str, int]]) -> set[tuple[str, int]]:
        if not pairs:
            return set()
        with svc.engine.connect() as conn:
            rows = conn.execute(select(records.c.id, records.c.entity, records.c.title).where(
                scope(actor, None), records.c.id.in_([i for _, i in pairs]))).all()
        for r in rows:
            titles[(r.entity, r.id)] = r.title
        return {(r.entity, r.id) for r in rows}
    return keep


def _check_query(text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValidationFailed({"q": ["required: the words to search for"]})
    if len(text) > 500:
        raise ValidationFailed({"q": ["at most 500 characters"]})
    return text


def search_articles(indexer: SearchIndexer, svc: RecordService, actor: Actor, text: Any,
                    category: Any = None, limit: int = 20) -> dict[str, Any]:
    """`GET /kb/search`: articles matching every word, best first, in `category` and its
    sub-categories when given, only those the actor may read."""
    text = _check_query(text)
    cats = None
    if category not in (None, ""):
        cats = category_and_descendants(svc, actor, category)
    indexer.drain(svc.tenant.id, wait=0.0, limit=OPPORTUNISTIC, newest=True)
    titles: dict[tuple[str, int], str] = {}
    found = indexer.backend.search(svc.tenant.id, text, entities=[KB_ENTITY],
                                   categories=cats, limit=limit,
                                   visible=_visible(svc, actor, titles))
    return {"items": [{"id": h.id, "title": titles.get((h.entity, h.id), ""),
                       "score": h.score, "highlights": h.highlights} for h in found.hits],
            "total": found.total}


def search_records(indexer: SearchIndexer, svc: RecordService, actor: Actor, text: Any,
                   entity: Any = None, limit: int = 20) -> dict[str, Any]:
    """`GET /search`: customers, contacts and tickets matching every word (a phone number
    however it is typed), only those the actor may see."""
    text = _check_query(text)
    if entity in (None, ""):
        entities = [e for e in RECORD_ENTITIES if e in svc.model.entities]
    elif entity in RECORD_ENTITIES:
        entities = [entity]
    else:
        raise ValidationFailed({"entity": [f"must be one of {', '.join(RECORD_ENTITIES)}"]})
    if _PHONE.match(text.strip()):
        number = normalize_phone(text, svc.model.settings.phone_region, strict=False)
        if number:
            text = number.lstrip("+")
    indexer.drain(svc.tenant.id, wait=0.0, limit=OPPORTUNISTIC, newest=True)
    titles: dict[tuple[str, int], str] = {}
    found = indexer.backend.search(svc.tenant.id, text, entities=entities, limit=limit,
                                   visible=_visible(svc, actor, titles))
    return {"items": [{"entity": h.entity, "id": h.id,
                       "title": titles.get((h.entity, h.id), ""), "score": h.score,
                       "highlights": h.highlights} for h in found.hits],
            "total": found.total}


# -- categories ---------------------------------------------------------------------------
def _categories(svc: RecordService, actor: Actor) -> list[dict[str, Any]]:
    with svc.engine.connect() as conn:
        rows = conn.execute(select(records.c.id, records.c.title, records.c.data).where(
            scope(actor, "kb_category")).order_by(records.c.title, records.c.id)).all()
    return [{"id": r.id, "name": r.title, "parent": (r.data or {}).get("parent")}
            for r in rows]


def category_and_descendants(svc: RecordService, actor: Actor, category: Any) -> list[int]:
    """The category and every category below it (404 when there is no such category)."""
    try:
        root = int(category)
    except (TypeError, ValueError):
        raise ValidationFailed({"category": ["must be a category id"]}) from None
    cats = _categories(svc, actor)
    if root not in {c["id"] for c in cats}:
        raise NotFound(f"no kb_category {category}")
    children: dict[int, list[int]] = {}
    for c in cats:
        if c["parent"] is not None:
            children.setdefault(int(c["parent"]), []).append(c["id"])
    out, todo = [], [root]
    while todo:
        cid = todo.pop()
        if cid not in out:
            out.append(cid)
            todo.extend(children.get(cid, []))
    return out


def category_tree(svc: RecordService, actor: Actor) -> list[dict[str, Any]]:
    """The categories as a tree: [{"id", "name", "children": [...]}], roots first."""
    cats = _categories(svc, actor)
    nodes = {c["id"]: {"id": c["id"], "name": c["name"], "children": []} for c in cats}
    roots = []
    for c in cats:
        parent = nodes.get(int(c["parent"])) if c["parent"] is not None else None
        (parent["children"] if parent else roots).append(nodes[c["id"]])
    return roots


# -- views and the hot list ----------------------------------------------------------------
def _log_add(a: float, b: float) -> float:
    high = max(a, b)
    return high + math.log(math.exp(a - high) + math.exp(b - high))


def decayed(hot: float, now: datetime | None = None) -> float:
    """The views of an article as they weigh now (each halved every HALF_LIFE)."""
    elapsed = ((now or _now()) - _EPOCH).total_seconds() / _TAU
    return math.exp(min(hot - elapsed, 700.0))


def count_view(svc: RecordService, article_id: int, at: datetime | None = None) -> int:
    """Add one view to an article; returns its view count."""
    at = at or _now()
    point = (at - _EPOCH).total_seconds() / _TAU
    with svc.engine.begin() as conn:
        q = select(kb_stats).where(kb_stats.c.article_id == article_id)
        if svc.dialect == "postgresql":
            q = q.with_for_update()
        row = conn.execute(q).first()
        if row is None:
            conn.execute(insert(kb_stats).values(article_id=article_id,
                                                 tenant_id=svc.tenant.id, views=1,
                                                 hot=point, viewed_at=at))
            return 1
        conn.execute(update(kb_stats).where(kb_stats.c.article_id == article_id).values(
            views=kb_stats.c.views + 1, hot=_log_add(row.hot, point), viewed_at=at))
        return row.views + 1


def read_article(svc: RecordService, actor: Actor, article_id: Any) -> dict[str, Any]:
    """An article the actor may read, counted as a view, with its favourite and feedback
    figures."""
    record = svc.get(actor, KB_ENTITY, article_id)
    views = count_view(svc, record["id"])
    return {**record, "views": views, **_figures(svc, actor, record["id"])}


def _figures(svc: RecordService, actor: Actor, article_id: int) -> dict[str, Any]:
    with svc.engine.connect() as conn:
        favs = conn.execute(select(kb_favorites.c.user_id).where(
            kb_favorites.c.article_id == article_id)).scalars().all()
        counts = dict(conn.execute(select(kb_feedback.c.helpful, func.count()).where(
            kb_feedback.c.article_id == article_id).group_by(kb_feedback.c.helpful)).all())
    return {"favorite": actor.user_id in favs, "favorites": len(favs),
            "feedback": {"helpful": counts.get(True, 0), "not_helpful": counts.get(False, 0)}}


def hot(svc: RecordService, actor: Actor, limit: int = 10) -> list[dict[str, Any]]:
    """The articles the actor may read, by views decayed with age, hottest first."""
    now = _now()
    with svc.engine.connect() as conn:
        rows = conn.execute(
            select(records.c.id, records.c.title, records.c.status, kb_stats.c.views,
                   kb_stats.c.hot)
            .join(kb_stats, kb_stats.c.article_id == records.c.id)
            .where(scope(actor, KB_ENTITY), kb_stats.c.tenant_id == svc.tenant.id)
            .order_by(kb_stats.c.hot.desc(), records.c.id).limit(limit)).all()
    return [{"id": r.id, "title": r.title, "status": r.status, "views": r.views,
             "score": round(decayed(r.hot, now), 3)} for r in rows]


# -- favourites and feedback ---------------------------------------------------------------
def set_favorite(svc: RecordService, actor: Actor, article_id: Any, on: bool) -> dict[str, Any]:
    """Mark (or unmark) an article the actor may read as one of its favourites."""
    record = svc.get(actor, KB_ENTITY, article_id)
    if actor.user_id is None:
        raise ValidationFailed({"_": ["only a user has favourites"]})
    with svc.engine.begin() as conn:
        conn.execute(delete(kb_favorites).where(kb_favorites.c.article_id == record["id"],
                                                kb_favorites.c.user_id == actor.user_id))
        if on:
            conn.execute(insert(kb_favorites).values(
                article_id=record["id"], user_id=actor.user_id, tenant_id=svc.tenant.id,
                created_at=_now()))
    return {"id": record["id"], **_figures(svc, actor, record["id"])}


def favorites(svc: RecordService, actor: Actor) -> dict[str, Any]:
    """The actor's favourite articles that it may still read, newest favourite first."""
    mine = select(kb_favorites.c.article_id).where(kb_favorites.c.user_id == actor.user_id,
                                                   kb_favorites.c.tenant_id == svc.tenant.id)
    page = svc.list(actor, KB_ENTITY, Query(per_page=200), extra=[records.c.id.in_(mine)])
    return {"items": page.items, "total": page.total}


def give_feedback(svc: RecordService, actor: Actor, article_id: Any,
                  body: Mapping[str, Any]) -> dict[str, Any]:
    """The actor's opinion of an article (its latest replaces an earlier one)."""
    record = svc.get(actor, KB_ENTITY, article_id)
    helpful, comment = body.get("helpful"), body.get("comment")
    errors: dict[str, list[str]] = {}
    if not isinstance(helpful, bool):
        errors["helpful"] = ["required: true or false"]
    if comment is not None and not isinstance(comment, str):
        errors["comment"] = ["must be text"]
    elif isinstance(comment, str) and len(comment) > 4000:
        errors["comment"] = ["at most 4000 characters"]
    unknown = set(body) - {"helpful", "comment"}
    if unknown:
        errors.update({k: ["unknown field"] for k in sorted(unknown)})
    if errors:
        raise ValidationFailed(errors)
    if actor.user_id is None:
        raise ValidationFailed({"_": ["only a user gives feedback"]})
    with svc.engine.begin() as conn:
        conn.execute(delete(kb_feedback).where(kb_feedback.c.article_id == record["id"],
                                               kb_feedback.c.user_id == actor.user_id))
        conn.execute(insert(kb_feedback).values(
            tenant_id=svc.tenant.id, article_id=record["id"], user_id=actor.user_id,
            helpful=helpful, comment=(comment or "").strip() or None, created_at=_now()))
    return {"id": record["id"], **_figures(svc, actor, record["id"])}


def feedback(svc: RecordService, actor: Actor, article_id: Any) -> dict[str, Any]:
    """Counts of an article's feedback; supervisors and above also read the comments."""
    record = svc.get(actor, KB_ENTITY, article_id)
    out: dict[str, Any] = {"id": record["id"], **_figures(svc, actor, record["id"])}
    if actor.manages:
        with svc.engine.connect() as conn:
            rows = conn.execute(select(kb_feedback).where(and_(
                kb_feedback.c.article_id == record["id"], kb_feedback.c.comment.is_not(None)))
                .order_by(kb_feedback.c.id.desc())).all()
        out["comments"] = [{"user": r.user_id, "helpful": r.helpful, "comment": r.comment,
                            "at": r.created_at.isoformat() if r.created_at else None}
                           for r in rows]
    return out
