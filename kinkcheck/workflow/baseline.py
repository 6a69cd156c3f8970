"""The baseline: adopt kinkcheck on a legacy repository without fixing everything first.

``--write-baseline FILE`` records today's undocumented findings; ``--baseline FILE`` then
reports only findings that are not in it. Entries match by fingerprint (see
:mod:`kinkcheck.fingerprint`), never by line number, so code that moves does not
resurface. Entries that no longer match anything are *stale*: the kink was fixed,
documented, or edited, and the baseline can shrink.

File format (versioned JSON, written atomically)::

    {"format": "kinkcheck-baseline", "version": 1, "kinkcheck": "0.1.0",
     "fingerprint": "v1",
     "findings": [{"fingerprint": "...", "code": "KC101", "path": "src/loss.py",
                   "line": 12, "function": "loss", "message": "..."}]}

``path``, ``line``, ``function`` and ``message`` are there for people reading the file
and for the stale report; only ``fingerprint`` is matched.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from kinkcheck import __version__
from kinkcheck.atomic import write_atomic
from kinkcheck.findings import Finding, sort_key
from kinkcheck.fingerprint import VERSION as FINGERPRINT_VERSION
from kinkcheck.fingerprint import fingerprints
from kinkcheck.paths import repo_path
from kinkcheck.workflow.errors import WorkflowError

FORMAT = "kinkcheck-baseline"
VERSION = 1


@dataclass(frozen=True)
class Entry:
    fingerprint: str
    code: str
    path: str
    line: int
    function: str | None = None
    message: str = ""

    def describe(self) -> str:
        where = f" in {self.function}" if self.function else ""
        return f"{self.path}:{self.line} {self.code}{where}"


def entries_for(findings: Iterable[Finding], *, root=None) -> list[Entry]:
    """Baseline entries for the undocumented findings (documented ones need no baseline)."""
    todo = sorted((f for f in findings if not f.documented), key=sort_key)
    return [
        Entry(fp, f.code, repo_path(f.path, root), f.line, f.function, f.message)
        for f, fp in zip(todo, fingerprints(todo, root=root))
    ]


def kept_because(path: str | os.PathLike, errors: Sequence[str]) -> str | None:
    """Why the baseline at ``path`` is not rewritten, or None when it may be.

    A run with errors (a path that could not be checked, an internal error) saw only part
    of the code: a baseline written from it would silently drop the entries of what it
    missed, and those kinks would come back as new. So such a run leaves the old file as it
    was (the run exits 2 for its errors anyway)."""
    if not errors:
        return None
    n = len(errors)
    return (f"baseline: {path} not written: the run had {n} error{'s' * (n != 1)} and did not check "
            "everything; the old baseline is unchanged")


def write(path: str | os.PathLike, findings: Iterable[Finding], *, root=None) -> int:
    """Write the baseline for ``findings`` to ``path`` atomically; returns the entry count.
    Callers ask :func:`kept_because` first when the run may have failed."""
    entries = entries_for(findings, root=root)
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "kinkcheck": __version__,
        "fingerprint": FINGERPRINT_VERSION,
        "findings": [asdict(e) for e in entries],
    }
    target = Path(path)
    try:
        write_atomic(target, json.dumps(doc, indent=2) + "\n")
    except OSError as exc:
        raise WorkflowError(f"cannot write baseline {path}: {exc.strerror or exc}") from None
    return len(entries)


def load(path: str | os.PathLike) -> list[Entry]:
    """Read a baseline; anything malformed is one clear :class:`WorkflowError`.

    A FIFO or device is refused unopened; the JSON is parsed with bounded depth and number
    size (:mod:`kinkcheck.inputs`) and every field is checked against :func:`_schema`."""
    from kinkcheck.inputs import InputError, load_json
    from kinkcheck.schema import Invalid, check, shown

    try:
        doc = load_json(path, what="file")
    except InputError as exc:
        raise WorkflowError(f"baseline {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise WorkflowError(f"{path} is not a kinkcheck baseline (write one with --write-baseline)")
    if doc.get("version") != VERSION:
        raise WorkflowError(f"baseline {path} has version {shown(doc.get('version'))}; this kinkcheck reads version {VERSION}")
    try:
        check(doc, _schema())
    except Invalid as exc:
        kind = "a malformed entry: " if str(exc).startswith("findings[") else ""
        raise WorkflowError(f"baseline {path} has {kind or 'a malformed header: '}{exc}") from None
    return [
        Entry(fingerprint=e["fingerprint"], code=e["code"], path=e["path"], line=e["line"],
              function=e.get("function"), message=e.get("message", ""))
        for e in doc["findings"]
    ]


def _schema():
    """The version-1 baseline file (see the module docstring); unknown keys are allowed."""
    from kinkcheck.schema import Int, ListOf, Nullable, Obj, Str

    entry = Obj(
        required={"fingerprint": Str(nonempty=True), "code": Str(nonempty=True), "path": Str(), "line": Int()},
        optional={"function": Nullable(Str()), "message": Str()},
    )
    return Obj(required={"findings": ListOf(entry)}, optional={"kinkcheck": Str(), "fingerprint": Str()})


def _in_scope(entry_path: str, checked: Sequence[str] | None) -> bool:
    if checked is None:
        return True
    return any(entry_path == c or c in ("", ".") or entry_path.startswith(c.rstrip("/") + "/") for c in checked)


def apply(
    findings: Sequence[Finding],
    entries: Sequence[Entry],
    *,
    root=None,
    paths: Iterable[str | os.PathLike] | None = None,
) -> tuple[list[Finding], list[Finding], list[Entry]]:
    """Split ``findings`` into (new, known) and list the stale entries.

    Documented findings always stay (they are not failures). Each entry hides at most one
    finding, so a second copy of a known kink is new. ``paths`` are what was checked: stale
    entries are reported only for files under them (pre-commit checks a few files at a time).
    """
    budget = Counter(e.fingerprint for e in entries)
    undocumented = [f for f in findings if not f.documented]
    fps = dict(zip(map(id, undocumented), fingerprints(undocumented, root=root)))
    new, known = [], []
    for f in findings:
        fp = fps.get(id(f))
        if fp is not None and budget[fp] > 0:
            budget[fp] -= 1
            known.append(f)
        else:
            new.append(f)
    checked = None if paths is None else [repo_path(p, root) for p in paths]
    stale = []
    for e in entries:
        if budget[e.fingerprint] > 0:
            budget[e.fingerprint] -= 1
            if _in_scope(e.path, checked):
                stale.append(e)
    return new, known, stale
