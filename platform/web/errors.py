"""Every error a client can cause answers JSON `{"errors": …}`; never a traceback."""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from callboard.engine.errors import ServiceError
from callboard.engine.problems import BundleError

log = logging.getLogger(__name__)


def error(status: int, message: str, field: str = "_") -> tuple[Response, int]:
    return jsonify({"errors": {field: [message]}}), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ServiceError)
    def service_error(e: ServiceError) -> Any:
        return jsonify(e.body()), e.status

    @app.errorhandler(BundleError)
    def bundle_error(e: BundleError) -> Any:
        return jsonify({"errors": {"config": [p.format() for p in e.problems]}}), 422

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> Any:
        if not _wants_json():
            return e
        return jsonify({"errors": {"_": [e.description or e.name]}}), e.code or 500

    @app.errorhandler(Exception)
    def crash(e: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return jsonify({"errors": {"_": ["internal error; it has been logged"]}}), 500

    @app.after_request
    def json_errors(resp: Response) -> Response:
        """Give 4xx answers of other components (FAB's login) the same `errors` shape."""
        if resp.status_code >= 400 and _wants_json() and resp.is_json:
            body = resp.get_json(silent=True)
            if isinstance(body, dict) and "errors" not in body:
                message = body.get("message") or body.get("msg") or resp.status
                body = {**body, "errors": {"_": [str(message)]}}
                resp.set_data(app.json.dumps(body))
        return resp

    jwt = app.appbuilder.sm.jwt_manager if hasattr(app, "appbuilder") else None
    if jwt is not None:
        for loader in ("unauthorized_loader", "invalid_token_loader"):
            getattr(jwt, loader)(lambda reason: error(401, f"not signed in: {reason}"))
        jwt.expired_token_loader(lambda *_: error(401, "the token has expired; log in again"))
        jwt.revoked_token_loader(lambda *_: error(401, "the token was revoked"))
        jwt.user_lookup_error_loader(lambda *_: error(401, "no such user"))


def _wants_json() -> bool:
    return request.path.startswith("/api/")
