"""FlowSpec: what a switch would refuse is refused here; equal entries are equal."""

from __future__ import annotations

import shutil
import subprocess

import netaddr
import pytest

from op25b_app.core import constants
from op25b_app.core.constants import Band
from op25b_app.core.flowspec import FIELD_ORDER, FlowSpec, FlowSpecError

V4 = constants.ETH_TYPE_IPV4
V6 = constants.ETH_TYPE_IPV6
COOKIE = constants.cookie_for(Band.ATTACHMENT)


def tcp25(**extra: object) -> dict[str, object]:
    """A typical op25b IPv4 match plus ``extra`` fields."""
    return {"eth_type": V4, "ip_proto": 6, "tcp_dst": 25, **extra}


# --- refusals -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("match", "field"),
    [
        ({"ip_proto": 6}, "ip_proto"),
        ({"eth_type": 0x0806, "ip_proto": 6}, "ip_proto"),
        ({"ipv4_src": "10.0.0.1"}, "ipv4_src"),
        ({"eth_type": V6, "ipv4_dst": "10.0.0.1"}, "ipv4_dst"),
        ({"eth_type": V4, "ipv6_src": "2001:db8::1"}, "ipv6_src"),
        ({"eth_type": V4, "tcp_dst": 25}, "tcp_dst"),
        ({"eth_type": V4, "ip_proto": 17, "tcp_dst": 25}, "tcp_dst"),
    ],
)
def test_missing_prerequisite_is_refused(match: dict[str, object], field: str) -> None:
    with pytest.raises(FlowSpecError) as info:
        FlowSpec.make(0, 10, match, "drop", 0)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("match", "field"),
    [
        ({"udp_dst": 25}, "udp_dst"),
        ({"vlan_vid": 10}, "vlan_vid"),  # OFPVID_PRESENT missing
        ({"vlan_vid": 0x2000}, "vlan_vid"),
        ({"vlan_vid": True}, "vlan_vid"),
        ({"in_port": 0}, "in_port"),
        ({"in_port": "3"}, "in_port"),
        ({"in_port": True}, "in_port"),
        ({"eth_type": 0x10000}, "eth_type"),
        (tcp25(tcp_dst=65536), "tcp_dst"),
        ({"eth_type": V4, "ip_proto": 256}, "ip_proto"),
        (tcp25(ipv4_src="2001:db8::/32"), "ipv4_src"),  # wrong family
        ({"eth_type": V6, "ipv6_dst": "10.0.0.0/8"}, "ipv6_dst"),
        (tcp25(ipv4_src="10.0.0.300"), "ipv4_src"),
        (tcp25(ipv4_src=167772161), "ipv4_src"),  # an int is a mistake here
    ],
)
def test_bad_field_value_is_refused_and_named(match: dict[str, object], field: str) -> None:
    with pytest.raises(FlowSpecError) as info:
        FlowSpec.make(0, 10, match, "drop", 0)
    assert info.value.field == field
    assert field in str(info.value)


@pytest.mark.parametrize(
    ("table", "priority", "cookie", "field"),
    [
        (255, 1, 0, "table"),
        (-1, 1, 0, "table"),
        (0, 65536, 0, "priority"),
        (0, -1, 0, "priority"),
        (0, 1, 2**64, "cookie"),
        (0, 1, -1, "cookie"),
    ],
)
def test_out_of_range_header_is_refused(table: int, priority: int, cookie: int, field: str) -> None:
    with pytest.raises(FlowSpecError) as info:
        FlowSpec.make(table, priority, {}, "drop", cookie)
    assert info.value.field == field


def test_header_extremes_are_accepted() -> None:
    spec = FlowSpec.make(254, 65535, {}, "drop", 2**64 - 1)
    assert (spec.table, spec.priority, spec.cookie) == (254, 65535, 2**64 - 1)


def test_error_is_a_value_error_naming_value() -> None:
    with pytest.raises(ValueError, match=r"vlan_vid=10"):
        FlowSpec.make(0, 1, {"vlan_vid": 10}, "drop", 0)


