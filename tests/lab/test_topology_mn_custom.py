"""``mn --custom topologies/isp.py`` runs the file inside mn's own namespace.

Running ``mn`` itself in tests is off limits (on an error it kills processes
by name), so this checks the one thing that broke it before: a module-level
name of ours replacing one of mn's (our HOSTS tuple once replaced mn's HOSTS
dictionary and ``--topo isp`` died with "'tuple' object has no attribute 'get'").
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import topologies.isp as isp

MN = shutil.which("mn") or "/usr/bin/mn"


def _mn_globals() -> set[str]:
    tree = ast.parse(Path(MN).read_text())
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
    return names


def test_custom_file_does_not_shadow_mn_names():
    ours = {n for n in vars(isp) if not n.startswith("_")} - {"topos"}
    mn_names = _mn_globals()
    assert {"HOSTS", "SWITCHES", "TOPOS"} <= mn_names
    # Names we import from Mininet are the same objects mn has: harmless.
    clash = {n for n in ours & mn_names if getattr(isp, n) is not _mininet_object(n)}
    assert not clash, clash
    assert isp.topos["isp"] is isp.IspTopo


def _mininet_object(name: str) -> object:
    import mininet.node
    import mininet.topo

    for module in (mininet.node, mininet.topo):
        if hasattr(module, name):
            return getattr(module, name)
    return object()


def test_nothing_attaches_a_controller_with_mininets_telnet_check():
    """Mininet's RemoteController.checkListening decodes the binary OpenFlow HELLO
    as UTF-8 and fails at random; every lab must use LabController instead."""
    repo = Path(isp.__file__).resolve().parents[1]
    users = []
    for path in [*repo.glob("tests/**/*.py"), *repo.glob("scripts/*.py"),
                 *repo.glob("topologies/*.py")]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if ("RemoteController(" in line or "Controller(" in line.replace("LabController(", "")) \
                    and "class " not in line and "LabController" not in line:
                users.append(f"{path.relative_to(repo)}:{number}: {line.strip()}")
    assert not users, users
    assert isp.LabController.checkListening(object()) is None  # type: ignore[arg-type]
