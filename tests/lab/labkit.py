"""The lab test layer: real Open vSwitch, real Mininet, the real controller process.

How the venv and Debian's Mininet meet: Debian's ``mininet`` package is
importable only by Debian's ``/usr/bin/python3``. ``scripts/bootstrap`` makes
``.venv`` from that interpreter with ``--system-site-packages``, so the venv's
pytest imports Mininet from ``/usr/lib/python3/dist-packages`` and op25b from
the editable install, and Mininet's helper ``/usr/bin/mnexec`` is on PATH.

Everything here creates objects with the ``op25`` prefix and removes only
those (never Mininet's global cleanup, which kills processes by name and deletes
/tmp/*.log).
A lab that cannot be built raises ``LabUnavailable``; tests let it fail.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from mininet.log import setLogLevel
from mininet.net import Mininet

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from topologies.isp import (  # noqa: E402
    HOSTS_BY_NAME,
    LAB_PREFIX,
    IspTopo,
    LabController,
    UserspaceOVS,
)

LOG = logging.getLogger("op25b.lab")
VENV_BIN = Path(sys.executable).parent
PROBE = Path(__file__).with_name("probe.py")
SERVE = Path(__file__).with_name("serve.py")
#: The probes run inside host namespaces with Debian's Python (no venv needed).
HOST_PYTHON = "/usr/bin/python3"

CONNECTED = "connected"
REFUSED = "refused"
TIMEOUT = "timeout"


class LabUnavailable(RuntimeError):
    """The lab could not be built here (missing root, OVS, Mininet...)."""


def run(cmd: list[str], check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=timeout)


def require_lab() -> None:
    """Raise LabUnavailable with the exact reason if the lab cannot run."""
    if os.geteuid() != 0:
        raise LabUnavailable("the lab needs root (network namespaces, OVS)")
    for tool in ("ovs-vsctl", "mnexec", "ethtool", "tcpdump"):
        if shutil.which(tool) is None:
            raise LabUnavailable(f"{tool} not found: run scripts/bootstrap")
    result = run([str(REPO / "scripts" / "ovs-up")], check=False, timeout=120)
    if result.returncode != 0:
        raise LabUnavailable(f"Open vSwitch did not start: {result.stderr.strip()}")


def cleanup_stale() -> None:
    """Remove bridges and links with our prefix left behind by a crashed run."""
    bridges = run(["ovs-vsctl", "--timeout=10", "list-br"]).stdout.split()
    for br in bridges:
        if br.startswith(LAB_PREFIX):
            run(["ovs-vsctl", "--timeout=10", "--if-exists", "del-br", br], check=False)
    links = run(["ip", "-o", "link", "show"]).stdout.splitlines()
    for line in links:
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith(LAB_PREFIX):
            run(["ip", "link", "del", name], check=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, interval: float = 0.1, what: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value; generous caps only."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class ControllerProcess:
    """The real ``op25b-controller`` as a child process with its own log file."""

    def __init__(self, db_url: str, workdir: Path, extra_args: list[str] | None = None,
                 port: int | None = None) -> None:
        self.db_url = db_url
        self.port = port or free_port()
        self.metrics_port = free_port()
        self.log_path = workdir / f"controller-{self.port}.log"
        self.extra_args = extra_args or []
        self.proc: subprocess.Popen | None = None

    def start(self) -> ControllerProcess:
        cmd = [
            str(VENV_BIN / "op25b-controller"),
            "--ofp-tcp-listen-port", str(self.port),
            "--ofp-listen-host", "127.0.0.1",
            "--op25b-db", self.db_url,
            "--op25b-poll-interval", "0.2",
            "--op25b-stats-interval", "1",
            "--op25b-metrics-listen", f"127.0.0.1:{self.metrics_port}",
            *self.extra_args,
        ]
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     cwd=self.log_path.parent)

        def listening() -> bool:
            if self.proc.poll() is not None:
                raise LabUnavailable(f"controller exited with {self.proc.returncode}:\n{self.log()}")
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0

        wait_for(listening, 30, what="the controller to listen")
        return self

    def metrics(self) -> str:
        """The controller's Prometheus exposition, scraped over HTTP."""
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics",
                                    timeout=10) as resp:
            return resp.read().decode()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self._log.close()
        return self.proc.returncode


def switch_connected(bridge: str) -> bool:
    """``is_connected: true`` on the bridge's controller record, as ovs-vsctl shows it."""
    ids = run(["ovs-vsctl", "--timeout=5", "get", "bridge", bridge, "controller"],
              check=False).stdout.strip().strip("[]")
    if not ids:
        return False
    out = run(["ovs-vsctl", "--timeout=5", "get", "controller", ids.split(",")[0].strip(),
               "is_connected"], check=False).stdout.strip()
    return out == "true"


def dump_flows(bridge: str) -> list[str]:
    out = run(["ovs-ofctl", "-O", "OpenFlow13", "dump-flows", bridge]).stdout
    return [line.strip() for line in out.splitlines() if "cookie=" in line]


