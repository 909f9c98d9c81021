"""The OpenAPI document: valid, complete, and true enough that a fuzzer finds no 500.

Schemathesis drives every operation of /api/v1/openapi.json against the real app (WSGI,
no server) with an owner's token, in positive and negative mode, bounded per operation.
"""
from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate

API = "/api/v1"
METHODS = {"get", "put", "post", "patch", "delete"}
MAX_EXAMPLES = 30


def _shape(path: str) -> str:
    """A path with its arguments blanked: Flask's `<int:record_id>` ~ OpenAPI's `{id}`."""
    return re.sub(r"<[^<>]+>|\{[^{}]+\}", "{}", path).rstrip("/") or "/"


def _routes(app: Flask) -> set[tuple[str, str]]:
    out = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(API + "/"):
            for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
                out.add((method.lower(), _shape(rule.rule[len(API):])))
    return out


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    r = client.get(f"{API}/openapi.json")
    assert r.status_code == 200 and r.is_json
    return r.get_json()


def test_the_document_is_valid_openapi_3(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"].startswith("3.")
    assert document["servers"] == [{"url": API}]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path, item in document["paths"].items():
        assert path.startswith("/"), path
        for method, op in item.items():
            assert method in METHODS, (path, method)
            assert op.get("summary"), (path, method)
            assert op["responses"], (path, method)
            # every argument in the path is declared, and nothing else is
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"\{(\w+)\}", path)), (path, method)
            if op.get("security", document["security"]):
                assert "401" in op["responses"], (path, method)


def test_the_document_lists_every_route(app: Flask, document: dict[str, Any]) -> None:
    documented = {(method, _shape(path)) for path, item in document["paths"].items()
                  for method in item}
    routes = _routes(app)
    assert routes, "no /api/v1 routes?"
    assert routes - documented == set(), "routes missing from openapi.json"
    assert documented - routes == set(), "openapi.json documents routes the app has not"


def test_public_operations_are_marked_public(client: FlaskClient, document: dict) -> None:
    for path, item in document["paths"].items():
        for method, op in item.items():
            if op.get("security", document["security"]) == []:
                continue
            # numeric parameters (ids of records, attachments, jobs) get a number
            numbered = re.sub(r"\{(id|\w+_id|attachment|job)\}", "1", path)
            concrete = re.sub(r"\{\w+\}", "customer",
                              re.sub(r"\{kind\}", "entity", numbered))
            r = client.open(API + concrete, method=method.upper(), json={})
            assert r.status_code == 401, (method, path, r.status_code)


# -- fuzzing ---------------------------------------------------------------------------------

def test_schemathesis_finds_no_server_error(app: Flask, as_: Any, users: dict) -> None:
    import schemathesis
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error

    owner = as_("water", "owner")
    headers = dict(owner.headers)
    customer = owner.post("/records/customer", json={"name": "Fuzz", "phone": "0913000001"})
    assert customer.status_code == 201
    rid = customer.get_json()["id"]
    owner.post("/records/contact", json={"name": "Fuzz contact", "customer": rid})

    document = owner.client.get(f"{API}/openapi.json").get_json()
    streams = {(method.upper(), path) for path, item in document["paths"].items()
               for method, op in item.items()
               if "text/event-stream" in op["responses"].get("200", {}).get("content", {})}
    schema = schemathesis.openapi.from_wsgi(f"{API}/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15, [op.label for op in operations]
    problems: list[str] = []
    for op in operations:
        if (op.method.upper(), op.path) in streams:
            continue  # an event stream never ends by itself: nothing to fuzz in-process
        real = {name: value for name, value in (("entity", "customer"), ("id", rid),
                                                ("other", "contact"), ("kind", "entity"),
                                                ("name", "customer"))
                if name in {p.name for p in op.path_parameters}}
        strategies = [op.as_strategy(GenerationMode.POSITIVE),
                      op.as_strategy(GenerationMode.NEGATIVE)]
        if real:
            strategies.append(op.as_strategy(GenerationMode.POSITIVE, path_parameters=real))
            strategies.append(op.as_strategy(GenerationMode.NEGATIVE, path_parameters=real))

        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                  phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=st.one_of(*strategies))
        def run(case: Any) -> None:
            response = case.call(headers=headers)
            case.validate_response(response, checks=[not_a_server_error])
            if 400 <= response.status_code < 500:  # every client error says what is wrong
                try:
                    body = response.json()
                except ValueError:
                    body = None
                assert isinstance(body, dict) and "errors" in body, (
                    case.method, case.formatted_path, response.status_code,
                    response.text[:300])

        try:
            run()
        except Exception as e:  # collect every operation's failure, then report them all
            problems.append(f"{op.label}: {type(e).__name__}: {str(e)[:1500]}")
    assert not problems, "\n\n".join(problems)
