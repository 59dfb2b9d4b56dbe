"""Run ``op25b api`` as a real process and talk to it over real HTTP.

Every API test goes through the same door a client uses: a subprocess
started with the console command, a temp token config, a free port on
127.0.0.1, and an httpx client. The ``api`` fixture runs once per test module
and backend (SQLite and PostgreSQL, like the ``db_url`` fixture; the
PostgreSQL variant fails without ``OP25B_TEST_PG_URL``), because starting the
process costs about a second; tests use their own account/switch names so
they do not depend on each other's data.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from op25b_app.api.config import hash_token
from tests.conftest import _fresh_pg_database

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
#: Small, so the 413 tests need only a few kilobytes.
TEST_MAX_BODY_BYTES = 8192

WRITE_TOKEN = "test-write-" + secrets.token_urlsafe(16)
READ_TOKEN = "test-read-" + secrets.token_urlsafe(16)
WRITE_TOKEN_NAME = "tester"
READ_TOKEN_NAME = "viewer"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_config(path: Path, *, tokens: bool = True, extra: str = "") -> Path:
    """A token config with a write and a read token (or none)."""
    lines = [f"max_body_bytes = {TEST_MAX_BODY_BYTES}", extra]
    if tokens:
        for name, scope, token in ((WRITE_TOKEN_NAME, "write", WRITE_TOKEN),
                                   (READ_TOKEN_NAME, "read", READ_TOKEN)):
            lines += ["[[tokens]]", f'name = "{name}"', f'scope = "{scope}"',
                      f'sha256 = "{hash_token(token)}"']
    path.write_text("\n".join(lines) + "\n")
    return path


def op25b_command(*args: str) -> list[str]:
    """The ``op25b`` console command, run with this interpreter."""
    return [sys.executable, "-m", "op25b_app.cli.main", *args]


def init_db(db_url: str) -> None:
    """``op25b db init`` on ``db_url``."""
    subprocess.run(op25b_command("--db", db_url, "db", "init"), check=True,
                   capture_output=True, timeout=60)


@dataclasses.dataclass
class ApiProcess:
    """A running ``op25b api`` and how to reach it."""

    proc: subprocess.Popen[bytes]
    base_url: str
    db_url: str
    log_path: Path

    def log(self) -> str:
        """Everything the process wrote to stdout/stderr so far."""
        return self.log_path.read_text(errors="replace")

    def client(self, token: str | None = WRITE_TOKEN, **kwargs: object) -> httpx.Client:
        """An httpx client for this API, sending ``token`` as bearer token."""
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30.0,
                            **kwargs)  # type: ignore[arg-type]


def start_api(db_url: str, config: Path, log_path: Path, *, listen: str | None = None,
              extra: Sequence[str] = (), scheme: str = "http",
              verify: ssl.SSLContext | bool = False) -> ApiProcess:
    """Start ``op25b api`` and wait until it answers; fails with its log if it does not."""
    listen = listen or f"127.0.0.1:{free_port()}"
    log_file = log_path.open("wb")
    proc = subprocess.Popen(
        op25b_command("--db", db_url, "api", "--listen", listen, "--config", str(config),
                      *extra),
        stdout=log_file, stderr=subprocess.STDOUT, cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    log_file.close()
    api = ApiProcess(proc, f"{scheme}://{listen}", db_url, log_path)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"op25b api exited with {proc.returncode}:\n{api.log()}")
        with contextlib.suppress(httpx.TransportError):
            with api.client(READ_TOKEN, verify=verify) as client:
                if client.get("/openapi.json").status_code == 200:
                    return api
        time.sleep(0.1)
    stop_api(api)
    pytest.fail(f"op25b api did not answer within {START_TIMEOUT_S} s:\n{api.log()}")


def stop_api(api: ApiProcess) -> int:
    """SIGTERM, as a service manager would; returns the exit status."""
    if api.proc.poll() is None:
        api.proc.send_signal(signal.SIGTERM)
        try:
            api.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            api.proc.kill()
            api.proc.wait()
    return api.proc.returncode


@contextlib.contextmanager
def fresh_database(backend: str, directory: Path) -> Iterator[str]:
    """An empty, migrated database of ``backend`` (dropped afterwards for PostgreSQL)."""
    if backend == "sqlite":
        url = f"sqlite:///{directory / 'op25b.db'}"
        init_db(url)
        yield url
        return
    with _fresh_pg_database() as url:
        init_db(url)
        yield url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    """A running API on a fresh database of each backend, shared by one test module."""
    directory = tmp_path_factory.mktemp(f"api-{request.param}")
    with fresh_database(request.param, directory) as url:
        config = write_config(directory / "api.toml")
        process = start_api(url, config, directory / "api.log")
        try:
            yield process
        finally:
            status = stop_api(process)
            # A clean SIGTERM shutdown is part of the contract with service managers.
            assert status == 0, f"op25b api exited with {status}:\n{process.log()}"


@pytest.fixture
def client(api: ApiProcess) -> Iterator[httpx.Client]:
    """A client with the write token."""
    with api.client() as c:
        yield c