def test_error_accepts_a_free_form_message() -> None:
    error = FlowSpecError("entry with cookie 0x1: not op25b's")
    assert isinstance(error, ValueError)
    assert str(error) == error.reason == "entry with cookie 0x1: not op25b's"
    assert error.field is None and error.value is None


# --- actions --------------------------------------------------------------------


@pytest.mark.parametrize("actions", ["normal", "drop", "goto:1", "goto:254"])
def test_valid_actions(actions: str) -> None:
    assert FlowSpec.make(0, 1, {}, actions, 0).actions == actions


@pytest.mark.parametrize(
    ("table", "actions"),
    [
        (0, "goto:0"),  # goto must go forward
        (3, "goto:2"),
        (0, "goto:255"),
        (0, "goto:"),
        (0, "goto:x"),
        (0, "goto:-1"),
        (0, "NORMAL"),
        (0, "output:1"),
        (0, ""),
    ],
)
def test_invalid_actions(table: int, actions: str) -> None:
    with pytest.raises(FlowSpecError) as info:
        FlowSpec.make(table, 1, {}, actions, 0)
    assert info.value.field == "actions"


def test_goto_is_canonicalised_and_exposed() -> None:
    spec = FlowSpec.make(0, 1, {}, "goto:07", 0)
    assert spec.actions == "goto:7"
    assert spec.goto_table == 7
    assert FlowSpec.make(0, 1, {}, "normal", 0).goto_table is None


# --- canonical form -------------------------------------------------------------


def test_field_order_is_fixed_regardless_of_input_order() -> None:
    spec = FlowSpec.make(
        0,
        1,
        {
            "tcp_dst": 25,
            "ipv4_src": "10.0.0.0/24",
            "ip_proto": 6,
            "vlan_vid": 0x1000 | 10,
            "eth_type": V4,
            "in_port": 3,
        },
        "drop",
        COOKIE,
    )
    assert [field for field, _ in spec.match] == [
        "in_port",
        "eth_type",
        "vlan_vid",
        "ip_proto",
        "ipv4_src",
        "tcp_dst",
    ]
    assert [f for f, _ in spec.match] == [f for f in FIELD_ORDER if f in spec.match_dict]


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("ipv4_src", "10.0.0.5", "10.0.0.5/32"),
        ("ipv4_src", "10.0.0.5/24", "10.0.0.0/24"),  # host bits cleared
        ("ipv4_dst", netaddr.IPNetwork("192.0.2.0/255.255.255.0"), "192.0.2.0/24"),
        ("ipv4_dst", netaddr.IPAddress("192.0.2.1"), "192.0.2.1/32"),
        ("ipv6_src", "2001:DB8:0:0::/56", "2001:db8::/56"),
        ("ipv6_src", "2001:db8::1", "2001:db8::1/128"),
        ("ipv6_dst", "2001:db8:0:0:0:0:0:1/64", "2001:db8::/64"),
    ],
)
def test_addresses_are_canonical_cidr_with_length(field: str, value: object, expected: str) -> None:
    eth_type = V4 if field.startswith("ipv4") else V6
    spec = FlowSpec.make(0, 1, {"eth_type": eth_type, field: value}, "drop", 0)
    assert spec.match_dict[field] == expected


@pytest.mark.parametrize(("field", "value"), [("ipv4_src", "0.0.0.0/0"), ("ipv6_dst", "::/0")])
def test_zero_length_prefix_is_a_wildcard_and_left_out(field: str, value: str) -> None:
    eth_type = V4 if field.startswith("ipv4") else V6
    spec = FlowSpec.make(0, 1, {"eth_type": eth_type, field: value}, "drop", 0)
    assert spec.match == (("eth_type", eth_type),)


def test_zero_length_prefix_still_needs_its_prerequisite() -> None:
    with pytest.raises(FlowSpecError):
        FlowSpec.make(0, 1, {"ipv4_src": "0.0.0.0/0"}, "drop", 0)


