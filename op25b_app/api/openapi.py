"""The OpenAPI document: generated from the app, committed as ``docs/openapi.json``.

FastAPI generates almost all of it from the pydantic models and routes. Two
things are adjusted here, in one place:

* FastAPI documents a 422 on every operation with parameters; this API
  answers 400 instead (``errors``), so the 422 entries and their schemas are
  removed - a document promising a status the server never sends misleads
  client generators and the contract test alike.
* Authentication is a middleware (``auth``), which FastAPI cannot see, so the
  bearer scheme is declared here for every operation.
* FastAPI's OpenAPI model stores numeric bounds as floats; integral ones are
  written back as integers (``"maximum": 4095``, not ``4095.0``).

Regenerate the committed file after changing the API::

    .venv/bin/python -m op25b_app.api.openapi > docs/openapi.json
"""

from __future__ import annotations

import json
import sys
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

OPENAPI_PATH = "/openapi.json"
SECURITY_SCHEME = "bearerAuth"
_FASTAPI_422_SCHEMAS = ("HTTPValidationError", "ValidationError")
_BOUND_KEYS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The document for ``app`` (cached on the app, as FastAPI does)."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    document = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        description=app.description,
        routes=app.routes,
    )
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            operation.get("responses", {}).pop("422", None)
    schemas = document.get("components", {}).get("schemas", {})
    for name in _FASTAPI_422_SCHEMAS:
        schemas.pop(name, None)
    document.setdefault("components", {})["securitySchemes"] = {
        SECURITY_SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "description": "A token configured in the API's config file ([[tokens]]); "
                           "scope 'read' may only GET.",
        }
    }
    document["security"] = [{SECURITY_SCHEME: []}]
    _integral_bounds(document)
    app.openapi_schema = document
    return document


def _integral_bounds(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _BOUND_KEYS and isinstance(value, float) and value.is_integer():
                node[key] = int(value)
            else:
                _integral_bounds(value)
    elif isinstance(node, list):
        for item in node:
            _integral_bounds(item)


def render(document: dict[str, Any]) -> str:
    """The canonical text of the committed file (stable key order, final newline)."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generated_document() -> dict[str, Any]:
    """The document of the app as ``op25b api`` would serve it (no database needed)."""
    import sqlalchemy as sa

    from op25b_app.api.app import create_app
    from op25b_app.api.config import ApiConfig

    # The document depends only on the routes and models; an engine that is
    # never connected is enough to build the app.
    engine = sa.create_engine("sqlite://")
    try:
        return build_openapi(create_app(engine, ApiConfig()))
    finally:
        engine.dispose()


def main() -> int:
    """Write the document to stdout (``python -m op25b_app.api.openapi``)."""
    sys.stdout.write(render(generated_document()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
