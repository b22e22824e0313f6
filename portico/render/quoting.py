"""Making user strings safe inside an haproxy configuration.

haproxy's parser splits a line into words on spaces, ends it at a newline, starts a
comment at ``#`` and treats ``\\``, quotes, ``$`` (environment variables) specially. A user
value therefore always goes through ``quote``: a double-quoted word in which ``\\``, ``"``
and ``$`` are backslash-escaped, so it stays one word whatever it contains. Characters that
cannot be made safe (line breaks and other control characters) raise ``UnsafeValue``; the
API refuses them before they are stored, so this is a second line of defence.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class UnsafeValue(ValueError):
    """A value that no quoting makes safe in an haproxy configuration."""


def check_safe(value: str) -> str:
    if _CONTROL.search(value):
        raise UnsafeValue(f"control characters are not allowed: {value!r}")
    return value


def quote(value: object) -> str:
    """``value`` as one double-quoted haproxy word."""
    text = check_safe(str(value))
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


_REGEX_SPECIAL = re.compile(r"([\\^$.|?*+()\[\]{}])")


def regex_literal(value: str) -> str:
    """``value`` escaped so that a regular expression matches it literally."""
    return _REGEX_SPECIAL.sub(r"\\\1", check_safe(value))
