"""PATCH of a subscriber: which keys the request body carried.

The combined, all-or-nothing write is ``PolicyService.update_subscriber`` in
the service layer (one validation and audit path with the CLI); this module
only maps a PATCH body to its keyword arguments.
"""

from __future__ import annotations

from typing import Any


def update_kwargs(fields_set: set[str], name: Any, type_name: Any,
                  exemption: tuple[str, str | None] | None) -> dict[str, Any]:
    """Keyword arguments of ``update_subscriber`` for the keys a PATCH body contained."""
    kwargs: dict[str, Any] = {}
    if "name" in fields_set and name is not None:
        kwargs["name"] = name
    if "type" in fields_set and type_name is not None:
        kwargs["type_name"] = type_name
    if "exemption" in fields_set:
        kwargs["exemption"] = exemption
    return kwargs
