"""The customer's page over ASGI: verdicts, languages, privacy, headers, limits.

Requests come from chosen source addresses (the test client's ``client``),
exactly what the page keys its answer on.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import warnings
import zoneinfo
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from op25b_app.customer import CustomerConfig, RateLimiter, create_app
from op25b_app.customer.render import STYLE
from op25b_app.service import (
    AttachmentSpec,
    DatabaseUnavailable,
    LineLookup,
    LineVerdict,
    PolicyService,
)

with warnings.catch_warnings():
    # Starlette would rather have httpx2; the httpx the project pins works the same here.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

NOW = dt.datetime(2026, 6, 1, 3, 0, tzinfo=dt.UTC)
OPT_OUT_END = dt.datetime(2026, 6, 30, 15, 0, tzinfo=dt.UTC)  # 2026-07-01 00:00 JST
TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")

#: account, name, type, port, prefixes, the address the customer browses from.
SUBSCRIBERS = (
    ("BB-7001", "Taro Yamada", "broadband", 2, ("198.51.100.7/32", "2001:db8:700::/56"),
     "198.51.100.7"),
    ("BB-7002", "Hanako Suzuki", "broadband", 3, ("198.51.100.8/32",), "198.51.100.8"),
    ("DU-7003", "Jiro Tanaka", "dialup", 4, ("203.0.113.0/25",), "203.0.113.77"),
    ("BB-7004", "Saburo Sato", "broadband", 5, ("2001:db8:704::/48",), "2001:db8:704:1::9"),
)
UNKNOWN = "192.0.2.200"


@pytest.fixture
def engine(sqlite_engine: sa.Engine) -> sa.Engine:
    svc = PolicyService(sqlite_engine, clock=lambda: NOW)
    svc.add_switch(1, "edge-tokyo-1", uplinks=[1])
    for account, name, kind, port, prefixes, _ in SUBSCRIBERS:
        svc.add_subscriber(account, name, kind, [AttachmentSpec(1, port, None, prefixes)])
    svc.exempt_subscriber("BB-7002", "runs its own mail server", until=OPT_OUT_END)
    return sqlite_engine


def make_app(engine: sa.Engine, limiter: RateLimiter | None = None, *, tls: bool = False,
             **config: object) -> FastAPI:
    return create_app(LineLookup(engine), CustomerConfig(**config),  # type: ignore[arg-type]
                      tz=TOKYO, clock=lambda: NOW, limiter=limiter, tls=tls)


@pytest.fixture
def app(engine: sa.Engine) -> FastAPI:
    return make_app(engine, isp_name="BB-EAST", relay_host="smtp.bb-east.example")


def get(app: FastAPI, source: str, path: str = "/", **headers: str) -> object:
    with TestClient(app, client=(source, 40000)) as client:
        return client.get(path, headers=headers)


def visible_text(html: str) -> str:
    """The page's text without tags, style and entities (what a reader sees)."""
    html = re.sub(r"<style>.*?</style>", "", html, flags=re.DOTALL)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#x27;", "'")


def test_blocked_line_in_english(app: FastAPI) -> None:
    response = get(app, "198.51.100.7", **{"Accept-Language": "en-GB,en;q=0.9"})
    assert response.status_code == 200
    text = visible_text(response.text)
    assert "Port 25 is blocked for this line." in text
    assert "198.51.100.7" in text
    assert "Submission port 587 with SMTP authentication" in text
    assert "port 465 (SMTP over SSL)" in text
    assert "Mail sent through our own mail server (smtp.bb-east.example) keeps working" in text
    assert '<html lang="en">' in response.text


def test_blocked_line_in_japanese(app: FastAPI) -> None:
    response = get(app, "2001:db8:700:1::25", **{"Accept-Language": "ja,en;q=0.5"})
    text = visible_text(response.text)
    assert '<html lang="ja">' in response.text
    assert "この回線では、ポート25によるメール送信がブロックされています。" in text
    assert "Submissionポート（ポート587）とSMTP認証" in text
    assert "ポート465（SMTP over SSL）" in text
    assert "2001:db8:700:1::25" in text


