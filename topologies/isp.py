"""The op25b lab: one ISP access network with a customer edge and a core.

Use it from Mininet's command line::

    mn --custom topologies/isp.py --topo isp --controller remote,port=6653 \\
       --switch ovs,datapath=user,protocols=OpenFlow13

or from Python (the tests and ``scripts/demo.py`` do)::

    from topologies.isp import IspTopo, UserspaceOVS

Layout (port numbers are fixed so the subscriber database can name them)::

      customer edge  op25e1 (dpid 1, fail-secure)        core  op25c1 (dpid 2)
      port 1  ── uplink ──────────────────────────────── port 1
      port 2  bb1   broadband customer                    port 2  mta  ISP mail relay
      port 3  bb2   broadband customer (opt-out in demo)  port 3  ext  external mail server
      port 4  du1   dial-up customer behind the RAS port         (25, 587, 465)
      port 5  new1  a line not yet in the database        port 4  web  web server (80)

Every host has an IPv4 and an IPv6 address, and checksum offload switched off:
Open vSwitch's userspace datapath (the only one on machines without the
kernel module) passes ping but silently breaks TCP with offload on.
"""

from __future__ import annotations

import dataclasses
import functools

from mininet.node import Host, OVSSwitch, RemoteController
from mininet.topo import Topo

#: Module-level names must not collide with the names ``mn --custom`` runs this
#: file next to (mn's own HOSTS, SWITCHES, TOPOS dictionaries).
#: Every lab object op25b creates carries this prefix, so stale ones from a
#: crashed run can be found and removed without touching anything else.
LAB_PREFIX = "op25"

EDGE_SWITCH = "op25e1"
CORE_SWITCH = "op25c1"
EDGE_DPID = 1
CORE_DPID = 2
EDGE_UPLINK_PORT = 1
CORE_DOWNLINK_PORT = 1


@dataclasses.dataclass(frozen=True)
class LabHost:
    """A host of the lab and where it is plugged in."""

    name: str
    switch: str
    port: int
    ipv4: str
    ipv6: str
    role: str

    @property
    def ip4(self) -> str:
        return self.ipv4.split("/")[0]

    @property
    def ip6(self) -> str:
        return self.ipv6.split("/")[0]


LAB_HOSTS: tuple[LabHost, ...] = (
    LabHost("bb1", EDGE_SWITCH, 2, "10.25.0.11/24", "fd25::11/64", "broadband customer"),
    LabHost("bb2", EDGE_SWITCH, 3, "10.25.0.12/24", "fd25::12/64", "broadband customer"),
    LabHost("du1", EDGE_SWITCH, 4, "10.25.0.21/24", "fd25::21/64", "dial-up customer (RAS port)"),
    LabHost("new1", EDGE_SWITCH, 5, "10.25.0.31/24", "fd25::31/64", "unregistered line"),
    LabHost("mta", CORE_SWITCH, 2, "10.25.0.2/24", "fd25::2/64", "ISP mail relay"),
    LabHost("ext", CORE_SWITCH, 3, "10.25.0.100/24", "fd25::100/64", "external mail server"),
    LabHost("web", CORE_SWITCH, 4, "10.25.0.80/24", "fd25::80/64", "web server"),
)
HOSTS_BY_NAME = {h.name: h for h in LAB_HOSTS}


class IspHost(Host):
    """A Mininet host with an IPv6 address and checksum offload off."""

    def config(self, ipv6: str | None = None, **params: object) -> dict:  # type: ignore[override]
        result = super().config(**params)
        for intf in self.intfList():
            if intf.name == "lo":
                continue
            # Userspace OVS does not fill in offloaded checksums: TCP would fail.
            self.cmd(f"ethtool -K {intf.name} tx off rx off >/dev/null 2>&1")
            if ipv6:
                # nodad: the address is usable at once (no 1-2 s duplicate check).
                self.cmd(f"ip -6 addr add {ipv6} dev {intf.name} nodad")
        return result


class IspTopo(Topo):
    """Customer-edge switch + core switch with the hosts in ``LAB_HOSTS``."""

    def build(self) -> None:  # type: ignore[override]
        edge = self.addSwitch(EDGE_SWITCH, dpid=f"{EDGE_DPID:016x}", failMode="secure",
                              datapath="user", protocols="OpenFlow13")
        core = self.addSwitch(CORE_SWITCH, dpid=f"{CORE_DPID:016x}", failMode="secure",
                              datapath="user", protocols="OpenFlow13")
        self.addLink(edge, core, port1=EDGE_UPLINK_PORT, port2=CORE_DOWNLINK_PORT)
        for host in LAB_HOSTS:
            node = self.addHost(host.name, cls=IspHost, ip=host.ipv4, ipv6=host.ipv6)
            self.addLink(node, host.switch, port2=host.port)


class LabController(RemoteController):
    """A remote controller attached without Mininet's listening check.

    ``RemoteController.checkListening`` pipes ``telnet`` at the controller port
    and decodes the reply as UTF-8; the controller's binary OpenFlow HELLO
    makes that raise ``UnicodeDecodeError`` whenever its random xid is not
    valid UTF-8, so a lab built with it fails at random. Callers wait for the
    switches' ``is_connected`` instead.
    """

    def checkListening(self) -> None:  # noqa: N802 - Mininet's name
        return None


#: The switch class for Python users: userspace datapath, OpenFlow 1.3 only.
UserspaceOVS = functools.partial(OVSSwitch, datapath="user", protocols="OpenFlow13")

topos = {"isp": IspTopo}
