"""Fixtures for lab tests: they build the real thing or fail (never skip).

If the lab cannot be built (not root, Open vSwitch missing...) the fixture
raises ``LabUnavailable`` with the reason, so the test *errors* and CI fails.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.lab import labkit


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/lab/" in str(item.fspath):
            item.add_marker(pytest.mark.lab)


@pytest.fixture(scope="session")
def lab_ready() -> None:
    labkit.require_lab()


@pytest.fixture(scope="module")
def example_lab(lab_ready: None) -> Iterator[labkit.ExampleLab]:
    """The example ISP (tests/lab/scenario.py) with the controller enforcing it."""
    with labkit.example_lab() as lab:
        yield lab
