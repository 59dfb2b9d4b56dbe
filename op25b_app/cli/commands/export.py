"""``op25b export ranges``: the address ranges op25b blocks, for other operators.

Other mail operators use such a list to reject or score mail sent directly
from dynamic broadband addresses; published as an rbldnsd zone it answers
DNSBL queries. What is listed, and why, is ``op25b_app.service.ranges``;
this module chooses the format and writes the file atomically, because
rbldnsd reloads a zone file whose modification time changed and must never
read half of one.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os

from op25b_app.cli.commands import summary
from op25b_app.cli.output import Output
from op25b_app.cli.parser import CommandTree
from op25b_app.service import RANGE_FORMATS, PolicyService, ValidationError, render_ranges


def register(tree: CommandTree) -> None:
    """Add ``export ranges``."""
    group = tree.group("export", summary("export"),
                       "op25b export ranges --format rbldnsd --output /var/lib/rbldnsd/op25b")
    cmd = tree.command(
        group, "ranges", _ranges,
        "the prefixes blocked by OP25B now (merged; IPv4 and IPv6; exempt, dial-up and "
        "MTA addresses left out; attachments without a prefix contribute nothing)",
        "op25b export ranges --format rbldnsd --output /var/lib/rbldnsd/op25b")
    cmd.add_argument("--format", choices=RANGE_FORMATS, default="text",
                     help="text: one prefix a line; csv: prefix,family; rbldnsd: a combined "
                          "dataset answering 127.0.0.10 (default: text)")
    cmd.add_argument("--output", default=None, metavar="FILE",
                     help="write here, replacing the file atomically (default: stdout)")


def _ranges(service: PolicyService, args: argparse.Namespace) -> Output:
    ranges = service.blocked_ranges()
    text = render_ranges(ranges, args.format)
    data = {**dataclasses.asdict(ranges), "format": args.format, "output": args.output}
    if args.output is None:
        return Output(text.rstrip("\n"), data)
    _replace(args.output, text)
    return Output(f"{len(ranges.ipv4)} IPv4 and {len(ranges.ipv6)} IPv6 prefix(es) "
                  f"(policy revision {ranges.revision}) written to {args.output}", data)


def _replace(path: str, text: str) -> None:
    """Write ``text`` beside ``path`` and rename it over ``path`` (readable by others)."""
    target = os.path.abspath(path)
    partial = f"{target}.partial-{os.getpid()}"
    try:
        with open(partial, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(partial, 0o644)  # the DNS server runs as its own user
        os.replace(partial, target)
    except OSError as error:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise ValidationError("output", path, error.strerror or str(error)) from None
