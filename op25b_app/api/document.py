"""The OpenAPI document the API serves: FastAPI's, adjusted where it is wrong for op25b.

FastAPI generates almost all of it from the pydantic models and routes. Three
things are adjusted here, in one place:

* FastAPI documents a 422 on every operation with parameters; this API
  answers 400 instead (``errors``), so the 422 entries and their schemas are
  removed - a document promising a status the server never sends misleads
  client generators and the contract test alike.
* Authentication is a middleware (``auth``), which FastAPI cannot see, so the
  bearer scheme is declared here for every operation.
* FastAPI's OpenAPI model stores numeric bounds as floats; integral ones are
  written back as integers (``"maximum": 4095``, not ``4095.0``).

``app`` installs ``build_openapi`` on the application it creates; the
committed copy of the document (``docs/openapi.json``) is ``openapi``'s job.
This module stays below both, so neither needs the other to be imported.
"""

from __future__ import annotations

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
    """Write integral float bounds back as integers, in place, at any depth.

    A client generator reading ``4095.0`` may type the field as a float.
    """
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _BOUND_KEYS and isinstance(value, float) and value.is_integer():
                node[key] = int(value)
            else:
                _integral_bounds(value)
    elif isinstance(node, list):
        for item in node:
            _integral_bounds(item)
