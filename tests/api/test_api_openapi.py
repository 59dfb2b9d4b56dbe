"""docs/openapi.json is exactly what the app generates, and documents 400 instead of 422."""

from __future__ import annotations

import json
from typing import get_args

from op25b_app.api.openapi import generated_document, render
from op25b_app.api.schemas import RoleName
from op25b_app.core.constants import ENCAPSULATIONS
from op25b_app.core.snapshot import ROLES
from tests.api.conftest import REPO

COMMITTED = REPO / "docs" / "openapi.json"
REGENERATE = ".venv/bin/python -m op25b_app.api.openapi > docs/openapi.json"


def test_committed_document_is_the_generated_one() -> None:
    generated = render(generated_document())
    assert COMMITTED.read_text() == generated, (
        f"docs/openapi.json is out of date; regenerate it with: {REGENERATE}"
    )


def test_every_operation_documents_its_error_statuses() -> None:
    document = json.loads(COMMITTED.read_text())
    assert document["security"] == [{"bearerAuth": []}]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            codes = set(operation["responses"])
            where = f"{method.upper()} {path}"
            assert "422" not in codes, where
            assert {"400", "401", "413"} <= codes, where
            if method != "get":
                assert {"403", "409"} <= codes, where
            if "{" in path and not path.endswith("/policy"):
                assert "404" in codes, where
            error = operation["responses"]["400"]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/ErrorBody"}, where


def test_documented_roles_are_the_service_roles() -> None:
    assert get_args(RoleName) == ROLES


def test_documented_encapsulations_are_the_compilers() -> None:
    document = json.loads(COMMITTED.read_text())
    schemas = document["components"]["schemas"]
    carries = schemas["AttachmentCreate"]["properties"]["carries"]
    assert carries["items"]["enum"] == sorted(ENCAPSULATIONS)
    assert "carries" not in schemas["AttachmentCreate"].get("required", [])
    assert "carries" in schemas["Attachment"]["required"]
    assert "fragment_mode" in schemas["SwitchState"]["properties"]
