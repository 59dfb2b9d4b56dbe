"""Starting ``op25b api``: refusals with reasons, HTTPS, hash-token, config checks."""

from __future__ import annotations

import hashlib
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from op25b_app.api.config import ConfigError, load_config, parse_listen
from tests.api.conftest import (
    READ_TOKEN,
    WRITE_TOKEN,
    free_port,
    fresh_database,
    op25b_command,
    start_api,
    stop_api,
    write_config,
)

REFUSAL_TIMEOUT_S = 60


@pytest.fixture
def sqlite_db(tmp_path: Path) -> str:
    """A migrated SQLite database (start-up does not depend on the backend)."""
    with fresh_database("sqlite", tmp_path) as url:
        return url


def run_api(*args: str, db: str) -> subprocess.CompletedProcess[str]:
    """Run ``op25b api`` expecting it to refuse to start (it must not hang)."""
    return subprocess.run(op25b_command("--db", db, "api", *args), capture_output=True,
                          text=True, timeout=REFUSAL_TIMEOUT_S)


def test_no_token_configured_refuses_to_start(sqlite_db: str, tmp_path: Path) -> None:
    listen = f"127.0.0.1:{free_port()}"
    without_config = run_api("--listen", listen, db=sqlite_db)
    assert without_config.returncode == 1
    assert "no API token is configured" in without_config.stderr
    empty = write_config(tmp_path / "empty.toml", tokens=False)
    with_empty = run_api("--listen", listen, "--config", str(empty), db=sqlite_db)
    assert with_empty.returncode == 1
    assert "no API token is configured" in with_empty.stderr


@pytest.mark.parametrize("listen", ["0.0.0.0", "192.0.2.1", "[::]", "api.example.net"])
def test_plain_http_off_loopback_is_refused(sqlite_db: str, tmp_path: Path,
                                            listen: str) -> None:
    config = write_config(tmp_path / "api.toml")
    result = run_api("--listen", f"{listen}:{free_port()}", "--config", str(config),
                     db=sqlite_db)
    assert result.returncode == 1
    assert "refusing plain HTTP" in result.stderr and "--tls-cert" in result.stderr


def test_bad_config_is_refused_with_the_key_named(sqlite_db: str, tmp_path: Path) -> None:
    config = tmp_path / "api.toml"
    config.write_text('[[tokens]]\nname = "noc"\nscope = "write"\ntoken = "plaintext"\n')
    result = run_api("--listen", f"127.0.0.1:{free_port()}", "--config", str(config),
                     db=sqlite_db)
    assert result.returncode == 1
    assert "unknown key 'token'" in result.stderr and "store the hash" in result.stderr


def test_https_with_a_self_signed_certificate(sqlite_db: str, tmp_path: Path) -> None:
    cert, key = tmp_path / "api.crt", tmp_path / "api.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=op25b-test", "-addext",
         "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    # TLS files from the config file, relative to it.
    config = write_config(tmp_path / "api.toml",
                          extra='tls_cert = "api.crt"\ntls_key = "api.key"')
    trust = ssl.create_default_context(cafile=str(cert))
    api = start_api(sqlite_db, config, tmp_path / "api.log", scheme="https", verify=trust)
    try:
        assert api.base_url.startswith("https://127.0.0.1:")
        with api.client(WRITE_TOKEN, verify=trust) as client:
            response = client.get("/status")
        assert response.status_code == 200, response.text
        assert response.json()["policy_revision"] >= 1
        # The same port does not speak plain HTTP.
        with pytest.raises(httpx.TransportError):
            httpx.get(api.base_url.replace("https://", "http://") + "/status",
                      headers={"Authorization": f"Bearer {READ_TOKEN}"}, timeout=5)
    finally:
        assert stop_api(api) == 0, api.log()


def test_tls_key_without_certificate_is_refused(sqlite_db: str, tmp_path: Path) -> None:
    config = write_config(tmp_path / "api.toml")
    result = run_api("--listen", f"127.0.0.1:{free_port()}", "--config", str(config),
                     "--tls-key", str(tmp_path / "missing.key"), db=sqlite_db)
    assert result.returncode == 1
    assert "both a certificate and a key" in result.stderr


