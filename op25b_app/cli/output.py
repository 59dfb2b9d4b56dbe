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
from collections.abc import Iterator
from typing import Any, TextIO

from op25b_app.service import (
    ConnectionTypeView,
    MtaView,
    SubscriberView,
    SwitchView,
    to_jsonable,
)

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
    """The one place that writes command results."""
    if isinstance(result, Output):
        if as_json and not result.text_only:
            _write_json(result.data, out)
            return
        if result.text:
            out.write(result.text + "\n")
        if result.note:
            err.write(result.note + "\n")
        return
    if as_json:
        _write_json(result, out)
        return
    out.write(human(result) + "\n")


def _write_json(data: object, out: TextIO) -> None:
    out.write(json.dumps(to_jsonable(data, _DISPLAY_ZONE.get()), indent=2, default=str) + "\n")


def human(result: object) -> str:
    """A view, or a list of views of one kind, as text: one detail block or one table."""
    if isinstance(result, SubscriberView):
        return subscriber_detail(result)
    # A list holds views of one kind (what one service call returns).
    items: list[Any] = result if isinstance(result, list) else [result]
    if not items:
        return "(none)"
    first = items[0]
    if isinstance(first, SwitchView):
        return table(
            ["DPID", "NAME", "ROLE", "UPLINKS"],
            [[f"{s.dpid:#x}", s.name, s.role, ",".join(map(str, s.uplinks)) or "-"] for s in items],
        )
    if isinstance(first, ConnectionTypeView):
        return table(
            ["NAME", "BLOCKED", "DESCRIPTION"],
            [[t.name, "yes" if t.blocked else "no", t.description] for t in items],
        )
    if isinstance(first, MtaView):
        return table(["NAME", "PREFIX"], [[m.name, m.prefix] for m in items])
    if isinstance(first, SubscriberView):
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
        f"account:     {s.account}",
        f"name:        {s.name}",
        f"type:        {s.type} ({'blocked' if s.type_blocked else 'exempt'} type)",
        f"tcp/25:      {'BLOCKED' if s.blocked_now else 'allowed'} now",
    ]
    if s.exempt:
        lines.append(f"exempt:      until {when(s.exempt_until)}: {s.exempt_reason}")
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


def when(value: dt.datetime | None) -> str:
    """A time in the display zone to the second; None (no expiry) is "forever"."""
    if value is None:
        return "forever"
    zone = _DISPLAY_ZONE.get()
    if zone is not None and value.tzinfo is not None:
        value = value.astimezone(zone)
    return value.isoformat(timespec="seconds")


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Left-aligned columns two spaces apart, without trailing blanks."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*r).rstrip() for r in [headers, *rows])
