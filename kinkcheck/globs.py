"""gitignore-style globs (``exclude``, ``per-file-ignores``, ``.gitignore`` lines) as regexes.

A pattern is translated by hand, never handed to ``re`` half-checked: a malformed bracket
expression (``[]]``, ``[!]``, ``[a-Z]``, ``[z-a]``, an unclosed ``[``) is a :class:`GlobError`
naming what is wrong, so the configuration can say so in one line instead of a ``re.error``
traceback. Syntax, as in git: ``*`` and ``?`` stop at ``/``, ``**`` crosses folders, ``[...]``
with ``!`` or ``^`` to negate, ranges and ``[:alpha:]`` classes, ``\\`` escapes the next
character. A pattern with an inner ``/`` is anchored at the root; one without matches any
path component.
"""

from __future__ import annotations

import re
from functools import lru_cache

#: POSIX classes git's wildmatch knows, as regex class bodies
_CLASSES = {
    "alnum": "a-zA-Z0-9", "alpha": "a-zA-Z", "blank": " \\t", "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9", "graph": "\\x21-\\x7e", "lower": "a-z", "print": "\\x20-\\x7e",
    "punct": re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),  # string.punctuation (not imported: 0.5 ms)
    "space": " \\t\\n\\r\\f\\v", "upper": "A-Z",
    "xdigit": "0-9A-Fa-f",
}


class GlobError(ValueError):
    """A pattern that is not a valid glob; the message says what is wrong and where."""


def _normal(pattern: str) -> str:
    """The pattern as matched: spaces, a leading ``./`` and trailing slashes dropped."""
    return pattern.strip().removeprefix("./").rstrip("/")


def literal(pattern: str) -> str | None:
    """The one path component ``pattern`` names exactly (``build``, ``.git``, ``node_modules``:
    no wildcard, bracket, escape or inner slash), else None. Such a pattern matches a path
    when a component equals it: no regex to build (every default exclude is one)."""
    p = _normal(pattern)
    if "/" in p or "*" in p or "?" in p or "[" in p or "\\" in p:
        return None
    return p


@lru_cache(maxsize=512)
def compile_glob(pattern: str) -> tuple[re.Pattern[str], bool]:
    """(regex matching a whole posix path or component, anchored). Raises GlobError."""
    p = _normal(pattern)
    anchored = "/" in p
    p = p.lstrip("/")
    out: list[str] = []
    i = 0
    while i < len(p):
        c = p[i]
        if c == "*":
            if p[i : i + 2] == "**":
                i += 2
                if p[i : i + 1] == "/":
                    i += 1
                    out.append("(?:.*/)?")
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            body, i = _bracket(p, i)
            out.append(body)
            continue
        elif c == "\\":
            if i + 1 == len(p):
                raise GlobError("ends with a lone backslash")
            i += 1
            out.append(re.escape(p[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z"), anchored


def _bracket(p: str, start: int) -> tuple[str, int]:
    """The regex for the bracket expression at ``p[start] == "["`` and the index after it."""
    i = start + 1
    negate = p[i : i + 1] in ("!", "^")
    if negate:
        i += 1
    members: list[str] = []
    while True:
        if i >= len(p):
            raise GlobError(f"unclosed '[' at position {start + 1} (write '\\[' for a literal '[')")
        c = p[i]
        if c == "]":
            if not members:
                raise GlobError(f"empty bracket expression {p[start:i + 1]!r} (write '\\]' for a literal ']')")
            break
        if c == "[" and p[i + 1 : i + 2] == ":":
            end = p.find(":]", i + 2)
            if end == -1:
                raise GlobError(f"unclosed character class at position {i + 1}")
            name = p[i + 2 : end]
            if name not in _CLASSES:
                raise GlobError(f"unknown character class [:{name}:] (known: {', '.join(sorted(_CLASSES))})")
            members.append(_CLASSES[name])
            i = end + 2
            continue
        c, i = _member(p, i)
        if p[i : i + 1] == "-" and p[i + 1 : i + 2] not in ("", "]"):
            hi, i = _member(p, i + 1)
            if ord(hi) < ord(c):
                raise GlobError(f"reversed range '{c}-{hi}' ({c!r} sorts after {hi!r})")
            members.append(f"{re.escape(c)}-{re.escape(hi)}")
        else:
            members.append(re.escape(c))
    body = "".join(members)
    # As in git, no wildcard matches '/': a bracket never spans folders.
    return (f"[^/{body}]" if negate else f"(?!/)[{body}]"), i + 1


def _member(p: str, i: int) -> tuple[str, int]:
    """One character of a bracket expression (``\\x`` escapes) and the index after it."""
    if p[i] == "\\":
        if i + 1 >= len(p):
            raise GlobError("ends with a lone backslash")
        return p[i + 1], i + 2
    return p[i], i + 1


def glob_match(pattern: str, relpath: str, skip: int = 0) -> bool:
    """Does ``pattern`` match ``relpath`` (posix, relative to the root) or a directory above it?

    ``skip`` leading components are not tried on their own: walking a directory given on
    the command line, its own ancestors do not exclude it (``kinkcheck check examples/``
    works even where ``exclude = ["examples"]``)."""
    parts = relpath.split("/")
    name = literal(pattern)
    if name is not None:
        return name in parts[skip:]
    regex, anchored = compile_glob(pattern)
    if anchored:
        return any(regex.match("/".join(parts[: i + 1])) for i in range(skip, len(parts)))
    return any(regex.match(part) for part in parts[skip:])