def test_equal_entries_written_differently_are_equal_and_hash_equal() -> None:
    a = FlowSpec.make(0, 5, tcp25(ipv4_src="10.0.0.5", in_port=3), "drop", COOKIE)
    b = FlowSpec.make(
        0,
        5,
        {"in_port": 3, "ipv4_src": netaddr.IPNetwork("10.0.0.5/32"), **tcp25()},
        "drop",
        COOKIE,
    )
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b}) == 1


def test_key_ignores_actions_and_cookie() -> None:
    a = FlowSpec.make(0, 5, tcp25(in_port=3), "drop", COOKIE)
    b = FlowSpec.make(0, 5, tcp25(in_port=3), "normal", 0)
    assert a != b
    assert a.key == b.key == (0, 5, a.match)


def test_flowspec_is_immutable() -> None:
    spec = FlowSpec.make(0, 5, {}, "drop", 0)
    with pytest.raises(AttributeError):
        spec.priority = 6  # type: ignore[misc]


def test_match_dict_and_is_ipv6() -> None:
    v6 = FlowSpec.make(0, 5, {"eth_type": V6, "ip_proto": 6, "tcp_dst": 25}, "drop", 0)
    v4 = FlowSpec.make(0, 5, tcp25(), "drop", 0)
    assert v6.match_dict == {"eth_type": V6, "ip_proto": 6, "tcp_dst": 25}
    assert v6.is_ipv6 and not v4.is_ipv6
    assert not FlowSpec.make(0, 0, {}, "normal", 0).is_ipv6


# --- str() like ovs-ofctl dump-flows ---------------------------------------------

STR_CASES = [
    (
        FlowSpec.make(
            0,
            31033,
            tcp25(in_port=3, vlan_vid=0x1000 | 10, ipv4_src="10.0.0.0/24"),
            "drop",
            constants.cookie_for(Band.ATTACHMENT),
        ),
        "cookie=0xb25000000000002, table=0, priority=31033,tcp,in_port=3,dl_vlan=10,"
        "nw_src=10.0.0.0/24,tp_dst=25 actions=drop",
    ),
    (
        FlowSpec.make(
            0,
            31114,
            {
                "in_port": 5,
                "eth_type": V6,
                "ip_proto": 6,
                "ipv6_src": "2001:db8::/56",
                "tcp_dst": 25,
            },
            "normal",
            COOKIE,
        ),
        "cookie=0xb25000000000002, table=0, priority=31114,tcp6,in_port=5,"
        "ipv6_src=2001:db8::/56,tp_dst=25 actions=NORMAL",
    ),
    (
        FlowSpec.make(1, 32000, tcp25(ipv4_dst="192.0.2.25"), "goto:4", 0),
        "cookie=0x0, table=1, priority=32000,tcp,nw_dst=192.0.2.25,tp_dst=25 actions=goto_table:4",
    ),
    (
        FlowSpec.make(0, 7, {"eth_type": V6, "ipv6_dst": "2001:db8::25/128"}, "drop", 0),
        "cookie=0x0, table=0, priority=7,ipv6,ipv6_dst=2001:db8::25 actions=drop",
    ),
    (
        FlowSpec.make(0, 0, {}, "normal", constants.cookie_for(Band.MISS)),
        "cookie=0xb25000000000000, table=0, priority=0 actions=NORMAL",
    ),
    (
        FlowSpec.make(0, 33000, {"in_port": 1}, "normal", 0),
        "cookie=0x0, table=0, priority=33000,in_port=1 actions=NORMAL",
    ),
    (
        FlowSpec.make(0, 5, {"eth_type": V4, "ip_proto": 17}, "drop", 0),
        "cookie=0x0, table=0, priority=5,udp actions=drop",
    ),
    (
        FlowSpec.make(
            0, 5, {"in_port": 2, "eth_type": V4, "ip_proto": 2, "ipv4_src": "10.0.0.0/8"}, "drop", 0
        ),
        "cookie=0x0, table=0, priority=5,ip,in_port=2,nw_src=10.0.0.0/8,nw_proto=2 actions=drop",
    ),
    (
        FlowSpec.make(0, 5, {"in_port": 2, "vlan_vid": 0x1000, "eth_type": 0x88CC}, "drop", 0),
        "cookie=0x0, table=0, priority=5,in_port=2,dl_vlan=0,dl_type=0x88cc actions=drop",
    ),
    (
        # ovs-ofctl leaves out OpenFlow's default priority.
        FlowSpec.make(0, 0x8000, tcp25(), "drop", 0),
        "cookie=0x0, table=0, tcp,tp_dst=25 actions=drop",
    ),
    (
        FlowSpec.make(0, 0x8000, {}, "drop", 0),
        "cookie=0x0, table=0, actions=drop",
    ),
]


