"""The customer's page in the lab: real Chromium in the customers' own namespaces.

``op25b customer-page`` runs inside the ``web`` host (10.25.0.80 / fd25::80,
behind the core switch) with TLS on a throw-away certificate, reading the
same SQLite file as the controller. Chromium runs inside bb1 (blocked), bb2
(opt-out with an end date) and new1 (not in the database), so the page sees
each line's real source address, through the real switches. Each browser has
page scripts switched off; what it shows is asserted on, a screenshot of
each page is kept under ``tests/lab/artifacts/customer-page/`` (the test
prints the folder), and axe-core checks each page (WCAG 2.1 A/AA and best
practice) in a second browser.

Chromium and axe-core come from ``scripts/bootstrap``; without them the
test fails with that hint, it never skips.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab import labkit, scenario
from topologies.isp import EDGE_DPID, HOSTS_BY_NAME

REPO = Path(__file__).resolve().parents[2]
BROWSER = Path(__file__).with_name("browser.py")
CHROMIUM = Path("/usr/bin/chromium")
AXE = REPO / "tests" / "lab" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = REPO / "tests" / "lab" / "artifacts" / "customer-page"
PAGE_PORT = 8443
WEB = HOSTS_BY_NAME["web"]
#: bb2's opt-out ends at a fixed time, so the page's wording can be asserted exactly.
OPT_OUT_END = dt.datetime(2099, 12, 31, 15, 0, tzinfo=dt.UTC)  # 2100-01-01 00:00 JST
#: Everything the page must never show anyone: accounts, names, the switch.
NEVER_SHOWN = ("BB-0001", "BB-0002", "DU-0001", "bb1 (broadband)", "bb2 (broadband",
               "du1 (dial-up)", "op25e1", "relay-77 for a client", "/32", "/128")


@dataclasses.dataclass
class PageServer:
    """The running page and what a browser needs to trust it."""

    proc: subprocess.Popen[bytes]
    spki: str
    log: Path


def _require_browser() -> None:
    """Fail, never skip: a missing browser is an install step that did not run."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: run scripts/bootstrap (Debian package chromium)")
    if not AXE.exists():
        pytest.fail(f"{AXE} not found: run scripts/bootstrap (npm axe-core)")


def _certificate(workdir: Path) -> tuple[Path, Path, str]:
    """A throw-away certificate for the web host, and its key's SPKI hash for Chromium."""
    cert, key = workdir / "page.crt", workdir / "page.key"
    labkit.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                "/CN=op25b-lab-page", "-addext",
                f"subjectAltName=IP:{WEB.ip4},IP:{WEB.ip6}", "-keyout", str(key),
                "-out", str(cert)])
    spki = subprocess.run(
        f"openssl x509 -in {cert} -pubkey -noout | openssl pkey -pubin -outform der"
        " | openssl dgst -sha256 -binary | base64",
        shell=True, check=True, capture_output=True, text=True, timeout=30).stdout.strip()
    return cert, key, spki


def _prepare_database(db_url: str) -> None:
    """bb1's line gets its addresses (a port-only line is unknown to an address lookup);
    bb2's opt-out gets an end date."""
    bb1 = HOSTS_BY_NAME["bb1"]
    scenario.op25b(db_url, "subscriber", "attach", "BB-0001", "--attach",
                   f"{EDGE_DPID}:{bb1.port}", "--prefix", f"{bb1.ip4}/32",
                   "--prefix", f"{bb1.ip6}/128")
    scenario.op25b(db_url, "subscriber", "exempt", "BB-0002",
                   "--reason", "runs relay-77 for a client", "--until", OPT_OUT_END.isoformat())


