"""The page's request handling in isolation: language, source address, rate limit, config."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from op25b_app.customer import CustomerConfigError, RateLimiter, load_config
from op25b_app.customer.client_address import client_address, parse_address
from op25b_app.customer.language import choose_language
from op25b_app.customer.rate_limit import source_key

PROXIES = (ipaddress.ip_network("10.0.0.0/24"), ipaddress.ip_network("2001:db8:ff::/48"))


# ------------------------------------------------------------------ language


@pytest.mark.parametrize(("query", "header", "default", "expected"), [
    (None, "ja-JP,ja;q=0.9,en;q=0.8", "ja", "ja"),
    (None, "en-US,en;q=0.9,ja;q=0.5", "ja", "en"),
    (None, "fr-FR,en;q=0.3,ja;q=0.7", "en", "ja"),
    (None, "ja;q=0.5,en;q=0.5", "en", "ja"),  # equal weight: the first listed
    (None, "fr,de", "ja", "ja"),  # neither: the default
    (None, "fr,de", "en", "en"),
    (None, "*", "en", "en"),
    (None, "ja;q=0,en;q=0.1", "ja", "en"),  # q=0 means "not this one"
    (None, "ja;q=abc,en", "ja", "en"),  # a malformed weight drops the item
    (None, None, "ja", "ja"),
    (None, "", "en", "en"),
    ("en", "ja", "ja", "en"),  # the switch link wins
    ("ja", "en", "en", "ja"),
    ("de", "en", "ja", "en"),  # an unknown ?lang= is ignored
])
def test_language_choice(query: str | None, header: str | None, default: str,
                         expected: str) -> None:
    assert choose_language(query, header, default) == expected


# ------------------------------------------------------------------ source address


def test_the_peer_is_the_client_without_a_trusted_proxy() -> None:
    assert str(client_address("198.51.100.7", ["203.0.113.1"], PROXIES)) == "198.51.100.7"
    assert str(client_address("198.51.100.7", ["203.0.113.1"], ())) == "198.51.100.7"


def test_forwarded_for_from_a_trusted_proxy() -> None:
    assert str(client_address("10.0.0.5", ["198.51.100.7"], PROXIES)) == "198.51.100.7"


def test_client_written_entries_left_of_the_first_untrusted_hop_are_ignored() -> None:
    """The client sent 'X-Forwarded-For: 192.0.2.1' itself; the proxy appended the truth."""
    header = ["192.0.2.1, 198.51.100.7"]
    assert str(client_address("10.0.0.5", header, PROXIES)) == "198.51.100.7"


def test_a_chain_of_trusted_proxies_is_walked_from_the_right() -> None:
    headers = ["198.51.100.7, 10.0.0.9", "2001:db8:ff::1"]
    assert str(client_address("10.0.0.5", headers, PROXIES)) == "198.51.100.7"


def test_garbage_stops_at_the_last_trusted_hop() -> None:
    assert str(client_address("10.0.0.5", ["198.51.100.7, unknown"], PROXIES)) == "10.0.0.5"
    assert str(client_address("10.0.0.5", [], PROXIES)) == "10.0.0.5"


def test_address_forms() -> None:
    assert str(parse_address("::ffff:198.51.100.7")) == "198.51.100.7"
    assert str(parse_address("[2001:db8::1]:443")) == "2001:db8::1"
    assert str(parse_address("198.51.100.7:5000")) == "198.51.100.7"
    assert str(parse_address("fe80::1%eth0")) == "fe80::1"
    assert parse_address("testclient") is None
    assert parse_address(None) is None
    assert client_address("testclient", [], PROXIES) is None


# ------------------------------------------------------------------ rate limit


def test_bucket_empties_then_refills_evenly() -> None:
    now = [0.0]
    limiter = RateLimiter(3, 30, clock=lambda: now[0])
    address = ipaddress.ip_address("198.51.100.7")
    assert [limiter.check(address) for _ in range(4)] == [None, None, None, 10]
    now[0] = 9.0
    assert limiter.check(address) == 1
    now[0] = 10.0
    assert limiter.check(address) is None
    assert limiter.check(address) == 10


def test_ipv6_sources_share_a_bucket_per_64() -> None:
    limiter = RateLimiter(2, 60, clock=lambda: 0.0)
    assert limiter.check(ipaddress.ip_address("2001:db8:1:2::1")) is None
    assert limiter.check(ipaddress.ip_address("2001:db8:1:2::ffff")) is None
    assert limiter.check(ipaddress.ip_address("2001:db8:1:2:aaaa::1")) is not None
    assert limiter.check(ipaddress.ip_address("2001:db8:1:3::1")) is None
    assert source_key(ipaddress.ip_address("2001:db8:1:2::1")) == "2001:db8:1:2::/64"


def test_the_bucket_table_is_bounded() -> None:
    now = [0.0]
    limiter = RateLimiter(2, 60, clock=lambda: now[0], max_sources=100)
    for i in range(1000):
        now[0] = i * 0.001
        limiter.check(ipaddress.ip_address(f"10.1.{i // 256}.{i % 256}"))
        assert limiter.tracked() <= 100


def test_a_limit_must_allow_something() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0, 60)


# ------------------------------------------------------------------ config


def test_config_file(tmp_path: Path) -> None:
    path = tmp_path / "customer.toml"
    path.write_text(
        'listen = "[::]:8443"\ntls_cert = "page.crt"\ntls_key = "page.key"\n'
        'trusted_proxies = ["10.0.0.0/24", "2001:db8::10/128"]\n'
        'rate_limit = 5\nrate_window_seconds = 30\ndefault_language = "en"\n'
        'time_zone = "Asia/Tokyo"\nisp_name = "BB-EAST"\nrelay_host = "smtp.example"\n',
        encoding="utf-8")
    config = load_config(path)
    assert config.listen == "[::]:8443" and config.tls_cert == tmp_path / "page.crt"
    assert [str(n) for n in config.trusted_proxies] == ["10.0.0.0/24", "2001:db8::10/128"]
    assert (config.rate_limit, config.rate_window_seconds) == (5, 30.0)
    assert config.default_language == "en" and str(config.time_zone) == "Asia/Tokyo"
    assert load_config(None).rate_limit == 20


@pytest.mark.parametrize(("text", "message"), [
    ('trusted_proxy = ["10.0.0.0/24"]', "unknown key 'trusted_proxy'"),
    ('trusted_proxies = ["10.0.0.1/24"]', "key 'trusted_proxies' value '10.0.0.1/24'"),
    ('trusted_proxies = "10.0.0.0/24"', "must be an array"),
    ("rate_limit = 0", "key 'rate_limit' value 0"),
    ("rate_limit = 2.5", "must be a positive integer"),
    ("rate_window_seconds = true", "key 'rate_window_seconds'"),
    ('default_language = "fr"', "must be one of ja, en"),
    ('time_zone = "Mars/Olympus"', "unknown time zone"),
    ("listen = [", "not valid TOML"),
])
def test_config_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "customer.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CustomerConfigError, match=message.replace("[", r"\[")):
        load_config(path)