def hash_token_cli(token: bytes, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``op25b api hash-token ARGS`` with ``token`` and a line break on standard input."""
    result = subprocess.run(op25b_command("api", "hash-token", *args), input=token + b"\n",
                            capture_output=True, timeout=60, cwd=cwd)
    return subprocess.CompletedProcess(result.args, result.returncode,
                                       result.stdout.decode(), result.stderr.decode())


STRONG_TOKEN = "Kx7#q9!vR2$mW4&zT8*pL1(nB6)cY3-d"


def test_hash_token_needs_no_database(tmp_path: Path) -> None:
    # No --db: hash-token must not open (or create) a database.
    result = hash_token_cli(STRONG_TOKEN.encode(), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == hashlib.sha256(STRONG_TOKEN.encode()).hexdigest() + "\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("token", "reason"), [
    (b"s3cret-token", "12 characters long"),
    (b"a1" * 20, "different characters"),
    (b"0123456789" * 4, "repeats its first 10 characters"),
    (b"correcthorsebatterystaplecorrectly", "letters only"),
])
def test_hash_token_refuses_guessable_tokens_unless_allowed(tmp_path: Path, token: bytes,
                                                            reason: str) -> None:
    refused = hash_token_cli(token, cwd=tmp_path)
    assert refused.returncode == 2 and refused.stdout == ""
    assert reason in refused.stderr and "--allow-weak" in refused.stderr
    allowed = hash_token_cli(token, "--allow-weak", cwd=tmp_path)
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout == hashlib.sha256(token).hexdigest() + "\n"


@pytest.mark.parametrize(("token", "reason"), [
    ("Kx7#q9!vR2$mW4&zT8*pL1(nB6)cY3-d\u00e4".encode(), "the non-ASCII character 'ä': a "
     "token must be visible ASCII"),
    ("トークン".encode() * 10, "non-ASCII"),
    (b"\xff\xfe" * 20, "non-ASCII"),
    (STRONG_TOKEN.encode() + b" tail", "a space"),
    (STRONG_TOKEN.encode() + b"\x01", "control character"),
    (STRONG_TOKEN.encode() * 40, "longer than 1024"),
])
def test_hash_token_refuses_tokens_that_could_never_log_in(tmp_path: Path, token: bytes,
                                                           reason: str) -> None:
    # --allow-weak does not help: these are not weak, they cannot work at all.
    result = hash_token_cli(token, "--allow-weak", cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert reason in result.stderr, result.stderr


def test_a_token_hash_token_accepts_can_log_in(sqlite_db: str, tmp_path: Path) -> None:
    # Every visible ASCII character, quotes and backslash included.
    token = "".join(chr(c) for c in range(0x21, 0x7F))
    result = hash_token_cli(token.encode(), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    config = write_config(tmp_path / "api.toml", extra="\n".join([
        "[[tokens]]", 'name = "ascii"', 'scope = "read"', f'sha256 = "{result.stdout.strip()}"']))
    api = start_api(sqlite_db, config, tmp_path / "api.log")
    try:
        with api.client(token=None) as client:
            response = client.get("/status", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.text
            # Non-ASCII bytes in the header are compared as bytes: no decoding
            # turns one token into another (and hash-token refuses such tokens).
            raw = {"Authorization": b"Bearer " + token.encode() + "ä".encode()}
            assert client.get("/status", headers=raw).status_code == 401
    finally:
        assert stop_api(api) == 0, api.log()


def test_missing_tls_files_are_named(sqlite_db: str, tmp_path: Path) -> None:
    config = write_config(tmp_path / "api.toml")
    listen = f"127.0.0.1:{free_port()}"
    cert, key = tmp_path / "missing.crt", tmp_path / "missing.key"
    result = run_api("--listen", listen, "--config", str(config), "--tls-cert", str(cert),
                     "--tls-key", str(key), db=sqlite_db)
    assert result.returncode == 1
    assert f"TLS certificate file '{cert}' does not exist" in result.stderr
    assert "'None'" not in result.stderr
    cert.write_text("not a certificate\n")
    result = run_api("--listen", listen, "--config", str(config), "--tls-cert", str(cert),
                     "--tls-key", str(key), db=sqlite_db)
    assert result.returncode == 1
    assert f"TLS key file '{key}' does not exist" in result.stderr
    # From the config file, relative to it: the resolved path is named.
    relative = write_config(tmp_path / "tls.toml",
                            extra='tls_cert = "certs/api.crt"\ntls_key = "certs/api.key"')
    result = run_api("--listen", listen, "--config", str(relative), db=sqlite_db)
    assert result.returncode == 1
    assert f"TLS certificate file '{tmp_path / 'certs' / 'api.crt'}' does not exist" in \
        result.stderr
    key.write_text("not a key either\n")
    result = run_api("--listen", listen, "--config", str(config), "--tls-cert", str(cert),
                     "--tls-key", str(key), db=sqlite_db)
    assert result.returncode == 1 and "cannot be loaded" in result.stderr


def test_hash_token_generate_prints_a_config_entry(tmp_path: Path) -> None:
    result = subprocess.run(
        op25b_command("api", "hash-token", "--generate", "--name", "noc", "--scope", "write"),
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    token = result.stderr.rsplit(": ", 1)[1].strip()
    assert len(token) >= 40
    config_path = tmp_path / "api.toml"
    config_path.write_text(result.stdout)
    (entry,) = load_config(config_path).tokens
    assert (entry.name, entry.scope) == ("noc", "write")
    assert entry.sha256 == hashlib.sha256(token.encode()).digest()
    assert token not in result.stdout


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('tokens = "x"', "array of tables"),
        ('[[tokens]]\nname = "a"\nscope = "admin"\nsha256 = "' + "0" * 64 + '"', "'scope'"),
        ('[[tokens]]\nname = "a"\nscope = "read"\nsha256 = "abc"', "64 hex digits"),
        ('[[tokens]]\nname = "a"\nscope = "read"\nsha256 = "' + "0" * 64 + '"\n'
         '[[tokens]]\nname = "a"\nscope = "read"\nsha256 = "' + "1" * 64 + '"', "used twice"),
        ('[[tokens]]\nname = "a"\nscope = "read"\nsha256 = "' + "0" * 64 + '"\n'
         '[[tokens]]\nname = "b"\nscope = "write"\nsha256 = "' + "0" * 64 + '"',
         "configured twice"),
        ("max_body_bytes = 0", "max_body_bytes"),
        ('listen = "localhost"', "HOST:PORT"),
        ("tokenz = []", "unknown key 'tokenz'"),
        ("this is not toml", "not valid TOML"),
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "api.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_listen_parsing() -> None:
    assert parse_listen("127.0.0.1:8025").is_loopback
    assert parse_listen("[::1]:8025").is_loopback
    assert parse_listen("localhost:1").is_loopback
    assert not parse_listen("0.0.0.0:8025").is_loopback
    assert parse_listen("[2001:db8::1]:443").url(True) == "https://[2001:db8::1]:443"
    for bad in ("8025", "::1:8025", "host:99999", "host:port"):
        with pytest.raises(ConfigError):
            parse_listen(bad)


def test_times_without_offset_are_read_in_op25b_tz(sqlite_db: str, tmp_path: Path) -> None:
    """``op25b --tz`` applies to the API as to every op25b command."""
    config = write_config(tmp_path / "api.toml")
    api = start_api(sqlite_db, config, tmp_path / "api.log", extra=["--tz", "Asia/Tokyo"])
    try:
        with api.client() as client:
            created = client.post("/subscribers", json={"account": "TZ-1", "type": "broadband"})
            assert created.status_code == 201, created.text
            response = client.patch("/subscribers/TZ-1", json={
                "exemption": {"reason": "own MTA", "until": "2099-12-31T09:00"}})
            assert response.status_code == 200, response.text
            assert response.json()["exempt_until"] == "2099-12-31T00:00:00Z"
    finally:
        assert stop_api(api) == 0, api.log()