def test_opt_out_with_its_end_in_the_isps_zone(app: FastAPI) -> None:
    en = visible_text(get(app, "198.51.100.8", **{"Accept-Language": "en"}).text)
    assert "an opt-out applies until Wednesday 1 July 2026, 00:00 JST" in en
    assert "From Wednesday 1 July 2026, 00:00 JST, port 25 will be blocked" in en
    ja = visible_text(get(app, "198.51.100.8", **{"Accept-Language": "ja"}).text)
    assert "適用除外の期限：2026年7月1日（水）00:00 JST" in ja


def test_dialup_line(app: FastAPI) -> None:
    text = visible_text(get(app, "203.0.113.77", **{"Accept-Language": "en"}).text)
    assert "is not subject to Outbound Port 25 Blocking" in text


def test_unknown_address_gets_the_general_rule(app: FastAPI) -> None:
    text = visible_text(get(app, UNKNOWN, **{"Accept-Language": "en"}).text)
    assert "We cannot tell from this address which line it is." in text
    assert "If you connect through our broadband service, port 25 is blocked" in text
    ja = visible_text(get(app, UNKNOWN, **{"Accept-Language": "ja"}).text)
    assert "このアドレスからは、お客様の回線を判別できません。" in ja


def test_scheduled_enforcement_is_announced(engine: sa.Engine, app: FastAPI) -> None:
    start = dt.datetime(2026, 12, 11, 15, 0, tzinfo=dt.UTC)  # 2026-12-12 00:00 JST
    PolicyService(engine, clock=lambda: NOW).set_enforcement("monitor", start)
    own = visible_text(get(app, "198.51.100.7", **{"Accept-Language": "en"}).text)
    assert "Port 25 is not blocked for this line yet." in own
    assert "From Saturday 12 December 2026, 00:00 JST, port 25 will be blocked" in own
    other = visible_text(get(app, UNKNOWN, **{"Accept-Language": "ja"}).text)
    assert "2026年12月12日（土）00:00 JSTからポート25がブロックされます" in other


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_no_other_subscribers_data_on_any_page(app: FastAPI, lang: str) -> None:
    """Every customer's page holds their own address and no account, name, prefix,
    switch or other customer's address - not even their own account or prefix."""
    secrets = {"edge-tokyo-1", "runs its own mail server"}
    for account, name, _, _, prefixes, _ in SUBSCRIBERS:
        secrets |= {account, name, *prefixes, *(p.split("/")[0] for p in prefixes)}
    sources = [s[5] for s in SUBSCRIBERS] + [UNKNOWN]
    for source in sources:
        html = get(app, source, **{"Accept-Language": lang}).text
        assert source in html
        leaked = sorted(s for s in (secrets | set(sources)) - {source} if s in html)
        assert not leaked, f"page for {source} shows {leaked}"
        assert "/" not in visible_text(html), f"a prefix-like text on the page for {source}"


def test_query_switch_overrides_accept_language(app: FastAPI) -> None:
    page = get(app, "198.51.100.7", "/?lang=en", **{"Accept-Language": "ja"})
    assert '<html lang="en">' in page.text and page.headers["Content-Language"] == "en"
    assert '<a href="?lang=ja" hreflang="ja" lang="ja">日本語</a>' in page.text
    default = get(app, "198.51.100.7", **{"Accept-Language": "fr"})
    assert '<html lang="ja">' in default.text
    assert '<a href="?lang=en" hreflang="en" lang="en">English</a>' in default.text


def test_security_headers(engine: sa.Engine, app: FastAPI) -> None:
    for response in (get(app, "198.51.100.7"), get(app, "198.51.100.7", "/nothing")):
        headers = response.headers
        assert headers["Content-Security-Policy"].startswith("default-src 'none'; style-src ")
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["Cache-Control"] == "no-store"
        assert "Strict-Transport-Security" not in headers
        assert "<script" not in response.text.lower()
        assert not re.search(r"\son[a-z]+=", response.text)
    assert "Strict-Transport-Security" in get(make_app(engine, tls=True), UNKNOWN).headers


