"""The paging helpers every list route uses, tested directly (no server needed)."""

from __future__ import annotations

import dataclasses
from typing import Any

from op25b_app.api.routes.common import page, page_body


@dataclasses.dataclass(frozen=True)
class _View:
    name: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name}


VIEWS = [_View(f"v{i}") for i in range(5)]


def test_a_page_is_a_slice_with_the_whole_count() -> None:
    assert page(VIEWS, 2, 1) == {"items": [{"name": "v1"}, {"name": "v2"}], "total": 5,
                                 "limit": 2, "offset": 1}


def test_the_last_page_is_short_and_past_the_end_is_empty() -> None:
    assert page(VIEWS, 2, 4)["items"] == [{"name": "v4"}]
    assert page(VIEWS, 2, 5) == {"items": [], "total": 5, "limit": 2, "offset": 5}
    assert page(VIEWS, 1000, 999)["items"] == []


def test_page_body_keeps_the_given_total_and_passes_dicts_through() -> None:
    # Subscribers are paged in SQL: the items are the page, the total is the whole.
    body = page_body([VIEWS[0], {"already": "a dict"}], 70_000, 100, 200)
    assert body == {"items": [{"name": "v0"}, {"already": "a dict"}], "total": 70_000,
                    "limit": 100, "offset": 200}
