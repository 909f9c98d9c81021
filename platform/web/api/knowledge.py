"""Knowledge base: search, hot articles, favourites, feedback, attachments."""
from __future__ import annotations

from typing import Any

from flask import current_app, g, jsonify, request, send_file

from callboard.engine.errors import ValidationFailed
from callboard.search import attachments as files
from callboard.search import kb
from callboard.search.indexing import SearchIndexer

from ..auth import login_required
from . import api
from .common import json_body


def indexer() -> SearchIndexer:
    """The app's search indexer (installed by create_app)."""
    return current_app.extensions["callboard_search"]


@api.get("/kb/search")
@login_required
def kb_search() -> Any:
    return jsonify(kb.search_articles(indexer(), g.records, g.actor, request.args.get("q"),
                                      request.args.get("category"),
                                      kb.parse_limit(request.args.get("limit"))))


@api.get("/kb/hot")
@login_required
def kb_hot() -> Any:
    limit = kb.parse_limit(request.args.get("limit"), default=10)
    return jsonify({"items": kb.hot(g.records, g.actor, limit)})


@api.get("/kb/categories")
@login_required
def kb_categories() -> Any:
    return jsonify({"items": kb.category_tree(g.records, g.actor)})


@api.get("/kb/articles/<int:record_id>")
@login_required
def kb_article(record_id: int) -> Any:
    return jsonify(kb.read_article(g.records, g.actor, record_id))


@api.post("/kb/articles/<int:record_id>/favorite")
@login_required
def kb_favorite(record_id: int) -> Any:
    return jsonify(kb.set_favorite(g.records, g.actor, record_id, True))


@api.delete("/kb/articles/<int:record_id>/favorite")
@login_required
def kb_unfavorite(record_id: int) -> Any:
    return jsonify(kb.set_favorite(g.records, g.actor, record_id, False))


@api.get("/kb/favorites")
@login_required
def kb_favorites() -> Any:
    return jsonify(kb.favorites(g.records, g.actor))


@api.post("/kb/articles/<int:record_id>/feedback")
@login_required
def kb_give_feedback(record_id: int) -> Any:
    return jsonify(kb.give_feedback(g.records, g.actor, record_id, json_body())), 201


@api.get("/kb/articles/<int:record_id>/feedback")
@login_required
def kb_feedback(record_id: int) -> Any:
    return jsonify(kb.feedback(g.records, g.actor, record_id))


# -- attachments of any record ------------------------------------------------------------
@api.post("/records/<entity>/<int:record_id>/attachments")
@login_required
def add_attachment(entity: str, record_id: int) -> Any:
    upload = request.files.get("file")
    if upload is None:
        raise ValidationFailed({"file": ["required: send the file as multipart field 'file'"]})
    limit = current_app.config.get("CALLBOARD_ATTACHMENT_MAX_BYTES", files.MAX_BYTES)
    return jsonify(files.add_attachment(indexer(), g.records, g.actor, entity, record_id,
                                        upload.filename, upload.mimetype, upload.stream,
                                        max_bytes=limit)), 201


@api.get("/records/<entity>/<int:record_id>/attachments")
@login_required
def list_attachments(entity: str, record_id: int) -> Any:
    return jsonify({"items": files.list_attachments(g.records, g.actor, entity, record_id)})


@api.get("/records/<entity>/<int:record_id>/attachments/<int:attachment_id>")
@login_required
def download_attachment(entity: str, record_id: int, attachment_id: int) -> Any:
    path, facts = files.attachment_file(indexer(), g.records, g.actor, entity, record_id,
                                        attachment_id)
    response = send_file(path, mimetype=facts["content_type"] or "application/octet-stream",
                         as_attachment=True, download_name=facts["filename"])
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@api.delete("/records/<entity>/<int:record_id>/attachments/<int:attachment_id>")
@login_required
def delete_attachment(entity: str, record_id: int, attachment_id: int) -> Any:
    files.delete_attachment(indexer(), g.records, g.actor, entity, record_id, attachment_id)
    return "", 204
