"""The shipped systemd units are valid, sandboxed, and run the commands they name.

``systemd-analyze verify`` is the judge of validity (the Debian package
``systemd``, installed by scripts/bootstrap). It needs the programs named by
``ExecStart=``/``ExecReload=`` and systemd's own units to exist, so the test
builds a temporary root holding exactly those (stub programs, a copy of the
host's unit directory) and verifies there with ``--root``: nothing is
installed on the machine, and no test skips when the tool is missing.

Every diagnostic counts: systemd only warns about an unknown key or a bad
value (exit status 0), and such a unit runs without the setting - for a
sandboxing key, silently unsandboxed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.ops.units import ETC, UNIT_NAMES, UNITS, local_command, value, values

#: systemd-analyze security's scale is 0-10 (shown) and 0-100 (--threshold).
#: 2.0 and below is "OK"; the units are at 1.4-1.6.
EXPOSURE_THRESHOLD = 20


def _systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.fail("systemd-analyze not found: run scripts/bootstrap (Debian package "
                    "'systemd')", pytrace=False)
    return tool


def _host_unit_dir() -> Path:
    for candidate in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")):
        if (candidate / "sysinit.target").exists():
            return candidate
    pytest.fail("systemd's own units (sysinit.target) not found: install the Debian "
                "package 'systemd' (scripts/bootstrap)", pytrace=False)


def _stub(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)


def make_root(base: Path, units: dict[str, str]) -> tuple[Path, list[Path]]:
    """A root with systemd's units, stub op25b programs, /bin/kill and ``units``."""
    root = base / "root"
    (root / "usr" / "lib" / "systemd").mkdir(parents=True)
    shutil.copytree(_host_unit_dir(), root / "usr" / "lib" / "systemd" / "system",
                    symlinks=True)
    (root / "bin").symlink_to("usr/bin")
    (root / "lib").symlink_to("usr/lib")
    (root / "usr" / "bin").mkdir()
    shutil.copy2(Path("/bin/kill").resolve(), root / "usr" / "bin" / "kill")
    for program in ("op25b", "op25b-controller"):
        _stub(root / "opt" / "op25b" / "bin" / program)
    target = root / "etc" / "systemd" / "system"
    target.mkdir(parents=True)
    paths = []
    for name, text in units.items():
        (target / name).write_text(text)
        paths.append(target / name)
    return root, paths


def verify(root: Path, paths: list[Path]) -> subprocess.CompletedProcess[str]:
    """``systemd-analyze verify`` of ``paths`` inside ``root``."""
    return subprocess.run(
        [_systemd_analyze(), "--man=no", f"--root={root}", "verify", *map(str, paths)],
        capture_output=True, text=True, timeout=120, check=False)


def shipped_units() -> dict[str, str]:
    return {name: (UNITS / name).read_text() for name in UNIT_NAMES}


def test_every_unit_is_shipped() -> None:
    assert sorted(p.name for p in UNITS.glob("*.service")) == sorted(UNIT_NAMES)


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    root, paths = make_root(tmp_path, shipped_units())
    result = verify(root, paths)
    diagnostics = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and not diagnostics, diagnostics


def test_a_broken_unit_fails_the_check(tmp_path: Path) -> None:
    """The check above is not vacuous: a typo in a key or a value is caught."""
    text = (UNITS / "op25b-api.service").read_text()
    broken = text.replace("ProtectHome=yes", "ProtectHome=yess").replace(
        "NoNewPrivileges=yes", "NoNewPrivilege=yes")
    assert broken != text
    root, paths = make_root(tmp_path, {"op25b-api.service": broken})
    result = verify(root, paths)
    diagnostics = result.stdout + result.stderr
    assert "yess" in diagnostics and "NoNewPrivilege" in diagnostics, diagnostics


@pytest.mark.parametrize("name", UNIT_NAMES)
def test_exposure_level_is_ok(tmp_path: Path, name: str) -> None:
    root, paths = make_root(tmp_path, {name: (UNITS / name).read_text()})
    result = subprocess.run(
        [_systemd_analyze(), f"--root={root}", "security", "--offline=yes",
         f"--threshold={EXPOSURE_THRESHOLD}", "--no-pager", str(paths[0])],
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr


@pytest.mark.parametrize("name", UNIT_NAMES)
def test_sandbox_and_restart_settings(name: str) -> None:
    path = UNITS / name
    assert value(path, "User") == "op25b"
    assert value(path, "ProtectSystem") == "strict"
    assert value(path, "NoNewPrivileges") == "yes"
    assert value(path, "StateDirectory") == "op25b"
    assert value(path, "ReadWritePaths") == "/var/lib/op25b"
    assert value(path, "PrivateTmp") == "yes"
    assert value(path, "ProtectHome") == "yes"
    assert set(value(path, "RestrictAddressFamilies").split()) == {
        "AF_INET", "AF_INET6", "AF_UNIX"}
    assert value(path, "Restart") == "on-failure"
    assert value(path, "KillSignal") == "SIGTERM"
    expected_caps = "CAP_NET_BIND_SERVICE" if name == "op25b-radius.service" else ""
    assert value(path, "CapabilityBoundingSet") == expected_caps
    assert value(path, "AmbientCapabilities") == expected_caps


def test_only_the_api_reloads() -> None:
    """SIGHUP reloads the API; the controller has no reload (SIGHUP would end it)."""
    assert value(UNITS / "op25b-api.service", "ExecReload") == "/bin/kill -HUP $MAINPID"
    assert values(UNITS / "op25b-controller.service", "ExecReload") == []
    assert values(UNITS / "op25b-radius.service", "ExecReload") == []


# --------------------------------------------------------------------------- the commands


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait(predicate, proc: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"exited with {proc.returncode} before {what}:\n{log.read_text()}")
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"timed out waiting for {what}:\n{log.read_text()}")


