"""The configuration a running API serves with, and its reload on SIGHUP.

Revoking a token used to need a restart, and SIGHUP - the signal operators
and service managers (``systemctl reload``) send for exactly this - killed
the process without a word. ``LiveConfig`` holds the current ``ApiConfig``;
the middleware reads it on every request, and ``reload`` replaces it whole
(one reference assignment, so a request sees the old or the new
configuration, never a mix):

* tokens added, revoked or changed apply to the next request; requests
  already past the token check finish as they started;
* ``max_body_bytes`` applies to the next request;
* ``listen`` and TLS files need a new socket: a change is logged as taking
  effect at the next restart;
* a file that does not load (TOML error, bad key, no token left) changes
  nothing: the old configuration stays and the log says why.

The log names tokens only - never a token or its hash - so the log can go
wherever logs go.

It also remembers which expired tokens have been reported, so an expired
token is logged once (when it is first refused), not on every request a
forgotten cron job makes with it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path

from op25b_app.api.config import ApiConfig, ConfigError, TokenEntry, load_config

log = logging.getLogger(__name__)

#: Settings that only a restart applies (they make the listening socket).
RESTART_KEYS = ("listen", "tls_cert", "tls_key")


def utc_now() -> dt.datetime:
    """The current time, UTC (the clock token expiry is judged by)."""
    return dt.datetime.now(dt.UTC)


class LiveConfig:
    """The configuration requests are served with; ``reload`` swaps it for the file's."""

    def __init__(self, config: ApiConfig, path: Path | None = None,
                 clock: Callable[[], dt.datetime] = utc_now) -> None:
        """``path`` is the file ``reload`` reads (None: nothing to reload)."""
        self.config = config
        self.path = path
        self.clock = clock
        self._expiry_reported: set[tuple[str, dt.datetime | None]] = set()

    def first_refusal_of_expired(self, entry: TokenEntry) -> bool:
        """True the first time ``entry`` (with this expiry) is refused as expired."""
        key = (entry.name, entry.expires)
        if key in self._expiry_reported:
            return False
        self._expiry_reported.add(key)
        return True

    def reload(self) -> bool:
        """Read the file again and serve with it; on any problem keep the current one."""
        if self.path is None:
            log.warning("SIGHUP: op25b api was started without --config; nothing to reload")
            return False
        try:
            new = load_config(self.path)
        except ConfigError as error:
            log.error("SIGHUP: configuration not reloaded, the previous one stays: %s", error)
            return False
        if not new.tokens:
            log.error("SIGHUP: configuration not reloaded, the previous one stays: config %s "
                      "has no [[tokens]] entry, so every request would be refused", self.path)
            return False
        old, self.config = self.config, new
        log.info("SIGHUP: config %s reloaded: %s", self.path, describe_changes(old, new))
        changed = [key for key in RESTART_KEYS if getattr(old, key) != getattr(new, key)]
        if changed:
            log.warning("SIGHUP: %s changed in %s; that takes effect when op25b api is "
                        "restarted", ", ".join(changed), self.path)
        return True


def describe_changes(old: ApiConfig, new: ApiConfig) -> str:
    """What a reload changed, by token name (never a token or its hash)."""
    before = {entry.name: entry for entry in old.tokens}
    after = {entry.name: entry for entry in new.tokens}
    parts = []
    added = sorted(after.keys() - before.keys())
    removed = sorted(before.keys() - after.keys())
    changed = [f"{name} ({', '.join(_differences(before[name], after[name]))})"
               for name in sorted(before.keys() & after.keys())
               if before[name] != after[name]]
    for label, names in (("added", added), ("revoked", removed), ("changed", changed)):
        if names:
            parts.append(f"tokens {label}: {', '.join(names)}")
    if not parts:
        parts.append("no token changes")
    if old.max_body_bytes != new.max_body_bytes:
        parts.append(f"max_body_bytes {old.max_body_bytes} -> {new.max_body_bytes}")
    parts.append(f"{len(new.tokens)} token(s) configured")
    return "; ".join(parts)


def _differences(old: TokenEntry, new: TokenEntry) -> list[str]:
    """Which attributes of a token entry changed, named (the hash only as "token")."""
    names = []
    if old.scope != new.scope:
        names.append(f"scope {new.scope}")
    if old.sha256 != new.sha256:
        names.append("new token")
    if old.expires != new.expires:
        names.append(f"expires {new.expires.isoformat() if new.expires else 'never'}")
    return names
