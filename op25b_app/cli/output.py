"""Everything ``op25b`` writes: command results as text or JSON, tables, times.

Handlers return what to print and never write themselves; ``emit`` is the
one place that does, so ``--json`` and the display zone (``--tz``) apply to
every command the same way.

A handler returns a service view, a list of views, a string, or an
``Output`` when its text differs from its JSON or it has a note for stderr.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import datetime as dt
import json
import re
import unicodedata
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TextIO

from op25b_app import service

if TYPE_CHECKING:
    from op25b_app.service import SubscriberView

#: Runs of characters that may need escaping: anything but newline and printable ASCII.
_SUSPECT = re.compile(r"[^\n -~]+")
_SUSPECT_ANY = re.compile(r"[^ -~]+")
#: The longest line ``op25b`` writes to stderr (an error quoting a huge value is cut).
MAX_ERROR_LINE = 2000

#: The zone times are shown in (``--tz``/$OP25B_TZ); None shows them in UTC.
_DISPLAY_ZONE: contextvars.ContextVar[dt.tzinfo | None] = contextvars.ContextVar(
    "op25b_display_zone", default=None
)


@dataclasses.dataclass(frozen=True)
class Output:
    """A result whose text for people differs from its JSON.

    ``note`` is one line for stderr that goes with the text: context a reader
    needs but that must stay out of stdout (which scripts diff or parse); the
    JSON carries the same facts in ``data``, so it is not written with --json.
    ``text_only`` marks text that is itself a file format (a config entry, a
    hash): --json does not apply to it. ``exit_status`` is the command's exit
    status when it completed but its answer is itself a verdict (op25b doctor).
    """

    text: str
    data: object
    note: str | None = None
    text_only: bool = False
    exit_status: int = 0


@contextlib.contextmanager
def display_zone(zone: dt.tzinfo | None) -> Iterator[None]:
    """Show times in ``zone`` (None: UTC) while the command runs and prints."""
    token = _DISPLAY_ZONE.set(zone)
    try:
        yield
    finally:
        _DISPLAY_ZONE.reset(token)


def emit(result: object, as_json: bool, out: TextIO, err: TextIO) -> None:
    """The one place that writes command results.

    Text goes through ``printable``: stored text (a name written by raw SQL)
    may hold escape sequences, and printing it must not drive the
    operator's terminal. JSON escapes every non-ASCII character itself.
    """
    if isinstance(result, Output):
        if as_json and not result.text_only:
            _write_json(result.data, out)
            return
        if result.text:
            out.write(printable(result.text) + "\n")
        if result.note:
            err.write(printable(result.note) + "\n")
        return
    if as_json:
        _write_json(result, out)
        return
    out.write(printable(human(result)) + "\n")


def error_line(text: str) -> str:
    """One line for stderr: escaped like all output, and cut to ``MAX_ERROR_LINE``."""
    line = printable(text, keep_newlines=False)
    if len(line) > MAX_ERROR_LINE:
        line = f"{line[:MAX_ERROR_LINE]}... (cut: {len(line)} characters)"
    return line


def printable(text: str, *, keep_newlines: bool = True) -> str:
    """``text`` with every character a terminal would act on written as an escape.

    Control characters (ESC, CR, BEL, ...), invisible formatting characters
    (U+202E reverses what follows), line separators and bytes that were not
    UTF-8 become ``\\x1b``, ``\\u202e``, ``\\xff``; ``keep_newlines`` keeps the
    line breaks of a multi-line result (a table). Printable text, Japanese
    included, is unchanged.
    """
    if text.isascii() and text.isprintable():
        return text

    def escape_run(match: re.Match[str]) -> str:
        return "".join(_escape(char, keep_newlines) for char in match.group())

    pattern = _SUSPECT if keep_newlines else _SUSPECT_ANY
    return pattern.sub(escape_run, text)


def _escape(char: str, keep_newlines: bool) -> str:
    if char.isprintable() or (keep_newlines and char == "\n"):
        return char
    if unicodedata.category(char) == "Zs":
        return char  # a wide space (U+3000) in a name stored before such names were refused
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _write_json(data: object, out: TextIO) -> None:
    jsonable = service.to_jsonable(data, _DISPLAY_ZONE.get())
    out.write(json.dumps(jsonable, indent=2, default=str) + "\n")


def human(result: object) -> str:
    """A view, or a list of views of one kind, as text: one detail block or one table."""
    if isinstance(result, service.SubscriberView):
        return subscriber_detail(result)
    # A list holds views of one kind (what one service call returns).
    items: list[Any] = result if isinstance(result, list) else [result]
    if not items:
        return "(none)"
    first = items[0]
    if isinstance(first, service.SwitchView):
        return table(
            ["DPID", "NAME", "ROLE", "UPLINKS", "CAPACITY", "COMPACT"],
            [[f"{s.dpid:#x}", s.name, s.role, ",".join(map(str, s.uplinks)) or "-",
              "-" if s.capacity is None else f"{s.capacity:,}", "yes" if s.compact else "no"]
             for s in items],
        )
    if isinstance(first, service.ConnectionTypeView):
        return table(
            ["NAME", "BLOCKED", "DESCRIPTION"],
            [[t.name, "yes" if t.blocked else "no", t.description] for t in items],
        )
    if isinstance(first, service.MtaView):
        return table(["NAME", "PREFIX"], [[m.name, m.prefix] for m in items])
    if isinstance(first, service.SubscriberView):
        return table(
            ["ACCOUNT", "TYPE", "BLOCKED", "EXEMPT", "UNTIL", "ATTACH", "NAME"],
            [
                [
                    s.account,
                    s.type,
                    "yes" if s.blocked_now else "no",
                    "yes" if s.exempt else "no",
                    when(s.exempt_until) if s.exempt else "-",
                    str(len(s.attachments)),
                    s.name,
                ]
                for s in items
            ],
        )
    return "\n".join(str(i) for i in items)


def subscriber_detail(s: SubscriberView) -> str:
    """One subscriber as labelled lines, its attachments as an indented table."""
    lines = [
        f"account:     {_line(s.account)}",
        f"name:        {_line(s.name)}",
        f"type:        {s.type} ({'blocked' if s.type_blocked else 'exempt'} type)",
        f"tcp/25:      {'BLOCKED' if s.blocked_now else 'allowed'} now",
    ]
    if s.exempt:
        lines.append(f"exempt:      until {when(s.exempt_until)}: {_line(s.exempt_reason or '')}")
    lines.append(f"updated:     {when(s.updated_at)}")
    if s.attachments:
        lines.append("attachments:")
        rows = [
            [
                str(a.id),
                a.switch,
                f"{a.dpid:#x}",
                str(a.port),
                "*" if a.vlan is None else str(a.vlan),
                a.prefix or "*",
                ",".join(a.carries) or "-",
            ]
            for a in s.attachments
        ]
        attached = table(["ID", "SWITCH", "DPID", "PORT", "VLAN", "PREFIX", "CARRIES"], rows)
        lines.extend("  " + line for line in attached.splitlines())
    else:
        lines.append("attachments: none")
    return "\n".join(lines)


def _line(text: str) -> str:
    """Stored text as one printable line (``printable`` without line breaks)."""
    return printable(text, keep_newlines=False)


def when(value: dt.datetime | None) -> str:
    """A time in the display zone to the second; None (no expiry) is "forever".

    A stored time outside the range op25b accepts (only raw SQL writes one)
    is shown in UTC and marked, instead of failing the whole listing.
    """
    if value is None:
        return "forever"
    text = service.in_zone(value, _DISPLAY_ZONE.get()).isoformat(timespec="seconds")
    if value.tzinfo is not None and not service.in_time_range(value):
        text += " (out of range)"
    return text


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Left-aligned columns two spaces apart, without trailing blanks.

    Every cell is made ``printable`` on one line: a stored line break (or a
    tab) must not shift a row or invent one.
    """
    cells = [[printable(c, keep_newlines=False) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*r).rstrip() for r in [headers, *cells])
