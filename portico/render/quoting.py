"""Making user strings safe inside an haproxy configuration.

haproxy reads a configuration line in layers, and a user value must stay inert in each:

1. The tokenizer splits the line into words on spaces, ends it at a newline, starts a
   comment at ``#`` and treats ``\\``, quotes and ``$`` (environment variables) specially.
   ``quote`` makes any value one double-quoted word in which ``\\``, ``"`` and ``$`` are
   backslash-escaped.
2. Some arguments are log-format strings (redirect locations, header values): ``%`` there
   starts a sample expression. ``quote_format`` doubles it first.
3. Arguments of a sample fetch (``req.hdr(<name>)``) are parsed again, split on ``,`` and
   ``)``: ``fetch`` quotes the argument for that parser before quoting the word.
4. An ACL pattern that starts with ``-`` would be read as a flag (``-f`` loads a file):
   patterns are always written after ``--``, which ends the flags (see ``l7``).

Characters that cannot be made safe (line breaks and other control characters) raise
``UnsafeValue``; the API refuses them before they are stored, so this is a second line of
defence, and the renderer turns it into an error on the object.
"""

from __future__ import annotations

import re

from portico.render.errors import RenderError

# Control characters, and the separators Python's ``str.splitlines`` also breaks lines
# on: haproxy would read them as bytes, but a Python reader of the text (the runtime
# planner) would see a new line.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_INERT = re.compile(r"\A[A-Za-z0-9._:/+=@!,-]+\Z")


class UnsafeValue(RenderError):
    """A value that no quoting makes safe in an haproxy configuration."""


def check_safe(value: str) -> str:
    if _CONTROL.search(value):
        raise UnsafeValue(f"control characters are not allowed: {value!r}")
    return value


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def quote(value: object) -> str:
    """``value`` as one double-quoted haproxy word."""
    text = _escaped(check_safe(str(value))).replace("$", "\\$")
    return f'"{text}"'


def word(value: str) -> str:
    """``value`` bare when it is made of inert characters only, else ``quote(value)``.

    For server options: the runtime API's ``add server`` splits its arguments on spaces
    and does not remove quotes, so the words it is given must need none.
    """
    return value if _INERT.match(value) else quote(value)


def quote_format(value: object) -> str:
    """``value`` as one word that a log-format argument reads literally."""
    return quote(str(value).replace("%", "%%"))


def fetch(name: str, argument: str) -> str:
    """The word ``name(<argument>)`` with ``argument`` read literally."""
    return quote(f'{name}("{_escaped(check_safe(argument))}")')
