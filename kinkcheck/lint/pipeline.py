"""One file's way through the analyzer, the same for every caller: the engine's raw findings
for the functions in scope, then the file's kink and noqa comments applied to them.

``kinkcheck check`` (``runner``, once per file, in the pool or not), the library API
(``api.check_source``) and the catalog example tests (through ``check_source``) all call
:func:`analyze_source`; they differ only in how they choose ``functions`` (the loss scope
over the whole checked tree, or over one source) and in what they do with errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kinkcheck.findings import Finding
from kinkcheck.lint import comments

if TYPE_CHECKING:
    from kinkcheck.catalog import Catalog


def analyze_source(
    source: str,
    path: str,
    module: str,
    functions: frozenset[str] | None,
    *,
    codes: frozenset[str],
    catalog: "Catalog",
    all_codes: frozenset[str] | None = None,
    analyze: bool = True,
    directives: int | None = None,
    notes: list[str] | None = None,
) -> list[Finding]:
    """Findings for one source text, kink comments applied (documented findings stay in,
    marked; KC002/KC003 are added for bad comments).

    ``functions`` as for ``engine.analyze_file`` (None: all code). ``analyze=False`` skips
    the analysis of the scope (nothing of the file is in it) and only checks its comments.
    ``directives`` is ``comments.scan(source)`` when the caller already knows it. A comment
    that documents nothing in this run is called unused only after the whole file is
    analyzed with ``all_codes`` (default: every code of the catalog), so a documented ReLU
    in a model's forward is not a mistake when only loss code is checked.

    ``notes`` collects one-line notes (an inference budget ran out) as ``analyze_file``
    does; None prints them to stderr. Raises what ``analyze_file`` raises (SyntaxError,
    ValueError, RecursionError on unparsable or too deeply nested source).
    """
    from kinkcheck.lint.engine import analyze_file  # looked up per call: tests patch it

    raw: list[Finding] = []
    if analyze:
        raw = list(analyze_file(source, path, module, functions, codes=codes, catalog=catalog, notes=notes))
    if directives is None:
        directives = comments.scan(source)
    # 0: no directive at all; 1: only blanket or other tools' noqa, which matter only where
    # there are findings to document
    if directives == 0 or (directives == 1 and not raw):
        return raw
    found = comments.parse(source, catalog)
    if not found:
        return raw
    out = comments.apply(raw, found, path=path, catalog=catalog)
    if any(f.code == "KC003" for f in out):
        every = analyze_file(source, path, module, None, codes=all_codes if all_codes is not None else frozenset(catalog),
                             catalog=catalog, notes=[] if notes is not None else None)
        out = comments.apply(raw, found, path=path, usage=[*raw, *every], catalog=catalog)
    return out
