"""The OpenAPI 3 document of the API (served at /api/v1/openapi.json)."""
from __future__ import annotations

from typing import Any

from flask import jsonify

from . import api

ERR = {"description": "error", "content": {"application/json": {"schema": {
    "$ref": "#/components/schemas/Errors"}}}}


def _json(schema: dict[str, Any], description: str = "ok") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _op(summary: str, ok: dict[str, Any], *, params: list[dict] | None = None,
        body: dict[str, Any] | None = None, codes: tuple[int, ...] = (401, 404, 422),
        status: int = 200) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {str(status): ok,
                                                           **{str(c): ERR for c in codes}}}
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": body}}}
    return op


def _path(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True,
            "schema": schema or {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"}}


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


ID = _path("id", {"type": "integer", "minimum": 1})
ENTITY = _path("entity")
RECORD = {"$ref": "#/components/schemas/Record"}
PAGE = {"$ref": "#/components/schemas/Page"}
LIST_PARAMS = [
    _query("q", {"type": "string"}), _query("sort", {"type": "string"}),
    _query("page", {"type": "integer", "minimum": 1}),
    _query("per_page", {"type": "integer", "minimum": 1, "maximum": 500}),
]


def document() -> dict[str, Any]:
    """The whole document; records are open objects because their fields are per tenant."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "Callboard API", "version": "1",
                 "description": "Records of every entity share one shape: their fields "
                                "beside id, entity, version, owner, created_at, updated_at. "
                                "GET /meta/entities/{entity} describes a tenant's fields."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "bearerFormat": "JWT"}},
            "schemas": {
                "Errors": {"type": "object", "required": ["errors"],
                           "properties": {"errors": {"type": "object"}}},
                "Record": {"type": "object", "required": ["id", "entity", "version"],
                           "properties": {"id": {"type": "integer"},
                                          "entity": {"type": "string"},
                                          "version": {"type": "integer"},
                                          "owner": {"type": "integer", "nullable": True},
                                          "title": {"type": "string"},
                                          "created_at": {"type": "string"},
                                          "updated_at": {"type": "string"}},
                           "additionalProperties": True},
                "Page": {"type": "object", "required": ["items", "total"],
                         "properties": {"items": {"type": "array", "items": RECORD},
                                        "total": {"type": "integer"}}},
                "Fields": {"type": "object", "additionalProperties": True},
            },
        },
        "paths": {
            "/security/login": {"post": {
                "summary": "Log in; returns access_token", "security": [],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"type": "object",
                               "required": ["username", "password", "provider"],
                               "properties": {"username": {"type": "string"},
                                              "password": {"type": "string"},
                                              "provider": {"type": "string",
                                                           "enum": ["db"]}}}}}},
                "responses": {"200": _json({"type": "object", "properties": {
                    "access_token": {"type": "string"}}}), "400": ERR, "401": ERR, "422": ERR}}},
            "/meta/entities": {"get": _op("Entities of the tenant", _json({"type": "object"}),
                                          codes=(401,))},
            "/meta/entities/{entity}": {"get": _op("One entity's compiled metadata",
                                                   _json({"type": "object"}),
                                                   params=[ENTITY])},
            "/records/{entity}": {
                "get": _op("List records (filters: field__op=value)", _json(PAGE),
                           params=[ENTITY, *LIST_PARAMS]),
                "post": _op("Create a record", _json(RECORD, "created"), params=[ENTITY],
                            body={"$ref": "#/components/schemas/Fields"}, status=201),
            },
            "/records/{entity}/{id}": {
                "get": _op("Read a record", _json(RECORD), params=[ENTITY, ID]),
                "patch": _op("Change some fields (version: optimistic lock)", _json(RECORD),
                             params=[ENTITY, ID], body={"$ref": "#/components/schemas/Fields"},
                             codes=(401, 404, 409, 422)),
                "delete": {"summary": "Soft delete", "parameters": [ENTITY, ID],
                           "responses": {"204": {"description": "deleted"}, "401": ERR,
                                         "403": ERR, "404": ERR}},
            },
            "/records/{entity}/{id}/claim": {"post": _op(
                "Take an unowned record", _json(RECORD), params=[ENTITY, ID],
                codes=(401, 404, 409))},
            "/records/{entity}/{id}/activity": {"get": _op(
                "Change log, newest first", _json({"type": "object"}), params=[ENTITY, ID])},
            "/records/{entity}/{id}/related/{other}": {"get": _op(
                "Records of another entity linked to this one", _json(PAGE),
                params=[ENTITY, ID, _path("other"), *LIST_PARAMS])},
            "/records/{entity}/{id}/transitions/{name}": {"post": _op(
                "Run a workflow transition", _json(RECORD), params=[ENTITY, ID, _path("name")],
                body={"type": "object", "properties": {
                    "assignee": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
                    "department": {"type": "string"}, "comment": {"type": "string"},
                    "fields": {"type": "object"}}},
                codes=(401, 403, 404, 409, 422))},
            "/records/{entity}/{id}/transitions": {"get": _op(
                "Transitions the caller may run now", _json({"type": "object"}),
                params=[ENTITY, ID])},
            "/tickets": {"get": _op(
                "Ticket views, combinable with filters", _json(PAGE),
                params=[_query("view", {"type": "string", "enum": [
                    "all", "mine", "to_handle", "overdue", "unprocessed", "created_by_me",
                    "following"]}), *LIST_PARAMS])},
            "/records/ticket/{id}/follow": {
                "post": _op("Follow a ticket (become a watcher)", _json(RECORD), params=[ID]),
                "delete": _op("Stop following a ticket", _json(RECORD), params=[ID]),
            },
            "/users": {"get": _op("The tenant's users", _json({"type": "object"}), params=[
                _query(k, {"type": "string"}) for k in ("email", "role", "team")],
                codes=(401,))},
            "/saved-filters": {
                "get": _op("Saved filters", _json({"type": "object"}),
                           params=[_query("entity", {"type": "string"})], codes=(401,)),
                "post": _op("Save a filter", _json({"type": "object"}, "created"), body={
                    "type": "object", "required": ["entity", "name"],
                    "properties": {"entity": {"type": "string"}, "name": {"type": "string"},
                                   "filters": {"type": "object"},
                                   "shared": {"type": "boolean"}}}, status=201),
            },
            "/admin/config": {"get": _op("The tenant's bundle files", _json({"type": "object"}),
                                         codes=(401, 403))},
            "/admin/config/{kind}/{name}": {
                "put": _put_config("Replace one bundle file (YAML body)", [KIND, _path("name")]),
                "delete": {"summary": "Remove one bundle file (checked like a change)",
                           "parameters": [KIND, _path("name")],
                           "responses": {"200": _json({"type": "object"}), "401": ERR,
                                         "403": ERR, "404": ERR, "422": ERR}},
            },
            "/admin/config/{kind}": {"put": _put_config(
                "Replace tenant.yaml (kind: tenant; YAML body)", [KIND])},
            "/security/refresh": {"post": {
                "summary": "A new access token for a refresh token",
                "security": [{"bearer": []}],
                "responses": {"200": _json({"type": "object", "properties": {
                    "access_token": {"type": "string"}}}), "401": ERR, "422": ERR}}},
            "/agents/me/events": {"get": {
                "summary": "Server-Sent Events for the signed-in agent (screen_pop, "
                           "call_ended, ticket_assigned)",
                "parameters": [_query("limit", {"type": "number", "minimum": 0})],
                "responses": {"200": {"description": "an event stream", "content": {
                    "text/event-stream": {"schema": {"type": "string"}}}}, "401": ERR}}},
            # -- telephony (CONTRACT §4/§5) --
            "/telephony/{name}/events": {"post": _op(
                "Provider webhook: neutral call events (sim: bearer token; others: signed, "
                "?tenant=SLUG)", _json({"type": "object"}),
                params=[_path("name"), _query("tenant", {"type": "string"})],
                body={"type": "object"}, codes=(400, 401, 403, 404, 422))},
            "/screen-pop": {"get": _op(
                "The screen-pop payload for a caller's number", _json({"type": "object"}),
                params=[{**_query("number", {"type": "string"}), "required": True}],
                codes=(401, 422))},
            "/calls/click-to-call": {"post": _op(
                "Call a number from the agent's extension", _json({"type": "object"},
                                                                  "started"),
                body={"type": "object", "required": ["number"],
                      "properties": {"number": {"type": "string"}}},
                codes=(401, 403, 422, 502), status=201)},
            "/agents/me/status": {
                "get": _op("The agent's status and current calls", _json({"type": "object"}),
                           codes=(401,)),
                "post": _op("Set the agent's status", _json({"type": "object"}),
                            body={"type": "object", "required": ["status"], "properties": {
                                "status": {"type": "string",
                                           "enum": ["ready", "paused", "offline"]}}},
                            codes=(401, 409, 422)),
            },
            "/queues": {"get": _op("The tenant's queues with callers waiting now",
                                   _json({"type": "object"}), codes=(401,))},
            "/queues/{name}": {"get": _op("Callers waiting in a queue, in service order",
                                          _json({"type": "object"}), params=[_path("name")])},
            "/queues/{name}/stats": {"get": _op(
                "A queue's supervisor figures over a time range", _json({"type": "object"}),
                params=[_path("name"), _query("from", {"type": "string"}),
                        _query("to", {"type": "string"})], codes=(401, 403, 404, 422))},
            "/queues/stats": {"get": _op(
                "Every queue's supervisor figures", _json({"type": "object"}),
                params=[_query("from", {"type": "string"}), _query("to", {"type": "string"})],
                codes=(401, 403, 422))},
            # -- knowledge base and search (CONTRACT §4) --
            "/kb/search": {"get": _op(
                "Knowledge-base articles matching every word, best first", _json(HITS),
                params=[{**_query("q", {"type": "string"}), "required": True},
                        _query("category", {"type": "integer"}), LIMIT])},
            "/kb/hot": {"get": _op("Articles by views decayed with age, hottest first",
                                   _json({"type": "object"}), params=[LIMIT],
                                   codes=(401, 422))},
            "/kb/categories": {"get": _op("The category tree", _json({"type": "object"}),
                                          codes=(401,))},
            "/kb/favorites": {"get": _op("The caller's favourite articles", _json(PAGE),
                                         codes=(401,))},
            "/kb/articles/{id}": {"get": _op(
                "Read an article (counts a view), with favourite and feedback figures",
                _json(RECORD), params=[ID])},
            "/kb/articles/{id}/favorite": {
                "post": _op("Mark an article as a favourite", _json({"type": "object"}),
                            params=[ID]),
                "delete": _op("Unmark a favourite", _json({"type": "object"}), params=[ID]),
            },
            "/kb/articles/{id}/feedback": {
                "get": _op("Feedback counts (and comments, for supervisors)",
                           _json({"type": "object"}), params=[ID]),
                "post": _op("Was the article helpful?", _json({"type": "object"}, "created"),
                            params=[ID], status=201, body={
                                "type": "object", "required": ["helpful"],
                                "properties": {"helpful": {"type": "boolean"},
                                               "comment": {"type": "string"}}}),
            },
            "/records/{entity}/{id}/attachments": {
                "get": _op("A record's attached files", _json({"type": "object"}),
                           params=[ENTITY, ID]),
                "post": {**_op("Attach a file (text of .txt .md .html .docx .pdf is indexed)",
                               _json({"type": "object"}, "created"), params=[ENTITY, ID],
                               codes=(401, 403, 404, 413, 422), status=201),
                         "requestBody": {"required": True, "content": {
                             "multipart/form-data": {"schema": {
                                 "type": "object", "required": ["file"], "properties": {
                                     "file": {"type": "string", "format": "binary"}}}}}}},
            },
            "/records/{entity}/{id}/attachments/{attachment}": {
                "get": {"summary": "Download an attached file",
                        "parameters": [ENTITY, ID, ATTACHMENT],
                        "responses": {"200": {"description": "the file", "content": {
                            "application/octet-stream": {"schema": {
                                "type": "string", "format": "binary"}}}},
                            "401": ERR, "404": ERR}},
                "delete": {"summary": "Remove an attached file",
                           "parameters": [ENTITY, ID, ATTACHMENT],
                           "responses": {"204": {"description": "removed"}, "401": ERR,
                                         "403": ERR, "404": ERR}},
            },
            "/search": {"get": _op(
                "Customers, contacts and tickets matching every word (or a phone number)",
                _json(HITS), params=[{**_query("q", {"type": "string"}), "required": True},
                                     _query("entity", {"type": "string", "enum": [
                                         "customer", "contact", "ticket"]}), LIMIT])},
            **_io_paths(),
            "/openapi.json": {"get": {"summary": "This document", "security": [],
                                      "responses": {"200": _json({"type": "object"})}}},
        },
    }


KIND = _path("kind", {"type": "string", "enum": ["tenant", "entity", "ticket_type", "ivr"]})
# knowledge base and search
LIMIT = _query("limit", {"type": "integer", "minimum": 1, "maximum": 100})
ATTACHMENT = _path("attachment", {"type": "integer", "minimum": 1})
HITS = {"type": "object", "required": ["items", "total"], "properties": {
    "items": {"type": "array", "items": {"type": "object", "properties": {
        "entity": {"type": "string"}, "id": {"type": "integer"}, "title": {"type": "string"},
        "score": {"type": "number"}, "highlights": {"type": "object"}}}},
    "total": {"type": "integer"}}}


# import, export, bulk delete and jobs
JOB = {"type": "object", "required": ["job"], "properties": {"job": {"type": "integer"}}}
JOB_STATUS = {"type": "object", "required": ["id", "status", "progress", "result"],
              "properties": {"id": {"type": "integer"}, "kind": {"type": "string"},
                             "status": {"type": "string",
                                        "enum": ["queued", "running", "done", "failed"]},
                             "progress": {"type": "number"},
                             "stage": {"type": "string", "nullable": True,
                                       "description": "what a running job does now "
                                       "(e.g. indexing: its records are written and "
                                       "being indexed for search); null otherwise"},
                             "result": {"type": "object"},
                             "error": {"type": "string", "nullable": True},
                             "files": {"type": "object"}}}
XLSX = {"description": "the file", "content": {"application/octet-stream": {"schema": {
    "type": "string", "format": "binary"}}}}


def _upload(fields: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary"}, **fields}}}}}


PREFER = {"name": "Prefer", "in": "header", "required": False, "schema": {"type": "string"},
          "description": "respond-async (RFC 7240): answer before the job ends, with "
                         "Preference-Applied: respond-async, and follow it at /jobs/{id}. "
                         "Without Redis a job runs inline and is done when the request "
                         "answers, but for a large one run in a process of its own."}


def _io_paths() -> dict[str, Any]:
    job_id = _path("id", {"type": "integer", "minimum": 1})
    started = _json(JOB, "the job, started")
    return {
        "/import/{entity}/template": {"get": {
            "summary": "The import template (.xlsx)", "parameters": [ENTITY],
            "responses": {"200": XLSX, "401": ERR, "404": ERR}}},
        "/import/{entity}": {"post": {
            **_op("Import an .xlsx or .csv file (a job)", started, params=[ENTITY, PREFER],
                  codes=(401, 404, 413, 422, 503), status=202),
            "requestBody": _upload({"mode": {"type": "string", "enum": ["insert", "upsert"]},
                                    "key": {"type": "string"},
                                    "dry_run": {"type": "string"}})}},
        "/export/{entity}": {"post": _op(
            "Export the records the caller sees (filters: field__op=value; a job)", started,
            params=[ENTITY, _query("format", {"type": "string", "enum": ["xlsx", "csv"]}),
                    _query("locale", {"type": "string"}),
                    {**_query("view", {"type": "string"}),
                     "description": "tickets: a view of the ticket list (to_handle, overdue…)"},
                    PREFER],
            codes=(401, 404, 422, 503), status=202)},
        "/bulk-delete/{entity}": {"post": {
            **_op("Delete the records a file's phones, e-mails or ids name (owner; a job)",
                  started, params=[ENTITY], codes=(401, 403, 404, 413, 422, 503),
                  status=202),
            "requestBody": _upload({})}},
        "/jobs": {"get": _op("The jobs the caller may see, newest first",
                             _json({"type": "object"}), params=[
                                 _query("kind", {"type": "string"})], codes=(401,))},
        "/jobs/{id}": {"get": _op("A job's status, progress and result", _json(JOB_STATUS),
                                  params=[job_id], codes=(401, 404))},
        "/jobs/{id}/file": {"get": {
            "summary": "A job's main file (export, rejected rows)", "parameters": [job_id],
            "responses": {"200": XLSX, "401": ERR, "404": ERR}}},
        "/jobs/{id}/files/{name}": {"get": {
            "summary": "One of a job's files", "parameters": [
                job_id, _path("name", {"type": "string"})],
            "responses": {"200": XLSX, "401": ERR, "404": ERR}}},
        "/jobs/{id}/resume": {"post": _op(
            "Run an interrupted import again (rows already done are skipped)", started,
            params=[job_id, PREFER], codes=(401, 404, 422, 503), status=202)},
        "/jobs/{id}/revert": {"post": _op(
            "Undo an import: remove what it created, restore what it updated (a job)",
            started, params=[job_id], codes=(401, 404, 422, 503), status=202)},
    }


def _put_config(summary: str, params: list[dict[str, Any]]) -> dict[str, Any]:
    return {"summary": summary, "parameters": params,
            "requestBody": {"required": True, "content": {"application/yaml": {
                "schema": {"type": "string"}}}},
            "responses": {"200": _json({"type": "object"}), "401": ERR, "403": ERR,
                          "404": ERR, "422": ERR}}


@api.get("/openapi.json")
def openapi() -> object:
    return jsonify(document())
