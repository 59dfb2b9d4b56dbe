"""Runs inside a lab host's namespace: Debian's Chromium visits one page with JavaScript off.

``browser.py --url URL --png FILE [--axe axe.min.js] [--lang ja] [--spki HASH]``
prints one JSON object: what the page shows (``lang``, ``title``, ``text``,
``headings``, ``landmarks``), whether page scripts really were off, and axe-core's
accessibility violations. A screenshot of the whole page goes to ``--png``.

Chromium is driven over the DevTools protocol on a pipe
(``--remote-debugging-pipe``: JSON messages separated by NUL bytes on file
descriptors 3 and 4), so the lab needs no WebDriver, no websocket library and no
Node.js at run time: Debian's ``/usr/bin/python3`` and ``/usr/bin/chromium``.
The page is read and photographed by a Chromium whose page scripts are disabled
(``--blink-settings=scriptEnabled=false``): what it shows is what a customer
without JavaScript sees. Reading the DOM through the protocol still works there,
as DevTools' console would, but axe-core's checks are asynchronous and timers do
not run without scripts, so the accessibility check loads the same URL in a
second, ordinary Chromium (the page has no scripts of its own either way: its CSP
allows none). The flags are the ones this machine kind's notes give for a closed
network (no background connections, no sandbox as root).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1000,900", "--remote-debugging-pipe"]
SCRIPTS_OFF = "--blink-settings=scriptEnabled=false"
TIMEOUT_S = 60.0
#: Proof that page scripts are off: the script would change the text.
SCRIPT_PROBE = ("data:text/html,<p id=p>scripts-off</p>"
                "<script>document.getElementById('p').textContent='scripts-on'</script>")
READ_PAGE = """JSON.stringify({
  lang: document.documentElement.lang, title: document.title,
  text: document.body.innerText,
  headings: [...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].map(h => h.tagName),
  landmarks: [...document.querySelectorAll('header,nav,main,footer')].map(e => e.tagName),
  scripts: document.scripts.length})"""
RUN_AXE = """axe.run(document, {runOnly: {type: 'tag',
    values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})
  .then(r => JSON.stringify({
    violations: r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                        nodes: v.nodes.map(n => n.target.join(' '))})),
    passes: r.passes.map(p => p.id), incomplete: r.incomplete.map(i => i.id)}))"""


class Chromium:
    """One headless Chromium and one page, spoken to over the DevTools pipe."""

    def __init__(self, extra_flags: list[str]) -> None:
        self.profile = tempfile.mkdtemp(prefix="op25b-chromium-")
        to_browser, self._write_end = os.pipe()
        self._read_end, from_browser = os.pipe()

        def wire_pipes() -> None:  # in the child: the protocol's fixed descriptors
            os.dup2(to_browser, 3)
            os.dup2(from_browser, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, *extra_flags, f"--user-data-dir={self.profile}", "about:blank"],
            pass_fds=(3, 4), preexec_fn=wire_pipes,  # noqa: PLW1509 - no threads here
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget",
                                 {"targetId": target, "flatten": True})["sessionId"]
        self.call("Page.enable", session=True)

    def call(self, method: str, params: dict[str, Any] | None = None,
             session: bool = False) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method,
                                   "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self._write_end, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply["result"]
                return result
            self._events.append(reply)

    def navigate(self, url: str) -> None:
        self._events.clear()
        result = self.call("Page.navigate", {"url": url}, session=True)
        if result.get("errorText"):
            raise RuntimeError(f"{url}: {result['errorText']}")
        while not any(e.get("method") == "Page.loadEventFired" for e in self._events):
            self._events.append(self._receive())

    def evaluate(self, expression: str, *, wait: bool = False) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": wait}, session=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluation failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: str) -> None:
        size = self.call("Page.getLayoutMetrics", session=True)["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = self.call("Page.captureScreenshot", {"format": "png", "clip": clip,
                                                    "captureBeyondViewport": True}, session=True)
        with open(path, "wb") as handle:
            handle.write(base64.b64decode(shot["data"]))

    def close(self) -> None:
        try:
            self.call("Browser.close")
            self.proc.wait(timeout=15)
        except Exception:  # noqa: BLE001 - a browser that will not close is killed
            self.proc.kill()
            self.proc.wait(timeout=15)
        finally:
            os.close(self._write_end)
            os.close(self._read_end)
            shutil.rmtree(self.profile, ignore_errors=True)

    def _receive(self) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT_S
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._read_end], [], [], remaining)[0]:
                raise TimeoutError(f"Chromium said nothing for {TIMEOUT_S:.0f} s")
            chunk = os.read(self._read_end, 1 << 16)
            if not chunk:
                raise EOFError(f"Chromium closed the pipe (exit {self.proc.poll()})")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        parsed: dict[str, Any] = json.loads(message)
        return parsed


def visit(url: str, png: str, axe_path: str | None, lang: str | None,
          spki: str | None) -> dict[str, Any]:
    """Everything the test asserts on, from one browser visit to ``url``."""
    flags = [f"--lang={lang}", f"--accept-lang={lang}"] if lang else []
    if spki:
        # Trust exactly the lab server's throw-away key, nothing else.
        flags.append(f"--ignore-certificate-errors-spki-list={spki}")
    browser = Chromium([SCRIPTS_OFF, *flags])
    try:
        browser.navigate(SCRIPT_PROBE)
        scripts_off = browser.evaluate("document.getElementById('p').textContent")
        browser.navigate(url)
        page: dict[str, Any] = json.loads(browser.evaluate(READ_PAGE))
        page["scripts_off"] = scripts_off == "scripts-off"
        browser.screenshot(png)
    finally:
        browser.close()
    if axe_path:
        page["axe"] = audit(url, axe_path, flags)
    return page


def audit(url: str, axe_path: str, flags: list[str]) -> dict[str, Any]:
    """axe-core's WCAG 2.1 A/AA and best-practice results for ``url``."""
    with open(axe_path, encoding="utf-8") as handle:
        axe_source = handle.read()
    browser = Chromium(flags)
    try:
        browser.navigate(url)
        browser.evaluate(axe_source)
        result: dict[str, Any] = json.loads(browser.evaluate(RUN_AXE, wait=True))
        return result
    finally:
        browser.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--png", required=True)
    parser.add_argument("--axe", default=None)
    parser.add_argument("--lang", default=None)
    parser.add_argument("--spki", default=None)
    args = parser.parse_args()
    print(json.dumps(visit(args.url, args.png, args.axe, args.lang, args.spki)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
