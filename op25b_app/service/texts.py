"""What text op25b stores: names, accounts, reasons and descriptions, checked alike.

Every writer (CLI, REST API, CSV import) stores text through these checks,
so a value is refused with the same field and reason whichever way it
arrives. The rules, and why:

* **Valid UTF-8 only.** Bytes that are not UTF-8 (``--account $'X\\xff'``, a
  Latin-1 CSV) reach Python as lone surrogates; the database cannot store
  them, so they are refused naming the field and the byte.
* **Nothing invisible.** Control characters (Cc), format characters (Cf:
  zero-width space U+200B, right-to-left override U+202E, ...), line and
  paragraph separators (Zl, Zp) and every space but the plain one (Zs other
  than U+0020: no-break, ideographic U+3000, ...) are refused: with them
  "S14" and "S14<U+200B>" are two accounts that look identical, and a
  stored name could rearrange what an operator's terminal shows.
* **One spelling per account.** An account is a key people type and compare,
  so it must already be in Unicode NFKC form: "Ｓ１４" (full-width, as a
  Japanese input method types it) is refused with the form to write, "S14".
  It is refused rather than rewritten so that the stored key is always
  exactly what was given and a lookup never finds a different account.
* **Free text is stored NFC.** Names, reasons and descriptions are display
  text: a decomposed "é" (as some systems send it) is stored composed. The
  two are canonically equivalent and look the same, so nothing is lost.

Private-use and unassigned code points are allowed: a newer character than
this Python's Unicode tables know must not make a name unstorable.
"""

from __future__ import annotations

import re
import unicodedata

from op25b_app.service.errors import NotFound, ValidationError, clip

#: Switch and MTA names: identifiers an operator types and every log line prints.
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]*", re.ASCII)
#: Connection type names: lower-case keys an operator types on the command line.
TYPE_NAME_RE = re.compile(r"[a-z][a-z0-9_-]*", re.ASCII)

#: Unicode categories no stored text may contain (see the module docstring).
_REFUSED = {
    "Cc": "control characters",
    "Cf": "an invisible formatting character",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
    "Zs": "a space other than the plain space U+0020",
}


#: Lone surrogates: how bytes that were not UTF-8 reach Python text (surrogateescape).
UNDECODED = re.compile("[\ud800-\udfff]")


def check_utf8(field: str, value: str) -> str:
    """Refuse text holding bytes that were not UTF-8 (or any lone surrogate).

    The first check of every command-line argument and environment value:
    such text cannot be stored, printed or compared, so it is named (field
    and byte) before anything else looks at it.
    """
    found = UNDECODED.search(value)
    if found is not None:
        code, index = ord(found.group()), found.start()
        if 0xDC80 <= code <= 0xDCFF:
            # How Python hands over a byte that was not UTF-8 (surrogateescape).
            raise ValidationError(field, value, f"not UTF-8 text (byte 0x{code - 0xDC00:02x} "
                                                f"at character {index + 1})")
        raise ValidationError(field, value, f"not UTF-8 text (lone surrogate U+{code:04X})")
    return value


def check_characters(field: str, value: str) -> str:
    """Refuse text that is not UTF-8 or holds an invisible or control character.

    ``str.isprintable`` (C speed) is true for nearly every value, so the
    per-character walk only runs when something is there to name.
    """
    if value.isprintable():
        return value
    check_utf8(field, value)
    for index, char in enumerate(value):
        category = unicodedata.category(char)
        if category in _REFUSED and char != " ":
            code = ord(char)
            raise ValidationError(field, value, f"contains {_REFUSED[category]} "
                                                f"(U+{code:04X} at character {index + 1})")
    return value


def check_no_control(field: str, value: str) -> str:
    """Refuse text a database cannot take or a terminal would act on (filters, lookups)."""
    return check_characters(field, value)


def check_text(
    field: str, value: str, max_len: int, pattern: re.Pattern[str] | None = None
) -> str:
    """A required one-line name or key: not blank, no surrounding whitespace,
    at most ``max_len`` characters, only visible characters, matching ``pattern``.

    Surrounding whitespace is refused rather than stripped: an account
    stored as "A1 " would never match the "A1" an operator later types.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, value, "must not be empty")
    if len(value) > max_len:
        raise ValidationError(field, value, f"longer than {max_len} characters")
    check_characters(field, value)
    if value != value.strip():
        raise ValidationError(field, value, "must not start or end with whitespace")
    if pattern is not None and not pattern.fullmatch(value):
        raise ValidationError(field, value, f"must match {pattern.pattern}")
    return value


def check_key(field: str, value: str, max_len: int) -> str:
    """An account-like key: ``check_text`` and already in NFKC form (see the docstring)."""
    check_text(field, value, max_len)
    if not value.isascii() and not unicodedata.is_normalized("NFKC", value):
        wanted = unicodedata.normalize("NFKC", value)
        raise ValidationError(field, value, f"not in Unicode NFKC form: write '{clip(wanted)}'")
    return value


def check_free_text(field: str, value: str | None, max_len: int) -> str:
    """Optional free text (a description, a display name); None means empty.

    Returned in NFC form, the form it is stored in.
    """
    text = "" if value is None else value
    if not isinstance(text, str):
        raise ValidationError(field, value, "must be text")
    if len(text) > max_len:
        raise ValidationError(field, value, f"longer than {max_len} characters")
    check_characters(field, text)
    if text.isascii():
        return text
    return unicodedata.normalize("NFC", text)



def check_lookup(kind: str, field: str, value: object) -> str:
    """A key to look something up by: text that could have been stored, else ``NotFound``.

    Nothing stored holds bytes that were not UTF-8 or a NUL, and the database
    driver would fail on them; the answer to "show me X" is then simply that
    there is no X.
    """
    if not isinstance(value, str):
        raise NotFound(kind, field, value)
    try:
        return check_characters(field, value)
    except ValidationError:
        raise NotFound(kind, field, value) from None
