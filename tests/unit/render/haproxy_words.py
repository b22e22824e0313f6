"""haproxy 2.6's configuration tokenizer, rewritten from its documented rules (section 2.2
of configuration.txt), for tests: a rendered line becomes the words haproxy would read.

Outside quotes: blanks separate words, ``#`` starts a comment, ``\\`` escapes the next
character, ``$NAME``/``${NAME}`` expands an environment variable (a ``$`` before anything else is
literal, as in ``rstatus ^200$``). Inside ``"..."``: blanks
and ``#`` are literal, ``\\`` and ``$`` keep their meaning. Inside ``'...'``: everything is
literal. A test that sees an expansion, a comment or an unterminated quote where it
pushed a user value has found an injection.
"""

from __future__ import annotations

from dataclasses import dataclass


class Unsafe(AssertionError):
    """The line would make haproxy do something beyond reading literal words."""


@dataclass(frozen=True)
class Line:
    section: str
    words: tuple[str, ...]

    @property
    def keyword(self) -> str:
        return self.words[0] if self.words else ""


def _expands(following: str) -> bool:
    return following.isalpha() or following in ("_", "{")


def words(line: str) -> tuple[str, ...]:
    found: list[str] = []
    current: list[str] = []
    in_word = False
    quote = ""
    i = 0
    while i < len(line):
        char = line[i]
        if quote == "'":
            if char == "'":
                quote = ""
            else:
                current.append(char)
        elif char == "\\":
            if i + 1 >= len(line):
                raise Unsafe(f"trailing backslash: {line!r}")
            current.append(line[i + 1])
            in_word = True
            i += 1
        elif char == "$" and _expands(line[i + 1 : i + 2]):
            raise Unsafe(f"environment variable expansion: {line!r}")
        elif quote == '"':
            if char == '"':
                quote = ""
            else:
                current.append(char)
        elif char in "\"'":
            quote = char
            in_word = True
        elif char in " \t":
            if in_word:
                found.append("".join(current))
                current, in_word = [], False
        elif char == "#":
            raise Unsafe(f"comment: {line!r}")
        else:
            current.append(char)
            in_word = True
        i += 1
    if quote:
        raise Unsafe(f"unterminated quote: {line!r}")
    if in_word:
        found.append("".join(current))
    return tuple(found)


def parse(text: str) -> list[Line]:
    """Every directive line (the leading comment line excepted) with its section."""
    lines: list[Line] = []
    section = ""
    for raw in text.split("\n"):  # haproxy ends a line at LF only
        if not raw.strip() or raw.startswith("#"):
            continue
        parsed = words(raw)
        if not raw[0].isspace():
            section = " ".join(parsed)
        lines.append(Line(section, parsed))
    return lines
