"""Safe text: no value a user can supply is refused by the database for its content."""

from __future__ import annotations

import hashlib
import re

# C0 and C1 control characters (NUL included) and lone surrogates: PostgreSQL refuses NUL
# in text and any invalid UTF-8; the others break logs, CSV exports and terminals.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
HASH_CHARS = 16
REPLACEMENT = "\ufffd"


def safe_text(value: str | None, limit: int) -> str | None:
    """``value`` as the database will surely accept it, distinct values kept distinct.

    A value with no control character and at most ``limit`` characters is kept as it is.
    Otherwise control characters and lone surrogates become U+FFFD, the text is cut to
    ``limit - 17`` characters, and ``#`` plus the first 16 hex digits of the SHA-256 of
    the original (UTF-8) is appended: two different values never collapse into one.

    Args:
        value: any text, or None.
        limit: the column's width in characters (at least 18).

    Returns:
        The text to store (None stays None).
    """
    if value is None:
        return None
    cleaned = _UNSAFE.sub(REPLACEMENT, value)
    if cleaned == value and len(value) <= limit:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_CHARS]
    return f"{cleaned[: limit - HASH_CHARS - 1]}#{digest}"
