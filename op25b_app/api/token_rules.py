"""Which tokens ``op25b api hash-token`` accepts, and why the others are refused.

Tokens are stored as a plain SHA-256 (``config``), which is only safe for
tokens nobody can guess: a short or word-like token falls to a dictionary
run against a leaked config file in seconds. Two kinds of refusal:

* **Unusable** (no override): a token must be visible ASCII - letters,
  digits and punctuation, no spaces, no control characters, nothing
  non-ASCII - and at most ``MAX_TOKEN_CHARS`` long. The server hashes the
  ``Authorization`` header's bytes exactly as received; RFC 6750 bearer
  tokens are ASCII, HTTP clients differ in how (and whether) they send
  anything else (UTF-8, Latin-1, or not at all), and the server strips
  surrounding spaces. A token outside that set could be hashed here but
  never match what a client sends, so it is refused with the reason rather
  than stored as a login that cannot work.
* **Guessable** (``--allow-weak`` overrides, e.g. to hash a token another
  system issued): shorter than ``MIN_TOKEN_CHARS`` characters; fewer than
  ``MIN_DISTINCT_CHARS`` different characters (``aaaa...``, ``abab...``);
  a shorter string repeated (``0123456789`` four times); or letters only
  (words glued together, the shape of a passphrase - random tokens mix in
  digits or punctuation).

``hash-token --generate`` (256 random bits, URL-safe) always passes both.
"""

from __future__ import annotations

#: A token shorter than this is refused as guessable.
MIN_TOKEN_CHARS = 32
#: A token with fewer different characters than this is refused as guessable.
MIN_DISTINCT_CHARS = 10
#: Longer tokens are refused: far beyond any need, and HTTP servers cap header sizes.
MAX_TOKEN_CHARS = 1024
_VISIBLE_ASCII = frozenset(chr(code) for code in range(0x21, 0x7F))


def unusable_reason(token: str) -> str | None:
    """Why ``token`` could never log in, or None if it can."""
    if len(token) > MAX_TOKEN_CHARS:
        return f"the token is longer than {MAX_TOKEN_CHARS} characters"
    bad = next((char for char in token if char not in _VISIBLE_ASCII), None)
    if bad is None:
        return None
    if bad.isspace():
        what = "a space or line break"
    elif not bad.isascii():
        what = f"the non-ASCII character {bad!r}"
    else:
        what = f"the control character {bad!r}"
    return (f"the token contains {what}: a token must be visible ASCII (letters, digits, "
            "punctuation) because that is all HTTP clients reliably send in an "
            "Authorization header; use --generate for a new one")


def weakness(token: str) -> str | None:
    """Why ``token`` is guessable, or None if it passes the rules above."""
    if len(token) < MIN_TOKEN_CHARS:
        return f"the token is {len(token)} characters long; at least {MIN_TOKEN_CHARS} are needed"
    if len(set(token)) < MIN_DISTINCT_CHARS:
        return (f"the token uses {len(set(token))} different characters; at least "
                f"{MIN_DISTINCT_CHARS} are needed")
    period = _repeat_period(token)
    if period is not None:
        return f"the token repeats its first {period} characters"
    if token.isalpha():
        return "the token is letters only (word-like); random tokens mix in digits or punctuation"
    return None


def _repeat_period(token: str) -> int | None:
    """The length of a block whose repetition makes up ``token``, if there is one."""
    for period in range(1, len(token) // 2 + 1):
        if token[period:] == token[:-period]:
            return period
    return None
