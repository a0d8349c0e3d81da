"""The route registry and the OpenAPI 3.1 document built from it.

Every endpoint is declared with `route(...)`, which both adds the Flask rule and records the operation with the
very Body/Query objects its view validates with; the document is rendered from that record, so a route cannot
exist undocumented and a documented constraint cannot differ from the enforced one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from api import schemas, shapes
from api.errors import not_found
from api.validation import INT_MAX, Body, Query

_PARAM = re.compile(r"\{(\w+)\}")
NO_PARAMETERS = Query()
ERROR_TEXT = {
    400: "Malformed request: a body that is not JSON, or an unknown or invalid query parameter (named in fields)",
    401: "No token, or not a live one",
    403: "The token's owner may not do this",
    404: "No such resource, or not one this token may see (the two answer alike)",
    409: "Conflicts with the resource's current state (e.g. a transition the lifecycle forbids, a duplicate)",
    422: "The body failed validation: unknown or invalid fields are named in fields",
    429: "Too many requests for this token",
}


@dataclass(frozen=True)
class Operation:
    path: str
    method: str
    endpoint: str
    summary: str
    tag: str
    query: Query | None
    body: Body | None
    response: str | None
    status: int
    page: bool
    errors: tuple[int, ...]
    public: bool
    description: str


OPERATIONS: list[Operation] = []


def flask_path(path: str) -> str:
    return _PARAM.sub(lambda m: f"<int:{m[1]}>" if m[1].endswith("_id") else f"<{m[1]}>", path)


def route(
    bp: Blueprint, path: str, method: str, *, summary: str, tag: str, query: Query | None = None,
    body: Body | None = None, response: str | None = None, status: int = 200, page: bool = False,
    errors: tuple[int, ...] = (), public: bool = False, description: str = "",
) -> Callable[[Callable[..., ResponseReturnValue]], Callable[..., ResponseReturnValue]]:  # fmt: skip
    def decorator(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
        @wraps(view)
        def guarded(**kwargs: Any) -> ResponseReturnValue:
            # Ids beyond the column's range exist nowhere: answer before they reach the database driver.
            if any(isinstance(v, int) and not 0 < v <= INT_MAX for v in kwargs.values()):
                raise not_found()
            if query is None:
                NO_PARAMETERS.parse()  # an endpoint without parameters refuses any (400), like the lists do
            return view(**kwargs)

        bp.add_url_rule(flask_path(path), endpoint=view.__name__, view_func=guarded, methods=[method])
        OPERATIONS.append(
            Operation(
                path,
                method,
                view.__name__,
                summary,
                tag,
                query,
                body,
                response,
                status,
                page,
                errors,
                public,
                description,
            )  # fmt: skip
        )
        return view

    return decorator


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _operation(op: Operation) -> dict[str, Any]:
    names = _PARAM.findall(op.path)
    parameters = [
        {"name": n, "in": "path", "required": True,
         "schema": {"type": "integer", "minimum": 1, "maximum": INT_MAX} if n.endswith("_id")
         else {"type": "string", "minLength": 1, "maxLength": 80}}
        for n in names
    ]  # fmt: skip
    if op.query is not None:
        parameters += op.query.openapi()
    if op.response is None:
        success = {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
    elif op.page:
        success = _json(_ref(f"{op.response}Page"), f"A page of {op.response} objects")
    else:
        success = _json(_ref(op.response), op.response)
    if op.status == 201:
        success["headers"] = {"Location": {"required": True, "schema": {"type": "string"},
                                           "description": "URL of the new resource"}}  # fmt: skip
    codes = {429, *op.errors}
    if not op.public:
        codes |= {401, 403}
    codes.add(400)  # unknown query parameters, everywhere
    if op.body is not None:
        codes.add(422)
    if names:
        codes.add(404)
    responses = {str(op.status): success}
    responses.update({str(c): _json(_ref("Error"), ERROR_TEXT[c]) for c in sorted(codes)})
    out: dict[str, Any] = {
        "operationId": op.endpoint,
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": parameters,
        "responses": responses,
    }
    if op.description:
        out["description"] = op.description
    if op.body is not None:
        out["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(op.body.name)}}}
    if op.public:
        out["security"] = []
    return out


def _page(name: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"data": {"type": "array", "items": _ref(name)}, "next_cursor": {"type": ["string", "null"]}},
        "required": ["data", "next_cursor"],
        "additionalProperties": False,
    }


def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(f"/api/v1{op.path}", {})[op.method.lower()] = _operation(op)
    components = {s.name: s.schema() for s in [*shapes.RESPONSES, *schemas.REQUESTS]}
    components.update({f"{op.response}Page": _page(op.response) for op in OPERATIONS if op.page and op.response})
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Bluehill Ticketing API",
            "version": "1.0.0",
            "description": "Staff tokens act as their user (role and teams apply); customer tokens see exactly "
            'what their contact sees in the portal. Errors: {"error": {"code", "message", "fields"}}. '
            "Lists are keyset pages: pass next_cursor back as cursor.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "bh_<prefix>_<secret>"}},
        },
        "security": [{"bearer": []}],
    }


def register(bp: Blueprint) -> None:
    @route(bp, "/openapi.json", "GET", summary="This document", tag="Meta", public=True)
    def openapi_document() -> ResponseReturnValue:
        return jsonify(document())
