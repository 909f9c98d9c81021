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
            "/openapi.json": {"get": {"summary": "This document", "security": [],
                                      "responses": {"200": _json({"type": "object"})}}},
        },
    }


KIND = _path("kind", {"type": "string", "enum": ["tenant", "entity", "ticket_type", "ivr"]})


def _put_config(summary: str, params: list[dict[str, Any]]) -> dict[str, Any]:
    return {"summary": summary, "parameters": params,
            "requestBody": {"required": True, "content": {"application/yaml": {
                "schema": {"type": "string"}}}},
            "responses": {"200": _json({"type": "object"}), "401": ERR, "403": ERR,
                          "404": ERR, "422": ERR}}


@api.get("/openapi.json")
def openapi() -> object:
    return jsonify(document())
