"""The check pipeline: read -> index -> scope -> analyze -> comments -> select -> sort.

1. Every file is read once, as bytes, and indexed with the stdlib ``ast`` (cheap; cached).
   Those same bytes are hashed for the cache key and analysed: a file saved during the run
   can never get the new content's findings stored under the old content's key.
   Reading is where bad input is met: a directory or FIFO named ``x.py``, NUL bytes,
   undecodable text, a syntax error, absurd nesting. Each becomes a KC001 finding for
   that file and the run goes on.
2. ``loss_scope`` looks at all indexes together and says which functions are loss code.
3. Only files with something in scope are analyzed with astroid (the expensive part),
   in a process pool over files for big runs and in-process for the pre-commit case.
4. Kink comments mark findings documented; selection and per-file ignores apply.

Nothing here imports or executes the code being checked.
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:  # the pool machinery is imported only when a run uses it
    from concurrent.futures import ProcessPoolExecutor

from kinkcheck.findings import Finding, sort_key
from kinkcheck.record import record
from kinkcheck.lint import comments
from kinkcheck.lint.make_finding import make_finding
from kinkcheck.lint.cache import Cache, CacheDirError, check_cache_dir, content_hash, functions_key
from kinkcheck.lint.discover import SourceFile
from kinkcheck.source import SourceError
from kinkcheck.source import read as read_text

#: files larger than this are reported, not parsed (generated code, data in a .py)
MAX_BYTES = 20 * 1024 * 1024
#: below this many files the index stage runs in-process; pool start-up costs more
POOL_MIN_INDEX = 64
#: below this many files to analyze, analysis runs in-process
POOL_MIN_ANALYZE = 4
#: a progress bar only for runs at least this long
PROGRESS_MIN_FILES = 200


@dataclass
class Prepared:
    """Stage 1 output for one file (also what the cache keeps)."""

    file: SourceFile
    key: str | None = None
    index: Any = None
    #: comments.scan(): 0 none, 1 only blanket noqa, 2 kink comments to check
    comments: int = 0
    parse_error: Finding | None = None
    results: dict = field(default_factory=dict)
    dirty: bool = False
    #: an internal error (not the file's fault): reported on stderr, exit 2
    error: str | None = None
    #: the decoded text of the bytes the key was computed from (never pickled into the cache)
    text: str | None = None


# -- stage 1: read and index --------------------------------------------------------------


Source = tuple["bytes | None", "str | None", "Finding | None"]


def read_source(sf: SourceFile) -> Source:
    """(bytes, text, None) or (bytes|None, None, KC001 finding) for a file that cannot be read."""
    try:
        st = os.stat(sf.abspath)
    except OSError as exc:
        return None, None, parse_error(sf.path, f"cannot read file: {_strerror(exc)}")
    if stat.S_ISDIR(st.st_mode):
        return None, None, parse_error(sf.path, "cannot read file: it is a directory")
    if not stat.S_ISREG(st.st_mode):
        return None, None, parse_error(sf.path, "cannot read file: not a regular file (a FIFO, socket or device)")
    if st.st_size > MAX_BYTES:
        return None, None, parse_error(sf.path, f"file too large to analyze ({st.st_size // (1024 * 1024)} MiB)")
    try:
        with open(sf.abspath, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return None, None, parse_error(sf.path, f"cannot read file: {_strerror(exc)}")
    try:
        return data, read_text(data), None
    except SourceError as exc:
        return data, None, parse_error(sf.path, exc.message, exc.line, exc.col)


def parse_error(path: str, message: str, line: int = 1, col: int = 1, source_line: str = "") -> Finding:
    line, col = max(1, int(line or 1)), max(1, int(col or 1))
    return make_finding("KC001", _rule("KC001"), path=path, line=line, col=col, end_line=line, end_col=col + 1,
                        message=message, confidence="high", snippet=source_line)


def syntax_error_finding(path: str, exc: BaseException) -> Finding:
    if isinstance(exc, SyntaxError):
        msg = exc.msg or "invalid syntax"
        if "too many nested" in msg or "too complex" in msg:
            msg = f"expression nested too deeply to parse ({msg})"
        return parse_error(path, f"syntax error: {msg}", exc.lineno or 1, exc.offset or 1, (exc.text or "").rstrip("\n"))
    if isinstance(exc, RecursionError):
        from kinkcheck.lint.deep import DEEP_LIMIT

        return parse_error(path, f"file nested too deeply to analyze (more than {DEEP_LIMIT:,} levels)")
    if isinstance(exc, MemoryError):
        return parse_error(path, "file too large or too deeply nested to analyze (out of memory)")
    return parse_error(path, f"cannot parse file: {exc}")


def prepare(sf: SourceFile, source: Source, cache_dir: str | None, index: bool = True) -> Prepared | None:
    """Stage 1 for one file read as ``source``; never raises. With ``index=False`` a cache
    miss returns None (the caller indexes misses in the pool, hits are cheaper to load
    in-process)."""
    try:
        return _prepare(sf, source, cache_dir, index)
    except Exception as exc:  # a bug of ours, reported per file; the run goes on
        return Prepared(sf, error=f"{sf.path}: internal error while indexing: {type(exc).__name__}: {exc}")


def _prepare(sf: SourceFile, source: Source, cache_dir: str | None, index: bool = True) -> Prepared | None:
    data, text, problem = source
    if problem is not None:
        return Prepared(sf, parse_error=problem)
    cache = Cache(cache_dir, enabled=cache_dir is not None)
    assert data is not None and text is not None, "a source without a problem was read"
    key = cache.key(f"{sf.abspath}\0{sf.path}", sf.module, data)
    entry = cache.get(key)
    if entry is not None:
        return Prepared(sf, key, entry.get("index"), entry.get("comments", 0),
                        entry.get("parse_error"), entry.get("results", {}), text=text)
    if not index:
        return None
    prepared = Prepared(sf, key, dirty=True, text=text)
    from kinkcheck.lint.index import index_source

    try:
        prepared.index = index_source(text, sf.path, sf.module)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        prepared.parse_error = syntax_error_finding(sf.path, exc)
        return prepared
    prepared.comments = comments.scan(text)
    return prepared


def _prepare_batch(args: tuple[list[tuple[SourceFile, Source]], str | None]) -> list[Prepared]:
    files, cache_dir = args
    out = []
    for sf, source in files:
        prepared = prepare(sf, source, cache_dir)
        assert prepared is not None, "prepare indexes unless told not to"
        out.append(prepared)
    return out


# -- stage 3: analyze ---------------------------------------------------------------------


@record  # frozen, compiles nothing at import (kinkcheck/record.py)
class Task:
    file: SourceFile
    #: the text that was indexed and hashed: analysis never re-reads the file
    text: str
    functions: frozenset | None
    codes: frozenset
    all_codes: frozenset
    comments: int
    #: analyze only to learn whether the file's kink comments document anything
    usage_only: bool = False


def analyze(task: Task) -> tuple:
    """("ok", findings, notes) | ("parse", KC001 finding) | ("error", message). Never raises."""
    try:
        return _analyze(task)
    except (SyntaxError, ValueError) as exc:
        return "parse", syntax_error_finding(task.file.path, exc)
    except RecursionError as exc:
        return "parse", syntax_error_finding(task.file.path, exc)
    except MemoryError as exc:
        return "parse", syntax_error_finding(task.file.path, exc)
    except Exception as exc:
        return "error", f"{task.file.path}: internal error in analysis: {type(exc).__name__}: {exc}"


def _analyze(task: Task) -> tuple:
    from kinkcheck.lint.pipeline import analyze_source

    sf = task.file
    notes: list[str] = []  # e.g. the astroid fallback ran out of budget in this file
    out = analyze_source(task.text, sf.path, sf.module, task.functions, codes=task.codes, catalog=_catalog(),
                         all_codes=task.all_codes, analyze=not task.usage_only, directives=task.comments, notes=notes)
    return "ok", out, notes


# -- the run ------------------------------------------------------------------------------


@dataclass
class RunResult:
    findings: list[Finding] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    analyzed: int = 0
    cached: int = 0
    #: functions in scope (loss code, or every function under scope "all"): the summary line's
    #: "(124 functions of loss code)"; None when not known
    functions: int | None = None


def run(files: Sequence[SourceFile], config, *, scope: str | None = None, use_cache: bool = True,
        jobs: int | None = None, progress: bool = False) -> RunResult:
    from kinkcheck.config import META_CODES

    scope = scope or config.scope
    result = RunResult(files=[sf.path for sf in files])
    cache_dir = str(config.cache_path) if use_cache else None
    if cache_dir is not None:
        try:
            check_cache_dir(cache_dir, config.root)
        except CacheDirError as exc:
            from kinkcheck.config import ConfigError

            raise ConfigError(str(exc)) from None
    cache = Cache(cache_dir, enabled=use_cache)
    jobs = jobs if jobs is not None else (os.cpu_count() or 1)
    fingerprint = config.fingerprint()

    # Each file is read exactly once; the key, the index and the analysis see these bytes.
    sources = [read_source(sf) for sf in files]
    run_key = None
    if use_cache:
        # Fast path: same files (by content), same settings, same analyzer -> same findings.
        # (the catalog's contents are in the cache directory's salt; not parsing it here
        # keeps a cached pre-commit run to reading and hashing the files)
        parts: list = [fingerprint, scope]
        for sf, (data, _, problem) in zip(files, sources):
            seen = content_hash(data) if data is not None else (problem.message if problem else "")
            parts.append((sf.path, sf.abspath, sf.module, seen))
        run_key = cache.run_key(parts)
        entry = cache.get_run_entry(run_key)
        hit = None if entry is None else entry.get("findings")
        if hit is not None:
            result.findings = list(hit)
            result.functions = entry.get("functions") if entry is not None else None
            result.cached = len(files)
            return result

    catalog = _catalog()
    all_codes = frozenset(code for code in catalog if code not in META_CODES)
    bar = _Progress(progress and len(files) >= PROGRESS_MIN_FILES, len(files))
    pool: ProcessPoolExecutor | None = None
    try:
        # 1. read + index; cache hits load in-process (cheaper than shipping indexes back
        #    from workers), misses are indexed in the pool when there are many
        slots: list[Prepared | None] = [None] * len(files)
        if use_cache:
            for i, sf in enumerate(files):
                slots[i] = prepare(sf, sources[i], cache_dir, index=False)
                if slots[i] is not None:
                    bar.advance(1)
        misses = [i for i, p in enumerate(slots) if p is None]
        if jobs > 1 and len(misses) >= POOL_MIN_INDEX:
            from concurrent.futures.process import BrokenProcessPool

            pool = _pool(jobs)
            size = max(4, min(32, len(misses) // (jobs * 8) or 1))
            chunks = [misses[i : i + size] for i in range(0, len(misses), size)]
            try:
                for chunk, batch in zip(chunks, pool.map(_prepare_batch, [([(files[i], sources[i]) for i in c],
                                                                           cache_dir) for c in chunks])):
                    for i, p in zip(chunk, batch):
                        slots[i] = p
                    bar.advance(len(batch))
            except BrokenProcessPool:
                pool = None
                left = [i for i in misses if slots[i] is None]
                redone = _isolated(_prepare_batch, [([(files[i], sources[i])], cache_dir) for i in left], result,
                                   lambda item: [Prepared(item[0][0][0],
                                                          error=f"{item[0][0][0].path}: the indexer crashed on this file")])
                redone = [batch[0] for batch in redone]
                for i, p in zip(left, redone):
                    slots[i] = p
                bar.advance(len(left))
        else:
            for i in misses:
                slots[i] = prepare(files[i], sources[i], cache_dir)
                bar.advance(1)
        prepared: list[Prepared] = slots  # type: ignore[assignment]

        # 2. scope over all indexes together
        indexes = [p.index for p in prepared if p.index is not None]
        from kinkcheck.lint.scope import SLICE, loss_scope

        try:
            scoped = loss_scope(indexes, scope=scope, loss_functions=tuple(config.loss_functions),
                                max_depth=config.max_depth) if indexes else {}
        except RecursionError:
            scoped = {}
            result.errors.append("internal error: scope analysis recursed too deeply")
        # a function in scope, whole or sliced; the other entries are facts about functions
        # (of this file or of the helpers it calls in others), not functions of their own
        result.functions = sum(len({q.removesuffix(SLICE) for q in qs if "#" not in q or q.endswith(SLICE)})
                               for qs in scoped.values())

        # 3. analyze what is in scope (or cached)
        tasks: list[tuple[Prepared, Task, tuple]] = []
        findings: list[Finding] = []
        for p in prepared:
            if p.error is not None:
                result.errors.append(p.error)
                continue
            if p.parse_error is not None:
                findings.append(p.parse_error)
                continue
            functions = scoped.get(p.file.path) if p.index is not None else None
            if scope == "all" and functions is None and p.index is not None:
                functions = None  # every function
                in_scope = True
            else:
                in_scope = bool(functions)
            if in_scope and not getattr(p.index, "may_have_findings", True):
                in_scope = False
            if not in_scope and p.comments < 2:
                continue
            codes = frozenset(config.codes_for(p.file.path, catalog)) - META_CODES
            rkey = (fingerprint, functions_key(functions) if in_scope else "-", scope)
            if rkey in p.results:
                findings.extend(p.results[rkey])
                result.cached += 1
                continue
            task = Task(p.file, p.text or "", frozenset(functions) if functions is not None else None, codes, all_codes,
                        p.comments, usage_only=not in_scope)
            tasks.append((p, task, rkey))

        bar.restart(len(tasks), "analyzing")
        outcomes: list[tuple]
        if jobs > 1 and len(tasks) >= POOL_MIN_ANALYZE:
            from concurrent.futures.process import BrokenProcessPool

            pool = pool or _pool(jobs)
            outcomes = [None] * len(tasks)  # type: ignore[list-item]
            futures = {pool.submit(analyze, t): i for i, (_, t, _) in enumerate(tasks)}
            broken: list[int] = []
            from concurrent.futures import as_completed

            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    outcomes[i] = fut.result()
                except BrokenProcessPool:
                    broken.append(i)
                except Exception as exc:  # e.g. a result that cannot be unpickled
                    outcomes[i] = ("error", f"{tasks[i][1].file.path}: internal error in analysis: {type(exc).__name__}: {exc}")
                bar.advance(1)
            if broken:
                pool = None
                retried = _isolated(analyze, [tasks[i][1] for i in sorted(broken)], result,
                                    lambda t: ("error", f"{t.file.path}: the analyzer crashed on this file (worker process died)"))
                for i, outcome in zip(sorted(broken), retried):
                    outcomes[i] = outcome
        else:
            outcomes = []
            for _, t, _ in tasks:
                outcomes.append(analyze(t))
                bar.advance(1)

        for (p, task, rkey), (status, value, *notes) in zip(tasks, outcomes):
            for note in notes[0] if notes else ():
                result.warnings.append(note)
            if status == "ok":
                file_findings = list(value)
            elif status == "parse":
                file_findings = [value]
            else:
                result.errors.append(value)
                continue
            result.analyzed += 1
            p.results[rkey] = file_findings
            p.dirty = True
            findings.extend(file_findings)
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    if use_cache:
        for p in prepared:
            if p.dirty and p.key is not None:
                cache.put(p.key, {"index": p.index, "comments": p.comments,
                                  "parse_error": p.parse_error, "results": p.results})

    # 4. selection: per-file enabled codes; meta codes follow select/ignore too
    enabled_by_path: dict[str, frozenset] = {}
    selected = []
    for f in findings:
        enabled = enabled_by_path.get(f.path)
        if enabled is None:
            enabled = enabled_by_path[f.path] = config.codes_for(f.path, catalog) | _always(config, catalog)
        if f.code in enabled:
            selected.append(f)
    result.findings = sorted(set(selected), key=sort_key)
    if run_key is not None and not result.errors:
        cache.put_run(run_key, result.findings, functions=result.functions)
    return result


def _always(config, catalog) -> frozenset[str]:
    """KC001 is reported even under a narrow ``--select``, unless explicitly ignored."""
    try:
        ignored = catalog.select(config.ignore)
    except Exception:
        ignored = set(config.ignore)
    return frozenset({"KC001"} - set(ignored))


def _isolated(fn, items, result: RunResult, crashed):
    """Run ``fn`` over ``items`` one per fresh single-worker pool, after a worker died:
    the file that kills a worker is reported and the others still get checked."""
    from concurrent.futures.process import BrokenProcessPool

    out = []
    for item in items:
        try:
            with _pool(1) as solo:
                out.append(solo.submit(fn, item).result())
        except BrokenProcessPool:
            out.append(crashed(item))
    return out


#: None: fork when it is safe (a single-threaded CLI process), else spawn
START_METHOD: str | None = None


def _pool(jobs: int) -> ProcessPoolExecutor:
    """Fork is cheapest and what the CLI gets; a host process with threads (jax, torch, a
    notebook calling check_paths) gets spawn, since forking threads can deadlock."""
    import multiprocessing
    import threading
    from concurrent.futures import ProcessPoolExecutor

    method = START_METHOD
    if method is None:
        can_fork = "fork" in multiprocessing.get_all_start_methods()
        # jax and torch run native threads that threading cannot see
        threaded = threading.active_count() > 1 or "jax" in sys.modules or "torch" in sys.modules
        method = "fork" if can_fork and not threaded else "spawn"
    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context(method))


def _catalog():
    from kinkcheck.config import _catalog as load

    return load()


def _rule(code: str):
    try:
        return _catalog().get(code)
    except Exception:
        return None


def _strerror(exc: OSError) -> str:
    import errno

    if exc.errno == errno.ELOOP:
        return "symbolic link loop"
    return (exc.strerror or str(exc)).lower()


class _Progress:
    """A rich progress bar on stderr, only for long runs on a terminal."""

    def __init__(self, enabled: bool, total: int):
        self.bar = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=Console(file=sys.stderr), transient=True)
        self.bar.start()
        self.task = self.bar.add_task("reading", total=total)

    def advance(self, n: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, n)

    def restart(self, total: int, description: str) -> None:
        if self.bar is not None:
            self.bar.reset(self.task, total=total, description=description)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
