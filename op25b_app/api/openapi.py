"""The committed OpenAPI document, ``docs/openapi.json``, and how it is regenerated.

The file is what the app serves (``document.build_openapi``) rendered in a
stable form, so a change to the API shows up as a reviewable diff and
``tests/api`` can check that the committed file is current. This module sits
above ``app``: it builds an app to read its document, and nothing in the
serving path imports it.

Regenerate the committed file after changing the API::

    .venv/bin/python -m op25b_app.api.openapi > docs/openapi.json
"""

from __future__ import annotations

import json
import sys
from typing import Any

from op25b_app.api.app import create_app
from op25b_app.api.config import ApiConfig
from op25b_app.api.document import build_openapi
from op25b_app.service import open_database

#: Never connected: the document depends only on the routes and models.
_UNUSED_DB_URL = "sqlite://"


def render(document: dict[str, Any]) -> str:
    """The canonical text of the committed file (stable key order, final newline)."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generated_document() -> dict[str, Any]:
    """The document of the app as ``op25b api`` would serve it (no database needed)."""
    engine = open_database(_UNUSED_DB_URL)
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