class Lab:
    """A running Mininet ISP lab attached to one controller port."""

    def __init__(self, controller_port: int, workdir: Path) -> None:
        self.workdir = workdir
        self.controller_port = controller_port
        self.net: Mininet | None = None
        self._servers: list[subprocess.Popen] = []

    def start(self, wait_connected: bool = True) -> Lab:
        setLogLevel("warning")
        cleanup_stale()
        self.net = Mininet(
            topo=IspTopo(),
            switch=UserspaceOVS,
            controller=None,
            autoSetMacs=True,
            build=False,
        )
        self.net.addController(LabController("c0", ip="127.0.0.1", port=self.controller_port))
        self.net.build()
        self.net.start()
        if wait_connected:
            for sw in self.net.switches:
                wait_for(lambda: switch_connected(sw.name), 30, what=f"{sw.name} to connect")
        return self

    def host(self, name: str):
        assert self.net is not None
        return self.net.get(name)

    def serve(self, name: str, tcp_ports: list[int], udp_ports: list[int] = ()) -> None:
        """Start listeners (IPv4 and IPv6) on host ``name``."""
        host = self.host(name)
        args = [HOST_PYTHON, str(SERVE), "--tcp", ",".join(map(str, tcp_ports))]
        if udp_ports:
            args += ["--udp", ",".join(map(str, udp_ports)),
                     "--udp-log", str(self.workdir / f"udp-{name}.log")]
        proc = host.popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = proc.stdout.readline()
        if "ready" not in line:
            raise LabUnavailable(f"server on {name} did not start: {line}")
        self._servers.append(proc)

    def tcp(self, src: str, dst_ip: str, port: int, timeout: float = 2.0) -> str:
        """Connect from host ``src``: 'connected', 'refused' or 'timeout'."""
        out = self.host(src).cmd(f"{HOST_PYTHON} {PROBE} tcp {dst_ip} {port} {timeout}")
        return out.strip().splitlines()[-1] if out.strip() else "error"

    def udp(self, src: str, dst_ip: str, port: int, token: str) -> None:
        self.host(src).cmd(f"{HOST_PYTHON} {PROBE} udp {dst_ip} {port} {token}")

    def ping(self, src: str, dst_ip: str, count: int = 1) -> bool:
        cmd = "ping6" if ":" in dst_ip else "ping"
        out = self.host(src).cmd(f"{cmd} -c {count} -W 2 {dst_ip}")
        return f"{count} received" in out or f"{count} packets received" in out

    @contextlib.contextmanager
    def capture(self, name: str, bpf: str) -> Iterator[list[str]]:
        """tcpdump in host ``name``'s namespace; yields a list filled on exit."""
        host = self.host(name)
        pcap = self.workdir / f"cap-{name}-{time.monotonic_ns()}.pcap"
        intf = host.defaultIntf().name
        proc = host.popen(["tcpdump", "-i", intf, "-nn", "-U", "-w", str(pcap), bpf],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        line = proc.stderr.readline()  # "listening on ..." once the capture is armed
        if "listening" not in line:
            raise LabUnavailable(f"tcpdump did not start on {name}: {line}")
        # "listening" is printed a moment before packets are really seen.
        time.sleep(0.5)
        packets: list[str] = []
        try:
            yield packets
        finally:
            time.sleep(0.5)
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=10)
            out = run(["tcpdump", "-nn", "-r", str(pcap)], check=False).stdout
            packets.extend(line for line in out.splitlines() if line.strip())

    def stop(self) -> None:
        for proc in self._servers:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)
        self._servers.clear()
        if self.net is not None:
            self.net.stop()
            self.net = None
        cleanup_stale()


@dataclasses.dataclass
class ExampleLab:
    """A running lab with its controller and database."""

    lab: Lab
    controller: ControllerProcess
    db_url: str
    workdir: Path


@contextlib.contextmanager
def example_lab(db_url: str | None = None, extra_args: list[str] | None = None,
                ) -> Iterator[ExampleLab]:
    """The example ISP (tests/lab/scenario.py) enforced by a real controller.

    ``db_url`` defaults to a fresh SQLite file; ``extra_args`` go to the
    controller. Everything is torn down on exit and the controller log is
    printed (pytest shows it for failing tests).
    """
    from tests.lab import scenario

    with temp_workdir() as workdir:
        db_url = db_url or f"sqlite:///{workdir / 'op25b.db'}"
        scenario.load_example(db_url)
        controller = ControllerProcess(db_url, workdir, extra_args).start()
        lab = Lab(controller.port, workdir)
        try:
            lab.start()
            scenario.start_servers(lab)
            yield ExampleLab(lab, controller, db_url, workdir)
        finally:
            try:
                lab.stop()
            finally:
                code = controller.stop()
                print(f"--- controller log (exit {code}) ---\n{controller.log()[-6000:]}")


def ip_of(name: str, family: int) -> str:
    host = HOSTS_BY_NAME[name]
    return host.ip4 if family == 4 else host.ip6


@contextlib.contextmanager
def temp_workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="op25b-lab-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
