"""``op25b customer-page``: start-up checks, and the real process over real HTTP(S)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from op25b_app.api.server import StartupRefused
from op25b_app.cli.commands.customer import page_settings
from op25b_app.customer import CustomerConfig

REPO = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def op25b(*args: str) -> list[str]:
    return [sys.executable, "-m", "op25b_app.cli.main", *args]


def self_signed(directory: Path, ip: str) -> tuple[Path, Path]:
    """A throw-away certificate for ``ip`` (as the API's tests make theirs)."""
    cert, key = directory / "page.crt", directory / "page.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=op25b-page-test", "-addext",
         f"subjectAltName=IP:{ip}", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'op25b.db'}"
    subprocess.run(op25b("--db", url, "db", "init"), check=True, capture_output=True, timeout=60)
    return url


def test_plain_http_only_on_loopback() -> None:
    config = CustomerConfig()
    assert page_settings(config, listen="127.0.0.1:8080", tls_cert=None, tls_key=None).listen.port \
        == 8080
    assert not page_settings(config, listen="[::1]:8080", tls_cert=None, tls_key=None).tls
    with pytest.raises(StartupRefused, match="refusing plain HTTP on 0.0.0.0:8080"):
        page_settings(config, listen="0.0.0.0:8080", tls_cert=None, tls_key=None)
    with pytest.raises(StartupRefused, match="the key .* is missing"):
        page_settings(config, listen=None, tls_cert=Path("x.crt"), tls_key=None)
    with pytest.raises(StartupRefused, match="does not exist"):
        page_settings(config, listen=None, tls_cert=Path("/nonexistent.crt"),
                      tls_key=Path("/nonexistent.key"))
    with pytest.raises(StartupRefused, match="expected HOST:PORT"):
        page_settings(config, listen="nonsense", tls_cert=None, tls_key=None)


@pytest.mark.parametrize(("args", "config_text", "message"), [
    (["--listen", "0.0.0.0:18080"], None, "refusing plain HTTP"),
    ([], 'trusted_proxy = ["10.0.0.0/24"]', "unknown key 'trusted_proxy'"),
])
def test_refusals_exit_1_with_the_reason(db: str, tmp_path: Path, args: list[str],
                                         config_text: str | None, message: str) -> None:
    if config_text is not None:
        (tmp_path / "page.toml").write_text(config_text)
        args = [*args, "--config", str(tmp_path / "page.toml")]
    result = subprocess.run(op25b("--db", db, "customer-page", *args), check=False,
                            capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 1
    assert "op25b customer-page not started" in result.stderr and message in result.stderr


@contextlib.contextmanager
def running_page(db: str, log: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(op25b("--db", db, "--tz", "Asia/Tokyo", "customer-page", *args),
                                stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wait_answer(url: str, proc: subprocess.Popen[bytes], log: Path,
                verify: ssl.SSLContext | bool = False) -> httpx.Response:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"op25b customer-page exited with {proc.returncode}:\n{log.read_text()}")
        with contextlib.suppress(httpx.TransportError):
            return httpx.get(url, verify=verify, timeout=10, headers={"Accept-Language": "en"})
        time.sleep(0.1)
    pytest.fail(f"op25b customer-page did not answer:\n{log.read_text()}")


@pytest.mark.parametrize("tls", [False, True])
def test_the_real_process_answers_and_stops_cleanly(db: str, tmp_path: Path, tls: bool) -> None:
    port = free_port()
    args = ["--listen", f"127.0.0.1:{port}"]
    verify: ssl.SSLContext | bool = False
    if tls:
        cert, key = self_signed(tmp_path, "127.0.0.1")
        args += ["--tls-cert", str(cert), "--tls-key", str(key)]
        verify = ssl.create_default_context(cafile=str(cert))
    log = tmp_path / "page.log"
    with running_page(db, log, *args) as proc:
        url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/"
        response = wait_answer(url, proc, log, verify)
        assert response.status_code == 200
        assert "127.0.0.1" in response.text and "We cannot tell" in response.text
        assert response.headers["Cache-Control"] == "no-store"
        assert ("Strict-Transport-Security" in response.headers) is tls
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0, log.read_text()
    assert "op25b customer page on" in log.read_text()
