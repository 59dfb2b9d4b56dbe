"""SIGHUP reloads the token configuration; expired tokens are refused and logged once.

The reload tests run a real ``op25b api`` and send it a real SIGHUP, as a
service manager's ``reload`` does; the expiry boundary is checked in-process
with a fixed clock.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import secrets
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from op25b_app.api.app import create_app
from op25b_app.api.config import ApiConfig, ConfigError, TokenEntry, hash_token, load_config
from op25b_app.api.live_config import LiveConfig, describe_changes
from op25b_app.service import open_database
from tests.api.conftest import (
    READ_TOKEN,
    READ_TOKEN_NAME,
    WRITE_TOKEN,
    ApiProcess,
    fresh_database,
    start_api,
    stop_api,
    write_config,
)

RELOAD_TIMEOUT_S = 10.0
NEW_TOKEN = "new-" + secrets.token_urlsafe(24)
PAST = "2000-01-01T00:00:00+09:00"
FUTURE = "2999-12-31T00:00:00+09:00"


def token_entry(name: str, token: str, scope: str = "read", expires: str | None = None) -> str:
    """A ``[[tokens]]`` entry in TOML."""
    lines = ["[[tokens]]", f'name = "{name}"', f'scope = "{scope}"',
             f'sha256 = "{hash_token(token)}"']
    if expires is not None:
        lines.append(f"expires = {expires}")
    return "\n".join(lines)


def status_with(api: ApiProcess, token: str) -> httpx.Response:
    with api.client(token) as client:
        return client.get("/status")


def reload_and_wait(api: ApiProcess, done: Callable[[], bool]) -> None:
    """SIGHUP, then wait until ``done()`` (the reload is applied between requests)."""
    api.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + RELOAD_TIMEOUT_S
    while time.monotonic() < deadline:
        assert api.proc.poll() is None, f"op25b api died on SIGHUP:\n{api.log()}"
        if done():
            return
        time.sleep(0.1)
    pytest.fail(f"SIGHUP was not applied within {RELOAD_TIMEOUT_S} s:\n{api.log()}")


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[ApiProcess, Path]]:
    """An API on SQLite whose config file the test rewrites (the reload needs no database)."""
    with fresh_database("sqlite", tmp_path) as url:
        config = write_config(tmp_path / "api.toml")
        api = start_api(url, config, tmp_path / "api.log")
        try:
            yield api, config
        finally:
            assert stop_api(api) == 0, api.log()


def test_sighup_adds_and_revokes_tokens(running: tuple[ApiProcess, Path]) -> None:
    api, config = running
    assert status_with(api, READ_TOKEN).status_code == 200
    assert status_with(api, NEW_TOKEN).status_code == 401
    # Revoke the read token, add a new one.
    write_config(config, tokens=False, extra="\n".join([
        token_entry("tester", WRITE_TOKEN, "write"), token_entry("ops", NEW_TOKEN)]))
    reload_and_wait(api, lambda: status_with(api, NEW_TOKEN).status_code == 200)
    assert status_with(api, READ_TOKEN).status_code == 401
    assert status_with(api, WRITE_TOKEN).status_code == 200
    log = api.log()
    assert "tokens added: ops" in log and f"tokens revoked: {READ_TOKEN_NAME}" in log
    for secret in (NEW_TOKEN, READ_TOKEN, WRITE_TOKEN):
        assert secret not in log and hash_token(secret) not in log


def test_sighup_with_a_bad_config_keeps_the_old_one(running: tuple[ApiProcess, Path]) -> None:
    api, config = running
    pasted_token = "pasted-" + secrets.token_hex(16)
    for text, reason in (
        ("this is not toml", "not valid TOML"),
        (token_entry("x", NEW_TOKEN).replace("sha256", "token"), "unknown key 'token'"),
        (token_entry("x", NEW_TOKEN).replace(hash_token(NEW_TOKEN), pasted_token),
         "must be 64 hex digits"),
        ("max_body_bytes = 4096", "no [[tokens]] entry"),
    ):
        config.write_text(text + "\n")
        before = api.log().count("configuration not reloaded")
        reload_and_wait(api, lambda: api.log().count("configuration not reloaded") > before)
        refusals = [line for line in api.log().splitlines()
                    if "configuration not reloaded" in line]
        assert reason in refusals[-1], refusals[-1]
        assert status_with(api, READ_TOKEN).status_code == 200
        assert status_with(api, NEW_TOKEN).status_code == 401
    assert pasted_token not in api.log()
    config.unlink()
    reload_and_wait(api, lambda: "cannot read" in api.log())
    assert status_with(api, WRITE_TOKEN).status_code == 200


def test_sighup_applies_limits_and_names_what_needs_a_restart(
        running: tuple[ApiProcess, Path]) -> None:
    api, config = running
    config.write_text("\n".join([
        "max_body_bytes = 100", 'listen = "127.0.0.1:1"',
        token_entry("tester", WRITE_TOKEN, "write"), token_entry(READ_TOKEN_NAME, READ_TOKEN),
    ]) + "\n")
    reload_and_wait(api, lambda: "max_body_bytes 8192 -> 100" in api.log())
    assert "listen changed" in api.log() and "restarted" in api.log()
    with api.client(WRITE_TOKEN) as client:
        response = client.post("/mtas", json={"name": "m" * 200, "prefix": "192.0.2.1"})
    assert response.status_code == 413
    assert "no token changes" in api.log()


def test_expired_tokens_are_refused_and_logged_once(running: tuple[ApiProcess, Path]) -> None:
    api, config = running
    old, fresh = "old-" + secrets.token_urlsafe(24), "fresh-" + secrets.token_urlsafe(24)
    write_config(config, extra="\n".join([token_entry("old", old, expires=PAST),
                                          token_entry("fresh", fresh, expires=f'"{FUTURE}"')]))
    reload_and_wait(api, lambda: status_with(api, fresh).status_code == 200)
    for _ in range(3):
        response = status_with(api, old)
        assert response.status_code == 401
        assert response.json()["error"].startswith("expired bearer token")
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert api.log().count("token old expired at 1999-12-31T15:00:00+00:00") == 1
    assert "tokens added: fresh, old" in api.log()


# --------------------------------------------------------------------------- in-process


def test_expiry_is_judged_per_request_by_the_clock() -> None:
    expires = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    token = "clock-" + secrets.token_urlsafe(24)
    entry = TokenEntry("clock", "read", hashlib.sha256(token.encode()).digest(), expires)
    now = [expires - dt.timedelta(seconds=1)]
    live = LiveConfig(ApiConfig(tokens=(entry,)), clock=lambda: now[0])
    engine = open_database("sqlite://")
    app = create_app(engine, live)

    def status() -> int:
        async def go() -> int:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
                response = await client.get("/openapi.json",
                                            headers={"Authorization": f"Bearer {token}"})
                return response.status_code
        return asyncio.run(go())

    try:
        assert status() == 200
        now[0] = expires
        assert status() == 401
    finally:
        engine.dispose()


@pytest.mark.parametrize(("value", "expected"), [
    ("2026-12-31T00:00:00+09:00", dt.datetime(2026, 12, 30, 15, tzinfo=dt.UTC)),
    ('"2026-12-31T00:00:00Z"', dt.datetime(2026, 12, 31, tzinfo=dt.UTC)),
    ("2026-12-31T00:00:00", "explicit UTC offset"),
    ("2026-12-31", "date-time such as"),
    ('"next year"', "date-time such as"),
    ("0001-01-01T00:00:00+09:00", "out of range"),
])
def test_expires_in_the_config(tmp_path: Path, value: str, expected: object) -> None:
    path = tmp_path / "api.toml"
    path.write_text(token_entry("t", "x" * 40, expires=value) + "\n")
    if isinstance(expected, dt.datetime):
        (entry,) = load_config(path).tokens
        assert entry.expires == expected
    else:
        with pytest.raises(ConfigError, match=str(expected)):
            load_config(path)


def test_reload_log_names_tokens_never_hashes() -> None:
    a = TokenEntry("a", "read", b"\x01" * 32)
    b = TokenEntry("b", "write", b"\x02" * 32)
    changed = TokenEntry("b", "read", b"\x03" * 32, dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    text = describe_changes(ApiConfig(tokens=(a, b)), ApiConfig(tokens=(changed,)))
    assert text == ("tokens revoked: a; tokens changed: b (scope read, new token, expires "
                    "2030-01-01T00:00:00+00:00); 1 token(s) configured")
    assert "0101" not in text and "0303" not in text