@pytest.mark.parametrize(("spec", "text"), STR_CASES)
def test_str_looks_like_dump_flows(spec: FlowSpec, text: str) -> None:
    assert str(spec) == text


def _ovs_match_text(spec: FlowSpec) -> str:
    """Ask the real ovs-ofctl how it prints the match of ``spec``."""
    ours = str(spec)
    match_and_actions = ours.split(", ", 2)[2]
    flow = match_and_actions.replace(" actions=", ",actions=")
    if flow.startswith("actions="):
        flow = f"priority={spec.priority},{flow}"
    out = subprocess.run(
        ["ovs-ofctl", "-O", "OpenFlow13", "parse-flow", f"table={spec.table},{flow}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(line for line in out.splitlines() if "FLOW_MOD" in line)
    body = line.split(": ADD ", 1)[1]
    body = body.split(" ", 1)[1] if body.startswith("table:") else body
    match_text, _, rest = body.partition(" ")
    if match_text.startswith("actions="):
        return ""
    if rest.startswith("cookie:"):
        rest = rest.split(" ", 1)[1]
    return f"{match_text} {rest}"


@pytest.mark.parametrize(("spec", "text"), [c for c in STR_CASES if c[0].match])
def test_str_agrees_with_real_ovs_ofctl(spec: FlowSpec, text: str) -> None:
    """ovs-ofctl parse-flow prints the same match syntax as dump-flows."""
    # Not skipped without OVS: scripts/bootstrap installs it, so a missing
    # ovs-ofctl is a broken setup and must fail loudly.
    assert shutil.which("ovs-ofctl"), "ovs-ofctl not installed: run scripts/bootstrap"
    expected = text.split(", ", 2)[2]
    assert _ovs_match_text(spec) == expected


@pytest.mark.parametrize("name", ["no", "yes", "first", "later", "not_later"])
def test_ip_frag_names_are_accepted_and_rendered_like_ovs(name: str) -> None:
    spec = FlowSpec.make(0, 30500, {"eth_type": 0x0800, "ip_proto": 6, "ip_frag": name,
                                    "tcp_dst": 0}, "drop", 0)
    assert spec.match_dict["ip_frag"] == name
    assert f"tcp,nw_frag={name},tp_dst=0" in str(spec)


@pytest.mark.parametrize("value", ["FIRST", "maybe", 1, None, (1, 3)])
def test_ip_frag_refuses_anything_but_its_names(value: object) -> None:
    with pytest.raises(FlowSpecError) as error:
        FlowSpec.make(0, 1, {"eth_type": 0x0800, "ip_frag": value}, "drop", 0)
    assert error.value.field == "ip_frag"


def test_ip_frag_needs_an_ip_eth_type() -> None:
    with pytest.raises(FlowSpecError, match="ip_frag"):
        FlowSpec.make(0, 1, {"ip_frag": "first"}, "drop", 0)


def test_encapsulation_ethertypes_render_like_ovs() -> None:
    assert str(FlowSpec.make(0, 1, {"eth_type": 0x8847}, "drop", 0)).endswith("mpls actions=drop")
    assert "dl_type=0x8100" in str(FlowSpec.make(0, 1, {"eth_type": 0x8100}, "drop", 0))
    assert "ipv6,nw_proto=0" in str(FlowSpec.make(0, 1, {"eth_type": 0x86DD, "ip_proto": 0},
                                                  "drop", 0))
