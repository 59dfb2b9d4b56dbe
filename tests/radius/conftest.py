"""A running ``op25b radius`` per test module and backend (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.radius.harness import Radius, database, start_radius, stop_radius


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def radius(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Radius]:
    """The server on a fresh database; tests use their own Acct-Session-Ids."""
    directory = tmp_path_factory.mktemp(f"radius-{request.param}")
    with database(request.param, directory) as url:
        server = start_radius(url, directory)
        try:
            yield server
        finally:
            status = stop_radius(server)
            assert status == 0, f"op25b radius exited with {status}:\n{server.log()}"
            assert SECRETS_NOT_IN(server.log()), server.log()


def SECRETS_NOT_IN(log: str) -> bool:  # noqa: N802 - reads as a sentence in the assert
    from tests.radius.harness import SECRET, SECRET6

    return SECRET not in log and SECRET6 not in log
