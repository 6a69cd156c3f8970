"""The static analyzer as a library: what ``kinkcheck check``, the report and the tests call.

>>> result = check_paths(["examples/"])          # doctest: +SKIP
>>> result.exit_code, result.undocumented        # doctest: +SKIP
(1, 12)
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from kinkcheck.config import Config, load_config
from kinkcheck.findings import Finding, sort_key
from kinkcheck.lint.runner import RunResult


class CheckResult(RunResult):
    """Every finding of a run, documented ones included, sorted by (path, line, col, code);
    ``files`` as shown to the user; ``errors`` are one-line problems that are not a file's
    fault (exit 2); ``warnings`` note what was skipped (symlink loops, inference budgets).
    RunResult's fields, ``__init__``, ``repr`` and ``==`` (no ``@dataclass`` here: it would
    compile them again, a millisecond of every run)."""

    @property
    def undocumented(self) -> int:
        return sum(1 for f in self.findings if not f.documented)

    @property
    def documented(self) -> int:
        return sum(1 for f in self.findings if f.documented)

    @property
    def exit_code(self) -> int:
        """2 on internal or usage errors, 1 while undocumented kinks remain, else 0."""
        if self.errors:
            return 2
        return 1 if self.undocumented else 0


def check_paths(
    paths: Iterable[str | Path],
    config: Config | None = None,
    *,
    scope: str | None = None,
    use_cache: bool = True,
    jobs: int | None = None,
    progress: bool = False,
    force_exclude: bool = False,
) -> CheckResult:
    """Check files and directories. ``config`` defaults to the nearest pyproject.toml above
    the first path; ``scope`` ("loss" | "model" | "all") overrides its scope."""
    from kinkcheck.lint.discover import discover
    from kinkcheck.lint.runner import run

    paths = [str(p) for p in paths] or ["."]
    if config is None:
        config = load_config(Path(paths[0]), {})
    found = discover(paths, config, force_exclude=force_exclude)
    ran = run(found.files, config, scope=scope, use_cache=use_cache, jobs=jobs, progress=progress)
    return CheckResult(
        findings=ran.findings,
        files=ran.files,
        errors=[*found.errors, *ran.errors],
        warnings=[*found.warnings, *ran.warnings],
        analyzed=ran.analyzed,
        cached=ran.cached,
        functions=ran.functions,
    )


def check_source(
    source: str,
    path: str = "<string>.py",
    *,
    module: str = "snippet",
    config: Config | None = None,
    scope: str | None = None,
    codes: Iterable[str] | None = None,
) -> list[Finding]:
    """Findings for one source text, comments applied: what a catalog example test needs.

    The same per-file pipeline as ``kinkcheck check`` (:func:`kinkcheck.lint.pipeline.analyze_source`),
    with the loss scope worked out over this one source. No files, no cache, no pool. A
    source that does not parse gives one KC001 finding.
    """
    return check_source_result(source, path, module=module, config=config, scope=scope, codes=codes).findings


def check_source_result(
    source: str,
    path: str = "<string>.py",
    *,
    module: str = "snippet",
    config: Config | None = None,
    scope: str | None = None,
    codes: Iterable[str] | None = None,
) -> CheckResult:
    """:func:`check_source` as a run of one file (``kinkcheck check -``): its findings, and
    the functions in scope counted as :func:`check_paths` counts them, so standard input gets
    the same summary line ("1 function of loss code") as the file."""
    from kinkcheck.lint.index import index_source
    from kinkcheck.lint.pipeline import analyze_source
    from kinkcheck.lint.runner import _catalog, syntax_error_finding
    from kinkcheck.lint.scope import loss_scope

    config = config or Config()
    scope = scope or config.scope
    catalog = _catalog()
    enabled = frozenset(codes) if codes is not None else config.codes_for(path, catalog)
    try:
        index = index_source(source, path, module)
        functions = loss_scope([index], scope=scope, loss_functions=tuple(config.loss_functions),
                               max_depth=config.max_depth).get(path)
        out = analyze_source(source, path, module, functions, codes=enabled, catalog=catalog,
                             analyze=bool(functions) or scope == "all")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return CheckResult(findings=[syntax_error_finding(path, exc)], files=[path], functions=0)
    findings = sorted((f for f in out if f.code in enabled or f.code == "KC001"), key=sort_key)
    counted = len({q.split("#", 1)[0] for q in functions or ()})  # as runner.run counts them
    return CheckResult(findings=findings, files=[path], functions=counted)
