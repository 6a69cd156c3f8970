"""The workflow options (baseline, --diff) applied to a run's findings, without click.

The click options live with the commands (``kinkcheck/commands/_common.py``); wiring::

    @workflow_options                                   # adds --baseline/--write-baseline/--diff
    def check(..., baseline, write_baseline, diff): ...
        findings, notes = apply_workflow(findings, root=root, baseline=baseline,
                                         write_baseline=write_baseline, diff=diff, paths=paths)
        # print each note to stderr; render ``findings``; exit 1 if any is undocumented

Run it after noqa / ``# kink:`` handling (documented findings pass through untouched) and
before rendering. Errors are :class:`kinkcheck.workflow.WorkflowError` (a KinkcheckError:
one line on stderr, exit 2).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO

from kinkcheck.findings import Finding
from kinkcheck.workflow.errors import WorkflowError

_MAX_LISTED = 5


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"


def apply_workflow(
    findings: Sequence[Finding],
    *,
    root,
    baseline: str | os.PathLike | None = None,
    write_baseline: str | os.PathLike | None = None,
    diff: str | None = None,
    paths: Iterable[str | os.PathLike] | None = None,
    stdin: IO[str] | None = None,
    errors: Sequence[str] = (),
) -> tuple[list[Finding], list[str]]:
    """Apply baseline and diff filtering; return (findings to report, notes for stderr).

    ``root`` is the project root (URIs and fingerprints are relative to it); ``paths`` are the
    paths that were checked, used to limit the stale-entry report to what was looked at.
    ``errors`` are the run's errors: with any, ``write_baseline`` is left untouched.
    Order: write the baseline from every finding, hide baselined ones, then keep changed lines.
    """
    if baseline is None and write_baseline is None and diff is None:
        return list(findings), []  # the common run: no baseline or diff code imported at all
    from kinkcheck.workflow import baseline as bl

    root = Path(root) if root is not None else Path.cwd()
    paths = list(paths) if paths is not None else None
    findings = list(findings)
    notes: list[str] = []
    if baseline is not None and write_baseline is not None:
        raise WorkflowError("--baseline and --write-baseline cannot be combined; --write-baseline alone refreshes a baseline")

    reason = bl.kept_because(write_baseline, errors) if write_baseline is not None else None
    if reason:
        notes.append(reason)
    elif write_baseline is not None:
        n = bl.write(write_baseline, findings, root=root)
        notes.append(f"baseline: recorded {_plural(n, 'undocumented finding')} in {write_baseline}")
        findings = [f for f in findings if f.documented]

    if baseline is not None:
        entries = bl.load(baseline)
        findings, known, stale = bl.apply(findings, entries, root=root, paths=paths)
        if known:
            notes.append(f"baseline: {_plural(len(known), 'known finding')} hidden by {baseline}")
        if stale:
            listed = "; ".join(e.describe() for e in stale[:_MAX_LISTED])
            more = f"; and {len(stale) - _MAX_LISTED} more" if len(stale) > _MAX_LISTED else ""
            notes.append(
                f"baseline: {_plural(len(stale), 'stale entry', 'stale entries')} no longer "
                f"{'matches' if len(stale) == 1 else 'match'} a finding (fixed, documented or edited): "
                f"{listed}{more}; refresh with --write-baseline {baseline}"
            )

    if diff is not None:
        from kinkcheck.workflow import diff as df

        if diff == "-":
            changes = df.changes_from_text(df.read_diff(stdin or sys.stdin), root=root)
            since = "the diff on stdin"
        else:
            changes = df.changes_since(diff, root=root)
            since = diff
        kept = df.keep_changed(findings, changes)
        hidden = len(findings) - len(kept)
        if hidden:
            notes.append(f"diff: {_plural(hidden, 'finding')} outside lines changed since {since} hidden")
        findings = kept

    return findings, notes
