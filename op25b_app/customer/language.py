"""Which language a page is in: ``?lang=`` first, then ``Accept-Language``.

The page exists in Japanese (the ISP's own language, the seed page's) and
English. An explicit ``?lang=ja|en`` (the visible switch link) always wins, so
a customer whose browser sends the "wrong" preference can still read the
page. Otherwise the highest-weighted language the browser accepts that we
have is used, ``*`` meaning the configured default; a browser that accepts
neither gets the default (``ja`` unless the config says otherwise).
"""

from __future__ import annotations

JAPANESE = "ja"
ENGLISH = "en"
#: The languages of the page, in the order the switch link lists them.
LANGUAGES: tuple[str, ...] = (JAPANESE, ENGLISH)
DEFAULT_LANGUAGE = JAPANESE


def choose_language(query: str | None, accept_language: str | None, default: str) -> str:
    """The language to answer in (one of ``LANGUAGES``)."""
    if query in LANGUAGES:
        return query
    best, best_q = default, 0.0
    for tag, weight in _accepted(accept_language or ""):
        primary = tag.split("-", 1)[0]
        language = default if primary == "*" else primary
        # Strictly greater: at equal weights the first one listed wins.
        if language in LANGUAGES and weight > best_q:
            best, best_q = language, weight
    return best


def _accepted(header: str) -> list[tuple[str, float]]:
    """``Accept-Language`` as (lower-case tag, q) pairs; malformed items are skipped."""
    items: list[tuple[str, float]] = []
    for part in header.split(",")[:32]:  # a browser sends a handful; bound the work
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower()
        if not tag:
            continue
        weight = 1.0
        key, _, value = params.strip().partition("=")
        if key.strip() == "q":
            try:
                weight = float(value)
            except ValueError:
                continue
            if not 0.0 <= weight <= 1.0:
                continue
        if weight > 0:
            items.append((tag, weight))
    return items