@pytest.fixture(scope="module")
def page(example_lab: labkit.ExampleLab) -> Iterator[PageServer]:
    _require_browser()
    _prepare_database(example_lab.db_url)
    cert, key, spki = _certificate(example_lab.workdir)
    config = example_lab.workdir / "customer.toml"
    config.write_text(f'tls_cert = "{cert.name}"\ntls_key = "{key.name}"\n'
                      'isp_name = "BB-EAST"\nrelay_host = "smtp.bb-east.example"\n'
                      'time_zone = "Asia/Tokyo"\n', encoding="utf-8")
    log = example_lab.workdir / "customer-page.log"
    with log.open("wb") as out:
        proc = example_lab.lab.host("web").popen(
            [sys.executable, "-m", "op25b_app.cli.main", "--db", example_lab.db_url,
             "customer-page", "--listen", f"[::]:{PAGE_PORT}", "--config", str(config)],
            stdout=out, stderr=subprocess.STDOUT, cwd=str(REPO),
            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1"})
    server = PageServer(proc, spki, log)
    try:
        labkit.wait_for(lambda: _listening(example_lab, proc, log), 30,
                        what="the customer page to listen in the web host")
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(15)
        print(f"--- customer page log (exit {proc.returncode}) ---\n{log.read_text()[-4000:]}")


def _listening(example_lab: labkit.ExampleLab, proc: subprocess.Popen[bytes],
               log: Path) -> bool:
    if proc.poll() is not None:
        raise labkit.LabUnavailable(
            f"customer page exited {proc.returncode}:\n{log.read_text()}")
    return example_lab.lab.tcp("bb1", WEB.ip4, PAGE_PORT) == labkit.CONNECTED


def visit(example_lab: labkit.ExampleLab, page: PageServer, host: str, family: int,
          lang: str, query: str = "") -> dict:
    """Chromium inside ``host``'s namespace opens the page; returns what it saw."""
    address = WEB.ip4 if family == 4 else f"[{WEB.ip6}]"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    png = ARTIFACTS / f"{host}-ipv{family}-{lang}{'-switched' if query else ''}.png"
    png.unlink(missing_ok=True)
    proc = example_lab.lab.host(host).popen(
        [labkit.HOST_PYTHON, str(BROWSER), "--url", f"https://{address}:{PAGE_PORT}/{query}",
         "--png", str(png), "--axe", str(AXE), "--lang", lang, "--spki", page.spki],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, f"browser in {host} failed:\n{err[-3000:]}"
    seen: dict = json.loads(out.strip().splitlines()[-1])
    seen["png"] = png
    return seen


def check_page(seen: dict, lang: str, own_address: str) -> None:
    """Language, structure, no scripts, accessibility and privacy of one page as shown."""
    assert seen["lang"] == lang and seen["title"]
    assert seen["scripts_off"] and seen["scripts"] == 0
    assert seen["headings"][0] == "H1" and set(seen["headings"][1:]) == {"H2"}
    assert {"HEADER", "NAV", "MAIN", "FOOTER"} <= set(seen["landmarks"])
    axe = seen["axe"]
    assert axe["violations"] == [], json.dumps(axe["violations"], indent=1)
    assert {"color-contrast", "html-has-lang", "document-title", "heading-order",
            "landmark-one-main"} <= set(axe["passes"])
    text = seen["text"]
    assert own_address in text
    others = {h.ip4 for h in HOSTS_BY_NAME.values()} | {h.ip6 for h in HOSTS_BY_NAME.values()}
    shown = [s for s in (*NEVER_SHOWN, *(others - {own_address})) if s in text]
    assert not shown, f"the page shows {shown}"
    png = seen["png"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    print(f"screenshot: {png}")


def test_each_line_sees_its_own_verdict_in_a_real_browser(
        example_lab: labkit.ExampleLab, page: PageServer) -> None:
    lab = example_lab.lab
    print(f"customer-page screenshots in {ARTIFACTS}")
    # The page agrees with what the switches do.
    assert lab.tcp("bb1", labkit.ip_of("ext", 4), 25) == labkit.TIMEOUT
    assert lab.tcp("bb2", labkit.ip_of("ext", 4), 25) == labkit.CONNECTED

    blocked = visit(example_lab, page, "bb1", 4, "en")
    check_page(blocked, "en", HOSTS_BY_NAME["bb1"].ip4)
    assert "Port 25 is blocked for this line." in blocked["text"]
    assert "Submission port 587 with SMTP authentication" in blocked["text"]
    assert "port 465 (SMTP over SSL)" in blocked["text"]
    assert "smtp.bb-east.example" in blocked["text"]

    blocked6 = visit(example_lab, page, "bb1", 6, "ja")
    check_page(blocked6, "ja", HOSTS_BY_NAME["bb1"].ip6)
    assert "この回線では、ポート25によるメール送信がブロックされています。" in blocked6["text"]

    opted_out = visit(example_lab, page, "bb2", 4, "ja")
    check_page(opted_out, "ja", HOSTS_BY_NAME["bb2"].ip4)
    assert "適用除外が設定されているため、ポート25はブロックされていません" in opted_out["text"]
    assert "2100年1月1日（金）00:00 JST" in opted_out["text"]

    unknown = visit(example_lab, page, "new1", 4, "en")
    check_page(unknown, "en", HOSTS_BY_NAME["new1"].ip4)
    assert "We cannot tell from this address which line it is." in unknown["text"]
    assert "If you connect through our broadband service, port 25 is blocked" in unknown["text"]

    # The visible switch: an English browser asking for ?lang=ja gets Japanese.
    switched = visit(example_lab, page, "new1", 6, "en", "?lang=ja")
    check_page(switched, "ja", HOSTS_BY_NAME["new1"].ip6)
    assert "このアドレスからは、お客様の回線を判別できません。" in switched["text"]


def test_the_page_stops_cleanly(page: PageServer) -> None:
    page.proc.send_signal(signal.SIGTERM)
    assert page.proc.wait(15) == 0, page.log.read_text()