def _stop(proc: subprocess.Popen[bytes], log: Path) -> None:
    """SIGTERM, as ``systemctl stop`` sends it: the process must exit 0."""
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"did not stop within 15 s of SIGTERM:\n{log.read_text()}")
    assert code == 0, log.read_text()


def _local_etc(tmp_path: Path) -> Path:
    etc = tmp_path / "etc"
    shutil.copytree(ETC, etc)
    return etc


def _init_db(url: str) -> None:
    subprocess.run(local_command(f"/opt/op25b/bin/op25b --db {url} db init", ETC),
                   check=True, capture_output=True, timeout=60)


def _replace_line(path: Path, start: str, new: str) -> None:
    lines = path.read_text().splitlines()
    hits = [i for i, line in enumerate(lines) if line.startswith(start)]
    assert len(hits) == 1, f"{path.name}: {start!r} found {len(hits)} times"
    lines[hits[0]] = new
    path.write_text("\n".join(lines) + "\n")


def test_controller_unit_command_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    """ExecStart= with the example controller.conf: it listens, serves /metrics, exits 0."""
    etc = _local_etc(tmp_path)
    state = tmp_path / "state"
    state.mkdir()
    _init_db(f"sqlite:///{state / 'op25b.db'}")
    conf = etc / "controller.conf"
    of_port, metrics_port = _free_port(), _free_port()
    # Only what must differ on a test machine: ports and the listening address.
    _replace_line(conf, "ofp_tcp_listen_port = ", f"ofp_tcp_listen_port = {of_port}")
    _replace_line(conf, "# ofp_listen_host = ", "ofp_listen_host = 127.0.0.1")
    _replace_line(conf, "metrics_listen = ", f"metrics_listen = 127.0.0.1:{metrics_port}")
    command = local_command(value(UNITS / "op25b-controller.service", "ExecStart"), etc)
    log = tmp_path / "controller.log"
    with log.open("wb") as out:
        # WorkingDirectory=/var/lib/op25b: the default db URL is relative to it.
        proc = subprocess.Popen(command, cwd=state, stdout=out, stderr=subprocess.STDOUT)
    try:
        def serving() -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics",
                                        timeout=2) as resp:
                return b"op25b_switches_connected" in resp.read()

        _wait(serving, proc, log, "/metrics to answer")
        with socket.create_connection(("127.0.0.1", of_port), timeout=5):
            pass
    finally:
        if proc.poll() is None:
            _stop(proc, log)
    assert proc.returncode == 0


def _env_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, val = line.partition("=")
            env[key.strip()] = val.strip()
    return env


def test_api_unit_command_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    """ExecStart= with the example api.toml (plus a token) and op25b.env."""
    import httpx

    from op25b_app.api.config import generate_token, hash_token

    etc = _local_etc(tmp_path)
    unit = UNITS / "op25b-api.service"
    env_path = Path(value(unit, "EnvironmentFile").replace("/etc/op25b/", f"{etc}/"))
    env = _env_file(env_path)
    assert env["OP25B_DB"].startswith("sqlite:////var/lib/op25b/")
    url = f"sqlite:///{tmp_path / 'op25b.db'}"
    _init_db(url)
    port = _free_port()
    config = etc / "api.toml"
    _replace_line(config, "listen = ", f'listen = "127.0.0.1:{port}"')
    token = generate_token()
    with config.open("a") as f:
        f.write(f'\n[[tokens]]\nname = "noc"\nscope = "read"\nsha256 = "{hash_token(token)}"\n')
    command = local_command(value(unit, "ExecStart"), etc)
    log = tmp_path / "api.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, **env, "OP25B_DB": url})
    try:
        def serving() -> bool:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/status",
                                   headers={"Authorization": f"Bearer {token}"}, timeout=2)
            except httpx.TransportError:
                return False
            return answer.status_code == 200

        _wait(serving, proc, log, "GET /status to answer")
    finally:
        if proc.poll() is None:
            _stop(proc, log)
    assert proc.returncode == 0
