"""The example files in deploy/etc/op25b say what the programs really read.

``controller.conf`` must name every ``--op25b-*`` option of
``op25b_app/openflow/app.py`` (``OPTS``) with its default: when an option is
added or its default changes, this test fails until the example follows. It
is checked twice: parsed as text against ``OPTS``, and loaded by oslo.config
itself in a child process (a name oslo.config does not read - ``table-id``
instead of ``table_id`` - would otherwise pass unnoticed).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from op25b_app.api.config import generate_token, hash_token, load_config
from op25b_app.api.server import resolve_settings
from tests.ops.units import ETC, REPO

CONTROLLER_CONF = ETC / "controller.conf"

# The controller's options are read in a child process: importing the Ryu app
# here would monkey-patch this test process for eventlet.
_OPTS = """
import configparser, json, sys
import op25b_app.openflow.app as app
parser = configparser.ConfigParser(interpolation=None, strict=True)
parser.read(sys.argv[1])
section = {k: v for k, v in parser.items("op25b") if k not in parser.defaults()}
print(json.dumps({"file": sorted(section), "opts": [
    {"name": o.name, "dest": o.dest, "default": o.default,
     "in_file": o.type(section[o.dest]) if o.dest in section else None}
    for o in app.OPTS]}))
"""


def _run_json(script: str, *args: str) -> Any:
    result = subprocess.run([sys.executable, "-c", script, *args], cwd=REPO,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_controller_conf_names_every_option_with_its_default() -> None:
    found = _run_json(_OPTS, str(CONTROLLER_CONF))
    opts = found["opts"]
    assert found["file"] == sorted(o["dest"] for o in opts)
    text = CONTROLLER_CONF.read_text()
    for opt in opts:
        assert opt["in_file"] == opt["default"], opt
        # Each option's comment names its command-line form.
        assert f"(--op25b-{opt['name']}; default " in text, opt["name"]


_LOAD = """
import json, sys
import op25b_app.openflow.app as app
from op25b_app.openflow.ryu_compat import CONF
CONF(["--config-file", sys.argv[1]], project="ryu")
print(json.dumps({o.dest: getattr(CONF.op25b, o.dest) for o in app.OPTS}))
"""


def _oslo_load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = _run_json(_LOAD, str(path))
    return loaded


def test_oslo_config_reads_every_name_of_the_example(tmp_path: Path) -> None:
    """Each value changed in a copy of the example reaches the controller's options."""
    defaults = {o["dest"]: o["default"] for o in _run_json(_OPTS, str(CONTROLLER_CONF))["opts"]}
    assert _oslo_load(CONTROLLER_CONF) == defaults
    changed = {"table_id": "7", "poll_interval": "2.5", "controller_id": "edge-a",
               "bundles": "off", "metrics_listen": "127.0.0.1:9999"}
    lines = []
    for line in CONTROLLER_CONF.read_text().splitlines():
        key = line.partition(" = ")[0]
        lines.append(f"{key} = {changed[key]}" if key in changed else line)
    copy = tmp_path / "controller.conf"
    copy.write_text("\n".join(lines) + "\n")
    loaded = _oslo_load(copy)
    assert loaded["table_id"] == 7 and loaded["poll_interval"] == 2.5
    assert loaded["controller_id"] == "edge-a" and loaded["bundles"] == "off"
    assert loaded["metrics_listen"] == "127.0.0.1:9999"


_RYU_NAMES = """
import op25b_app.openflow.app
from op25b_app.openflow.ryu_compat import CONF
names = ("ctl_privkey", "ctl_cert", "ca_certs", "ofp_tcp_listen_port", "ofp_listen_host")
print(all(n in CONF for n in names))
"""


def test_controller_conf_tls_options_are_ryus() -> None:
    """The TLS lines an operator uncomments are the names Ryu registers."""
    text = CONTROLLER_CONF.read_text()
    for name in ("ctl_privkey", "ctl_cert", "ca_certs", "ofp_tcp_listen_port"):
        assert f"{name} = " in text
    result = subprocess.run(
        [sys.executable, "-c", _RYU_NAMES],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert result.stdout.strip() == "True", result.stderr


def test_api_example_loads_and_starts_once_a_token_is_added(tmp_path: Path) -> None:
    example = load_config(ETC / "api.toml")
    assert example.tokens == ()
    copy = tmp_path / "api.toml"
    copy.write_text((ETC / "api.toml").read_text() + "\n[[tokens]]\nname = \"noc\"\n"
                    f"scope = \"write\"\nsha256 = \"{hash_token(generate_token())}\"\n")
    settings = resolve_settings(load_config(copy), listen=None, tls_cert=None, tls_key=None)
    assert str(settings.listen.host) == "127.0.0.1" and settings.listen.port == 8025


def test_radius_placeholder_and_env_file_parse() -> None:
    tomllib.loads((ETC / "radius.toml").read_text())
    env = [line for line in (ETC / "op25b.env").read_text().splitlines()
           if line.strip() and not line.startswith("#")]
    assert env == ["OP25B_DB=sqlite:////var/lib/op25b/op25b.db"]
