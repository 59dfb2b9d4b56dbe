"""Bounded echoes: what an error body may repeat of the request, and how much.

Every error body names the offending field and value, and its message often
embeds the value too (``field 'name' value '...': longer than 200
characters``). Whatever a client sends can come back, so without a bound a
1 MB name produced a 1 MB 400 (and a 70 kB path a 70 kB 404): an amplifier
for anyone with a token, and noise in every client log. Everything an error
body carries passes through here:

* ``echo_value`` - the ``value``: at most ``MAX_ECHO_CHARS`` characters of
  JSON, nested structures previewed to a fixed depth (a deeply nested body
  must not make the *error handler* recurse), numbers JSON can carry
  (``1e999`` parses to infinity, which JSON cannot send back);
* ``echo_text`` - the ``field`` (a dotted path can hold a client's 1 MB key);
* ``bounded_message`` - the ``error``: the embedded value cut like the
  value itself, then the whole message cut in the middle to
  ``MAX_ERROR_CHARS``, keeping its start (what) and its end (why).

All text is made encodable as UTF-8: a JSON body may hold lone surrogates
(``"\\ud800"``), which Python accepts and the response encoder does not.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

#: Longest echoed value or field, so a bad 1 MB string is not sent back whole.
MAX_ECHO_CHARS = 200
#: Longest error message: room for a field, a cut value and the reason.
MAX_ERROR_CHARS = 4 * MAX_ECHO_CHARS
#: How deep a nested value is previewed before it is shown as text.
MAX_ECHO_DEPTH = 8
_CUT = "..."


def echo_text(text: str, limit: int = MAX_ECHO_CHARS) -> str:
    """``text`` cut to ``limit`` characters (marked with ``...``) and made encodable."""
    cut = text if len(text) <= limit else text[:limit] + _CUT
    return _encodable(cut)


def bounded_message(message: str, value: Any = None) -> str:
    """An error message that embeds at most a cut copy of ``value`` and is itself bounded."""
    if isinstance(value, (str, bytes)):
        text = value if isinstance(value, str) else str(value)
        if len(text) > MAX_ECHO_CHARS and text in message:
            message = message.replace(text, text[:MAX_ECHO_CHARS] + _CUT)
    message = _encodable(message)
    if len(message) <= MAX_ERROR_CHARS:
        return message
    half = (MAX_ERROR_CHARS - len(_CUT)) // 2
    return message[:half] + _CUT + message[-half:]


def echo_value(value: Any) -> Any:
    """``value`` made safe to send back: JSON-ready, valid UTF-8 and short.

    Scalars keep their JSON type when they fit; a structure is returned as
    itself when its JSON fits in ``MAX_ECHO_CHARS``, else as its cut JSON text.
    """
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if value is None or isinstance(value, (bool, str, int, float)):
        return _scalar(value)
    preview = _Preview()
    preview.add_value(value, 0)
    text = "".join(preview.parts)
    if preview.truncated or len(text) > MAX_ECHO_CHARS:
        return text[:MAX_ECHO_CHARS] + _CUT
    return json.loads(text)


def _scalar(value: Any) -> Any:
    """A scalar as JSON can carry it, cut to ``MAX_ECHO_CHARS`` characters."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return echo_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, int):
        if value.bit_length() <= 3 * MAX_ECHO_CHARS:  # at most ~180 digits
            return value
        return f"(an integer of {value.bit_length()} bits)"
    return echo_text(str(value))


class _Preview:
    """The JSON text of a nested value, built only up to ``MAX_ECHO_CHARS`` and a fixed depth.

    Iterating with a budget (rather than ``json.dumps`` and cutting) keeps the
    cost of echoing a 1 MB list, or a list nested 900 deep, at a few hundred
    characters - and never deeper than ``MAX_ECHO_DEPTH`` frames.
    """

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.truncated = False

    def add(self, text: str) -> None:
        """Append ``text``; past the budget, only note that something was left out."""
        if self.size > MAX_ECHO_CHARS:
            self.truncated = True
            return
        self.parts.append(text)
        self.size += len(text)

    def add_value(self, value: Any, depth: int) -> None:
        """Append ``value``'s JSON, previewing containers below ``MAX_ECHO_DEPTH``."""
        if isinstance(value, dict):
            self._container("{", "}", ((str(k), v) for k, v in value.items()), depth)
        elif isinstance(value, (list, tuple, set, frozenset)):
            self._container("[", "]", ((None, v) for v in value), depth)
        else:
            self.add(json.dumps(_scalar(value), ensure_ascii=False))

    def _container(self, start: str, end: str, items: Iterable[tuple[str | None, Any]],
                   depth: int) -> None:
        if depth >= MAX_ECHO_DEPTH:
            self.truncated = True
            return
        self.add(start)
        for index, (key, item) in enumerate(items):
            if self.size > MAX_ECHO_CHARS:
                self.truncated = True
                return
            if index:
                self.add(",")
            if key is not None:
                self.add(json.dumps(echo_text(key), ensure_ascii=False) + ":")
            self.add_value(item, depth + 1)
        self.add(end)


def _encodable(text: str) -> str:
    """``text`` with anything UTF-8 cannot carry (lone surrogates) written as escapes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text
