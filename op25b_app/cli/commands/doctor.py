"""``op25b doctor``: what is wrong with this op25b installation, one line per check.

Every check lives in the service layer (``op25b_app.service.doctor``); this
module parses the thresholds, prints ``ok|warn|fail  CHECK: what  (fix: ...)``
lines, and turns the worst status into the exit status (0 ok, 1 warn, 2
fail), so the same command serves an operator and a monitoring probe.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from op25b_app.cli.commands import summary
from op25b_app.cli.output import Output
from op25b_app.cli.parser import CommandTree
from op25b_app.service import Check, DoctorReport, DoctorSettings, PolicyService, run_doctor

_DEFAULTS = DoctorSettings()


def register(tree: CommandTree) -> None:
    """Add ``doctor`` (a command without actions)."""
    cmd = tree.single(
        "doctor",
        _doctor,
        summary("doctor"),
        "One line per check: 'ok|warn|fail  CHECK: what  (fix: ...)'. Exit status:\n"
        "0 every check ok, 1 a warning, 2 a failure. Checks: database reachable and\n"
        "schema current; clock skew against the database; each controller's heartbeat\n"
        "and policy revision; each registered switch connected, in sync and under\n"
        "capacity; switches seen but not registered; quarantined rows; the metrics\n"
        "endpoint; TLS on the OpenFlow channel (from the controller's config file).",
        "op25b --db postgresql://op25b@dbhost/op25b doctor --controller-config "
        "/etc/op25b/controller.conf",
    )
    cmd.add_argument("--stale-after", type=_seconds, default=_DEFAULTS.stale_after,
                     metavar="SECONDS",
                     help="a controller heartbeat older than this is stale (default: "
                          f"{_DEFAULTS.stale_after:g}, three 5 s status intervals)")
    cmd.add_argument("--stuck-after", type=_seconds, default=_DEFAULTS.stuck_after,
                     metavar="SECONDS",
                     help="a revision not loaded or applied within this is stuck "
                          f"(default: {_DEFAULTS.stuck_after:g})")
    cmd.add_argument("--max-skew", type=_seconds, default=_DEFAULTS.max_skew,
                     metavar="SECONDS",
                     help=f"clock skew to the database worth a warning "
                          f"(default: {_DEFAULTS.max_skew:g})")
    cmd.add_argument("--metrics", default=_DEFAULTS.metrics_url, metavar="URL",
                     help=f"the controller's metrics endpoint (default: "
                          f"{_DEFAULTS.metrics_url}; '' skips the check)")
    cmd.add_argument("--controller-config", type=Path, default=_DEFAULTS.controller_config,
                     metavar="FILE",
                     help="the controller's config file, for its TLS options "
                          f"(default: {_DEFAULTS.controller_config})")


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds: {text!r}")
    return value


def _doctor(_service: PolicyService, args: argparse.Namespace) -> Output:
    settings = DoctorSettings(stale_after=args.stale_after, stuck_after=args.stuck_after,
                              max_skew=args.max_skew, metrics_url=args.metrics or None,
                              controller_config=args.controller_config)
    report = run_doctor(args.engine, settings)
    return Output(report_text(report), report.to_dict(), exit_status=report.exit_status)


def check_line(check: Check) -> str:
    """``ok|warn|fail  CHECK: what  (fix: ...)``; an ok line has no fix."""
    line = f"{check.status:<4}  {check.name}: {check.detail}"
    if check.fix and check.status != "ok":
        line += f"  (fix: {check.fix})"
    return line


def report_text(report: DoctorReport) -> str:
    """One line per check."""
    return "\n".join(check_line(c) for c in report.checks)
