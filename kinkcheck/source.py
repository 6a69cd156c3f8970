"""Python source as the parser sees it: bytes to text, text to numbered lines.

Every part that shows or measures source (the analyzer, the code frame, the report, SARIF
snippets, fingerprints) reads it here, so that line 7 and column 12 mean the same thing to
all of them. Python decodes with the PEP 263 cookie or UTF-8 (a BOM is dropped) and ends a
line only at ``\\n``, ``\\r\\n`` or ``\\r``: ``str.splitlines`` also splits at form feeds,
``\\x0b``, ``\\x1c``-``\\x1e``, ``\\x85`` and U+2028/9, and one such character above a kink
would shift every later line by one.
"""

from __future__ import annotations

import io
import tokenize

from kinkcheck.lazyre import lazy_pattern

__all__ = ["SourceError", "decode", "encoding", "lines", "raw_lines", "read"]

#: a line with its ending, as the parser splits (``ast._splitlines_no_ff``, at C speed)
_RAW_LINE = lazy_pattern(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_NEWLINE = lazy_pattern(r"\r\n|\r|\n")


class SourceError(ValueError):
    """Bytes that are not Python source text: ``message`` (one line) at ``line``:``col`` (1-based)."""

    def __init__(self, message: str, line: int = 1, col: int = 1):
        super().__init__(message)
        self.message, self.line, self.col = message, line, col


def _where(data: bytes, offset: int) -> tuple[int, int]:
    line = data.count(b"\n", 0, offset) + 1
    return line, offset - (data.rfind(b"\n", 0, offset) + 1) + 1


def encoding(data: bytes) -> str:
    """The encoding Python reads ``data`` with (cookie, BOM, else UTF-8); raises SourceError
    for a cookie naming an unknown encoding or contradicting the BOM."""
    try:
        return tokenize.detect_encoding(io.BytesIO(data).readline)[0]
    except SyntaxError as exc:
        if "encoding problem" in str(exc) or "unknown encoding" in str(exc):
            raise SourceError(f"cannot decode file: {exc}") from None
        return "utf-8"  # undecodable first lines: decoding says where


def read(data: bytes) -> str:
    """The source text of ``data`` exactly as Python would decode it, without a BOM; any
    bytes Python would refuse raise one :class:`SourceError` that says what and where."""
    nul = data.find(b"\0")
    if nul != -1:
        raise SourceError("file contains NUL bytes (binary data, not Python source)", *_where(data, nul))
    enc = encoding(data)
    try:
        text = data.decode(enc)
    except UnicodeDecodeError as exc:
        raise SourceError(f"file is not valid {enc} text (byte 0x{data[exc.start]:02x})", *_where(data, exc.start)) from None
    except LookupError:
        raise SourceError(f"unknown source encoding {enc!r}") from None
    return text[1:] if text.startswith("\ufeff") else text


def decode(data: bytes) -> str:
    """Text for display: as :func:`read`, but never failing (undecodable bytes become U+FFFD)."""
    try:
        enc = encoding(data)
        text = data.decode(enc, errors="replace")
    except (SourceError, LookupError):
        text = data.decode("utf-8", errors="replace")
    return text[1:] if text.startswith("\ufeff") else text


def lines(text: str) -> list[str]:
    """``text``'s lines without their endings, numbered as Python numbers them (line n is
    ``lines(text)[n - 1]``); a final line ending starts no extra line."""
    out = _NEWLINE.split(text)
    if out and out[-1] == "":
        out.pop()
    return out


def raw_lines(text: str) -> list[str]:
    """``text``'s lines with their endings (``"".join(raw_lines(t)) == t``): what ast's
    column offsets count in."""
    return _RAW_LINE.findall(text)