def test_configured_names_are_escaped(engine: sa.Engine) -> None:
    app = make_app(engine, isp_name="<script>x</script>", relay_host='smtp" onload="x')
    html = get(app, "198.51.100.7", **{"Accept-Language": "en"}).text
    assert "<script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    assert 'smtp" onload' not in html


def test_forwarded_for_only_from_trusted_proxies(engine: sa.Engine) -> None:
    app = make_app(engine, trusted_proxies=(ipaddress.ip_network("10.0.0.0/24"),))
    via_proxy = get(app, "10.0.0.5", **{"X-Forwarded-For": "198.51.100.7"})
    assert "198.51.100.7" in via_proxy.text and "10.0.0.5" not in via_proxy.text
    forged = get(app, UNKNOWN, **{"X-Forwarded-For": "198.51.100.7"})
    assert "198.51.100.7" not in forged.text and UNKNOWN in forged.text


def test_rate_limit_answers_429_with_a_short_page(engine: sa.Engine) -> None:
    ticks = [0.0]
    app = make_app(engine, RateLimiter(3, 60, clock=lambda: ticks[0]))
    codes = [get(app, "198.51.100.7", **{"Accept-Language": "en"}).status_code
             for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = get(app, "198.51.100.7", **{"Accept-Language": "en"})
    assert limited.headers["Retry-After"] == "20"
    assert "Too many requests from this address" in visible_text(limited.text)
    assert "198.51.100.7" not in limited.text and len(limited.text) < 4000
    assert get(app, "198.51.100.8").status_code == 200  # another source has its own bucket
    ticks[0] = 20.0
    assert get(app, "198.51.100.7").status_code == 200


def test_other_paths_and_methods(app: FastAPI) -> None:
    missing = get(app, "198.51.100.7", "/admin", **{"Accept-Language": "en"})
    assert missing.status_code == 404 and "Page not found" in missing.text
    assert missing.headers["content-type"].startswith("text/html")
    with TestClient(app, client=("198.51.100.7", 40000)) as client:
        post = client.post("/")
        assert post.status_code == 405 and post.headers["Allow"] == "GET, HEAD"
        head = client.head("/")
        assert head.status_code == 200 and head.content == b""


def test_database_outage_is_a_short_503(engine: sa.Engine) -> None:
    class Down(LineLookup):
        def line_verdict(self, address: str, now: dt.datetime | None = None) -> LineVerdict:
            raise DatabaseUnavailable("sqlite:///x", "unable to open database file")

    app = create_app(Down(engine), CustomerConfig(), clock=lambda: NOW)
    response = get(app, "198.51.100.7", **{"Accept-Language": "en"})
    assert response.status_code == 503
    assert "We cannot check your line right now" in response.text
    assert "sqlite" not in response.text


# ------------------------------------------------------------------ contrast


def _luminance(colour: str) -> float:
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours."""
    light, dark = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _rules() -> Iterator[tuple[str, dict[str, str]]]:
    for selector, body in re.findall(r"([^{}]+)\{([^}]*)\}", STYLE):
        props = dict(p.split(":", 1) for p in body.replace("\n", "").split(";") if ":" in p)
        yield selector.strip(), {k.strip(): v.strip() for k, v in props.items()}


def test_every_text_colour_has_enough_contrast() -> None:
    """WCAG AA, 4.5:1, for each colour on its own background or the page's."""
    rules = dict(_rules())
    page = rules["body"]["background"]
    pairs = [(sel, p["color"], p.get("background", page)) for sel, p in rules.items()
             if "color" in p]
    assert len(pairs) >= 7  # body, links, the four verdicts, footer...
    weak = [(sel, fg, bg, round(contrast(fg, bg), 2)) for sel, fg, bg in pairs
            if contrast(fg, bg) < 4.5]
    assert not weak
    # Links sit on the page background; the verdict boxes hold no links.
    assert contrast(rules["a"]["color"], page) >= 4.5
    assert contrast("#1a1a1a", "#ffffff") > 15  # the formula itself, on a known pair
