"""Global record search over customers, contacts and tickets."""
from __future__ import annotations

from typing import Any

from flask import g, jsonify, request

from callboard.search import kb

from ..auth import login_required
from . import api
from .knowledge import indexer


@api.get("/search")
@login_required
def search() -> Any:
    return jsonify(kb.search_records(indexer(), g.records, g.actor, request.args.get("q"),
                                     request.args.get("entity"),
                                     kb.parse_limit(request.args.get("limit"))))
