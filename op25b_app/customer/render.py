"""The customer's page as server-rendered HTML: no script, one inline stylesheet.

Everything the page shows is built here from a ``LineVerdict`` and the
catalogue (``texts``); every value goes through ``html.escape`` on the way in,
so an address or a configured name can never become markup. The page works
the same with JavaScript off because it has none: the Content-Security-Policy
allows exactly this stylesheet (by its hash) and nothing else.

Accessibility is built in rather than checked afterwards: ``lang`` on the
document and on the other language's link, one ``h1`` then ``h2`` sections,
``header``/``nav``/``main``/``footer`` landmarks, and colours whose contrast
against their background is at least 4.5:1 (the tests compute it).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
from html import escape

from op25b_app.customer.language import LANGUAGES
from op25b_app.customer.texts import LANGUAGE_NAMES, format_time, text
from op25b_app.service import LineVerdict

STYLE = """
:root{color-scheme:light}
body{margin:0;font-family:system-ui,"IPAGothic","IPAPGothic","Noto Sans CJK JP",sans-serif;
line-height:1.7;color:#1a1a1a;background:#ffffff}
header,main,footer{max-width:46rem;margin:0 auto;padding:0 1rem}
header{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:baseline;
border-bottom:1px solid #767676}
.site{font-weight:bold;margin:0.8rem 0}
nav ul{list-style:none;margin:0.8rem 0;padding:0;display:flex;gap:1rem}
a{color:#0645ad}
a:focus-visible{outline:3px solid #0645ad;outline-offset:2px}
h1{font-size:1.6rem;line-height:1.4}
h2{font-size:1.25rem;margin-top:2rem}
.address{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:1.1rem}
.verdict{border-left:0.4rem solid;padding:0.6rem 1rem;margin:1rem 0}
.verdict p{margin:0.4rem 0}
.lead{font-weight:bold;font-size:1.1rem}
.blocked{color:#7a1010;background:#fdecec;border-color:#b3261e}
.open{color:#0b5323;background:#e7f4ea;border-color:#1e7b34}
.pending{color:#5b3a00;background:#fff3d1;border-color:#8a6100}
.unknown{color:#1f3a5f;background:#e8eef6;border-color:#3c5a80}
.checked{color:#4a4a4a;font-size:0.9rem}
footer{margin-top:2.5rem;border-top:1px solid #767676;color:#4a4a4a;font-size:0.9rem}
"""
#: The CSP source that admits exactly ``STYLE`` (an inline <style> element).
STYLE_HASH = "sha256-" + base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src '{STYLE_HASH}'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)

#: The verdict box's class: its colours say blocked, open, blocked later, or unknown.
BLOCKED, OPEN, PENDING, UNKNOWN = "blocked", "open", "pending", "unknown"


@dataclasses.dataclass(frozen=True, slots=True)
class PageContext:
    """What every page of one response shares: its language and the ISP's names."""

    lang: str
    tz: dt.tzinfo
    isp_name: str = ""
    relay_host: str = ""

    def t(self, key: str, **values: str) -> str:
        """A sentence in this page's language, escaped for HTML."""
        return escape(text(self.lang, key, **values))

    def time(self, when: dt.datetime) -> str:
        """A time in the ISP's zone, written the way this language writes it."""
        return format_time(self.lang, when, self.tz)


def answer_page(ctx: PageContext, verdict: LineVerdict, now: dt.datetime) -> str:
    """The answer for the requester's own line (``verdict``) at ``now``."""
    kind, sentences = verdict_sentences(ctx, verdict)
    lead, rest = sentences[0], sentences[1:]
    box = (f'<div class="verdict {kind}"><p class="lead">{lead}</p>'
           + "".join(f"<p>{s}</p>" for s in rest) + "</div>")
    relay = (ctx.t("relay_named", relay=ctx.relay_host) if ctx.relay_host
             else ctx.t("relay_ok"))
    main = (
        f"<h1>{ctx.t('h1')}</h1>"
        f'<p>{ctx.t("address")} <strong class="address">{escape(verdict.address)}</strong></p>'
        f'<section aria-labelledby="h-line"><h2 id="h-line">{ctx.t("h_line")}</h2>{box}'
        f'<p class="checked">{ctx.t("checked", time=ctx.time(now))}</p></section>'
        f'<section aria-labelledby="h-change"><h2 id="h-change">{ctx.t("h_change")}</h2>'
        f"<p>{ctx.t('change_intro')}</p>"
        f"<ul><li>{ctx.t('port587')}</li><li>{ctx.t('port465')}</li></ul>"
        f"<p>{ctx.t('ask_admin')}</p><p>{relay}</p></section>"
        f'<section aria-labelledby="h-why"><h2 id="h-why">{ctx.t("h_why")}</h2>'
        f"<p>{ctx.t('why')}</p></section>"
    )
    return _document(ctx, ctx.t("title"), main)


def verdict_sentences(ctx: PageContext, verdict: LineVerdict) -> tuple[str, list[str]]:
    """The verdict box's class and its sentences (escaped), first one the lead."""
    if not verdict.known:
        if not verdict.monitoring:
            general = ctx.t("unknown_blocked")
        elif verdict.enforce_at is not None:
            general = ctx.t("unknown_dated", time=ctx.time(verdict.enforce_at))
        else:
            general = ctx.t("unknown_undated")
        return UNKNOWN, [ctx.t("unknown"), ctx.t("unknown_why"), general,
                         ctx.t("unknown_advice")]
    if verdict.blocked_now:
        return BLOCKED, [ctx.t("blocked"), ctx.t("blocked_detail")]
    if not verdict.subject:
        return OPEN, [ctx.t("not_subject")]
    later = verdict.blocked_from
    if verdict.opt_out:
        lead = (ctx.t("opt_out_until", time=ctx.time(verdict.opt_out_until))
                if verdict.opt_out_until is not None else ctx.t("opt_out_forever"))
    else:
        lead = ctx.t("not_yet_dated") if later is not None else ctx.t("not_yet_undated")
    if later is None:
        return OPEN, [lead]
    return PENDING, [lead, ctx.t("blocked_from", time=ctx.time(later))]


def short_page(ctx: PageContext, title_key: str, body_key: str, **values: str) -> str:
    """A page with one message (429, 503, 404, ...) and a way back to the answer."""
    main = (f"<h1>{ctx.t(title_key)}</h1><p>{ctx.t(body_key, **values)}</p>"
            f'<p><a href="/?lang={ctx.lang}">{ctx.t("back")}</a></p>')
    return _document(ctx, ctx.t(title_key), main)


def _document(ctx: PageContext, title: str, main: str) -> str:
    """The frame every page shares: head, header with the language switch, footer."""
    site = ctx.t("site", isp=ctx.isp_name)
    return (
        f'<!DOCTYPE html>\n<html lang="{ctx.lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{title}</title><style>{STYLE}</style></head>"
        f'<body><header><p class="site">{site}</p>{_language_nav(ctx)}</header>'
        f"<main>{main}</main>"
        f"<footer><p>{ctx.t('footer')}</p></footer></body></html>\n"
    )


def _language_nav(ctx: PageContext) -> str:
    """The visible switch: each language named in itself, the current one marked."""
    items = []
    for lang in LANGUAGES:
        name = escape(LANGUAGE_NAMES[lang])
        if lang == ctx.lang:
            items.append(f'<li><span aria-current="true" lang="{lang}">{name}</span></li>')
        else:
            items.append(f'<li><a href="?lang={lang}" hreflang="{lang}" lang="{lang}">'
                         f"{name}</a></li>")
    return f'<nav aria-label="{ctx.t("nav_label")}"><ul>{"".join(items)}</ul></nav>'
