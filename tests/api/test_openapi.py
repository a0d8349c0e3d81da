"""The OpenAPI document tells the truth: every route is in it with its methods, and schemathesis, driving the app
through WSGI with an admin token, finds no server error, no undocumented status, no wrong content type and no
response that breaks its declared schema."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.api.conftest import call
from ticketing.models import Interaction

schemathesis = pytest.importorskip("schemathesis")


def documented(client) -> dict:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.is_json
    return response.get_json()


def test_every_api_rule_is_documented_with_its_methods(app, client) -> None:
    doc = documented(client)
    rules: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api.") and rule.endpoint != "api.unmatched":
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            rules.setdefault(path, set()).update(rule.methods - {"HEAD", "OPTIONS"})
    paths = {path: {method.upper() for method in ops} for path, ops in doc["paths"].items()}
    assert rules == paths
    assert len(paths) >= 14


def test_document_basics(client) -> None:
    doc = documented(client)
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer",
                                                              "bearerFormat": "bh_<prefix>_<secret>"}  # fmt: skip
    assert doc["security"] == [{"bearer": []}]
    assert doc["paths"]["/api/v1/openapi.json"]["get"]["security"] == []
    text = str(doc)
    for ref in set(re.findall(r"#/components/schemas/(\w+)", text)):
        assert ref in doc["components"]["schemas"], ref
    create = doc["paths"]["/api/v1/tickets"]["post"]
    assert set(create["responses"]) == {"201", "400", "401", "403", "422", "429"}
    assert create["responses"]["201"]["headers"]["Location"]["required"] is True


def test_documented_constraints_are_the_enforced_ones(client) -> None:
    """The same objects validate and document: a sample of constraints appears in both."""
    from api import schemas

    doc = documented(client)["components"]["schemas"]
    assert doc["TicketCreate"] == schemas.TICKET_CREATE.schema()
    assert doc["TicketUpdate"]["properties"]["status"]["enum"] == [
        "open", "in_progress", "pending", "waiting_on_customer", "resolved", "closed"]  # fmt: skip
    assert doc["TicketCreate"]["additionalProperties"] is False
    params = {p["name"]: p for p in documented(client)["paths"]["/api/v1/tickets"]["get"]["parameters"]}
    assert params["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 100,
                                         "description": "page size (default 25, at most 100)"}  # fmt: skip
    assert params["sort"]["schema"]["enum"] == list(schemas.SORTS)


def test_openapi_needs_no_token_but_everything_else_does(client, apiw) -> None:
    assert client.get("/api/v1/openapi.json").status_code == 200
    doc = documented(client)
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if op.get("security") == []:
                continue
            concrete = re.sub(r"\{slug\}", "report-a-bug", re.sub(r"\{\w+_id\}", "1", path))
            response = client.open(concrete, method=method.upper(), json={})
            assert response.status_code == 401, (method, path)


@pytest.fixture
def known(db, apiw) -> dict[str, object]:
    """Ids that exist, so generated requests reach the success paths as well as the 404s."""
    entry = db.scalar(sa.select(Interaction.id).where(Interaction.ticket_id == apiw.w.acme_ticket.id).limit(1))
    return {"ticket_id": apiw.w.acme_ticket.id, "contact_id": apiw.w.bob.id, "customer_id": apiw.w.bob.customer_id,
            "interaction_id": entry, "entry_id": 1, "slug": "report-a-bug"}  # fmt: skip


@pytest.mark.slow
def test_schemathesis_finds_no_contract_violation(app, client, apiw, known, monkeypatch, tmp_path) -> None:
    from hypothesis.configuration import set_hypothesis_home_dir
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    monkeypatch.setitem(app.config, "API_RATE_LIMIT", "100000 per minute")
    set_hypothesis_home_dir(tmp_path / "hypothesis")  # no .hypothesis/ left in the work tree
    call(client, apiw, "admin", "POST", f"/tickets/{apiw.w.acme_ticket.id}/time-entries", {"minutes": 5})
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    headers = apiw.headers("admin")
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20

    try:
        for operation in operations:
            run_operation(operation, app, headers, known, checks)
    finally:
        set_hypothesis_home_dir(None)


def run_operation(operation, app, headers, known, checks) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from schemathesis import GenerationMode

    names = {p["name"] for p in operation.definition.raw.get("parameters", []) if p["in"] == "path"}
    fixed = {name: known[name] for name in names}
    strategy = st.one_of(operation.as_strategy(), operation.as_strategy(GenerationMode.NEGATIVE))
    if fixed:  # real ids too, so the success paths are exercised as well as the 404s
        strategy = st.one_of(strategy, operation.as_strategy(path_parameters=fixed),
                             operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=fixed))  # fmt: skip

    @settings(max_examples=25, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(case=strategy)
    def run(case) -> None:
        response = case.call(app=app, headers=headers)
        case.validate_response(response, checks=checks)

    run()
