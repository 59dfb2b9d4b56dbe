"""Attachment ids of dynamic sessions: a range of their own inside the cookie's 40 bits.

A blocked or exempt entry carries its attachment id in the cookie
(``constants.cookie_for``), and the counters and samples record that id, so
a session's entries need ids that can never equal a static attachment's.
Static attachments use their table's row id, which counts up from 1; sessions
use the upper half of the 40-bit cookie field:

    attachment id = SESSION_ID_BASE + (session row id << 2) + slot

``slot`` is which of the session's addresses the entry matches (the framed
IPv4 address, the framed IPv6 prefix, the delegated IPv6 prefix), so each
address gets its own entry and counter. Static attachment row ids must stay
below ``SESSION_ID_BASE`` (2**39, about 5.5e11 rows); session row ids below
``MAX_SESSION_ROW_ID`` (about 1.4e11).
"""

from __future__ import annotations

from op25b_app.core.constants import COOKIE_ATTACHMENT_MAX

#: First attachment id of the session range (half of the cookie's 40-bit field).
SESSION_ID_BASE = 1 << 39
#: The address slots of one session, in the order their ids count.
SLOT_FRAMED_IP = 0
SLOT_FRAMED_IPV6 = 1
SLOT_DELEGATED_IPV6 = 2
SLOTS = (SLOT_FRAMED_IP, SLOT_FRAMED_IPV6, SLOT_DELEGATED_IPV6)
_SLOT_BITS = 2
#: Largest session row id whose attachment ids still fit the cookie.
MAX_SESSION_ROW_ID = (COOKIE_ATTACHMENT_MAX - SESSION_ID_BASE) >> _SLOT_BITS


def session_attachment_id(session_id: int, slot: int) -> int:
    """The attachment id of ``slot`` of session row ``session_id``."""
    if not 1 <= session_id <= MAX_SESSION_ROW_ID:
        raise ValueError(f"session id {session_id} outside 1..{MAX_SESSION_ROW_ID}")
    if slot not in SLOTS:
        raise ValueError(f"address slot {slot} not one of {SLOTS}")
    return SESSION_ID_BASE + (session_id << _SLOT_BITS) + slot


def is_session_attachment(attachment_id: int) -> bool:
    """Whether ``attachment_id`` lies in the session range."""
    return SESSION_ID_BASE <= attachment_id <= COOKIE_ATTACHMENT_MAX


def session_of(attachment_id: int) -> int | None:
    """The session row id an attachment id belongs to (None: a static attachment)."""
    if not is_session_attachment(attachment_id):
        return None
    return (attachment_id - SESSION_ID_BASE) >> _SLOT_BITS
