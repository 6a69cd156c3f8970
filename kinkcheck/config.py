"""``[tool.kinkcheck]`` in pyproject.toml, merged with command-line overrides.

The nearest ``pyproject.toml`` with a ``[tool.kinkcheck]`` table, walking up from the first
checked path, is the project's configuration; its directory is the project root that
relative globs (``exclude``, ``per-file-ignores``) and the cache are anchored to. Keys are
checked strictly: a typo in a key or a rule code is an error naming it (exit 2), never a
silently ignored setting.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

from kinkcheck.catalog import SEVERITIES
from kinkcheck.digest import short_hash
from kinkcheck.errors import KinkcheckError
from kinkcheck.globs import GlobError, glob_match, literal
from kinkcheck.globs import compile_glob as _compile  # discovery imports it from here
from kinkcheck.record import field, field_names, record, replace
from kinkcheck.usercache import TOMLError, load_toml  # tomllib, imported to parse a text not seen before

SCOPES = ("loss", "model", "all")

#: Findings about the input itself (parse errors, bad kink comments), not about kinks.
META_CODES = frozenset({"KC001", "KC002", "KC003"})

#: Directories never worth reading, like ruff's defaults. ``exclude`` replaces this list.
DEFAULT_EXCLUDE: tuple[str, ...] = (
    ".bzr", ".direnv", ".eggs", ".git", ".git-rewrite", ".hg", ".mypy_cache", ".nox",
    ".pants.d", ".pytype", ".ruff_cache", ".svn", ".tox", ".venv", "__pypackages__",
    "_build", "buck-out", "build", "dist", "node_modules", "venv",
)

#: Skipped whatever the configuration says: caches and installed packages.
ALWAYS_EXCLUDE: tuple[str, ...] = (".git", "__pycache__", ".kinkcheck_cache", "site-packages")

#: pyproject key -> Config field. Anything else under [tool.kinkcheck] is an error.
KEYS: Mapping[str, str] = {
    "select": "select",
    "ignore": "ignore",
    "extend-select": "extend_select",
    "per-file-ignores": "per_file_ignores",
    "exclude": "exclude",
    "extend-exclude": "extend_exclude",
    "loss-functions": "loss_functions",
    "max-depth": "max_depth",
    "scope": "scope",
    "cache-dir": "cache_dir",
    "respect-gitignore": "respect_gitignore",
    "severity": "severity",
}


class ConfigError(KinkcheckError):
    """The configuration is invalid; the message names the file and the offending key or code."""


@record
class Config:
    """Settings for one run. ``select`` None means the catalog's default rules."""

    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    extend_exclude: tuple[str, ...] = ()
    loss_functions: tuple[str, ...] = ()
    max_depth: int = 3
    scope: str = "loss"
    cache_dir: str = ".kinkcheck_cache"
    respect_gitignore: bool = True
    #: (rule selector, severity) overrides of the catalog's severities, in the order given
    severity: tuple[tuple[str, str], ...] = ()
    root: Path = field(default_factory=Path.cwd)
    source: Path | None = None
    #: (field, where its value came from: the config file's path or "command line");
    #: fields not listed have their default (``kinkcheck config`` shows this)
    origins: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def origin(self, name: str) -> str:
        """Where the value of field ``name`` came from: a file, "command line" or "default"."""
        return dict(self.origins).get(name, "default")

    def severity_of(self, code: str, catalog=None) -> str:
        """``code``'s severity: the most specific ``severity`` override naming it (an exact code
        or name over a longer prefix over a shorter one, ALL last), else the catalog's."""
        catalog = catalog or _catalog()
        best: tuple[int, str] | None = None
        for selector, level in self.severity:
            if code not in catalog.select([selector]):
                continue
            rank = 99 if catalog.lookup(selector) is not None else len(selector) if selector.upper() != "ALL" else 0
            if best is None or rank >= best[0]:
                best = (rank, level)
        if best is not None:
            return best[1]
        rule = catalog.get(code)
        return rule.severity if rule is not None else "error"

    # -- rule selection ---------------------------------------------------------------
    def enabled_codes(self, catalog=None) -> frozenset[str]:
        """Codes this run reports: (select or defaults) + extend-select - ignore."""
        catalog = catalog or _catalog()
        return _enabled(self.select, self.extend_select, self.ignore, catalog)

    def codes_for(self, path: str | Path, catalog=None) -> frozenset[str]:
        """Enabled codes minus the per-file ignores matching ``path``."""
        codes = self.enabled_codes(catalog)
        if not self.per_file_ignores:
            return codes
        rel = self.relative(path)
        drop: set[str] = set()
        catalog = catalog or _catalog()
        for pattern, selectors in self.per_file_ignores:
            if glob_match(pattern, rel):
                drop |= catalog.select(selectors)
        return codes - drop

    # -- paths ------------------------------------------------------------------------
    @property
    def excludes(self) -> tuple[str, ...]:
        return tuple(self.exclude) + tuple(self.extend_exclude) + ALWAYS_EXCLUDE

    def relative(self, path: str | Path) -> str:
        """``path`` relative to the project root in posix form (absolute if outside it)."""
        p = os.path.abspath(path)
        for root in _roots(str(self.root)):
            if p == root:
                return "."
            if p.startswith(root + os.sep) or (root == os.sep and p.startswith(root)):
                return p[len(root):].lstrip(os.sep).replace(os.sep, "/")
        return p.replace(os.sep, "/")

    def is_excluded(self, path: str | Path) -> bool:
        rel = self.relative(path)
        return any(glob_match(pattern, rel) for pattern in self.excludes)

    @property
    def cache_path(self) -> Path:
        p = Path(self.cache_dir)
        return p if p.is_absolute() else self.root / p

    def fingerprint(self) -> str:
        """A stable hash of every setting that changes findings (the cache key's config part)."""
        parts = repr((
            self.select, self.ignore, self.extend_select, self.per_file_ignores,
            self.loss_functions, self.max_depth, self.scope,
        ))
        return short_hash(parts, 16)


@lru_cache(maxsize=8)
def _roots(root: str) -> tuple[str, ...]:
    """The root as given and as resolved (symlinked temp dirs differ)."""
    a, b = os.path.abspath(root), os.path.realpath(root)
    return (a,) if a == b else (a, b)


def _catalog():
    """The catalog, imported and parsed on first use (``catalog.load`` caches it)."""
    from kinkcheck import catalog

    return catalog.load()


def _enabled(select, extend_select, ignore, catalog) -> frozenset[str]:
    if select is not None:
        base = catalog.select(select)
    else:  # meta rules are on by default even before the catalog lists them
        base = catalog.default_codes() | {c for c in META_CODES if c not in catalog}
    base |= catalog.select(extend_select)
    base -= catalog.select(ignore)
    return frozenset(base)


# -- loading ------------------------------------------------------------------------------


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml with a [tool.kinkcheck] table at or above ``start``.
    One that never spells ``kinkcheck`` cannot have the table and is not read further; one
    that does is parsed once per content (kinkcheck/usercache.py)."""
    start = Path(os.path.abspath(start))
    if start.is_file() or not start.exists():
        start = start.parent
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            try:
                raw = candidate.read_bytes()
            except OSError:
                continue
            if b"kinkcheck" not in raw:
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:  # ours (it names kinkcheck), unreadable: say so
                raise ConfigError(f"{candidate}: not UTF-8 text (byte {exc.start}); TOML files must be UTF-8") from None
            try:
                data = load_toml(text)
            except TOMLError as exc:
                if "tool.kinkcheck" in text:  # ours, broken: say so rather than run unconfigured
                    raise ConfigError(f"{candidate}: invalid TOML: {exc}") from None
                continue
            if isinstance(data.get("tool"), dict) and "kinkcheck" in data["tool"]:
                return candidate
    return None


def load_config(start: Path | str | None = None, overrides: Mapping[str, Any] | None = None,
                *, config_file: Path | str | None = None) -> Config:
    """Config from the nearest pyproject.toml above ``start`` (or ``config_file``), then overrides.

    ``overrides`` uses Config field names; ``select`` and ``scope`` replace the file's value,
    ``ignore``, ``extend_select``, ``extend_exclude`` and ``per_file_ignores`` add to it.
    """
    overrides = dict(overrides or {})
    config_file = overrides.pop("config_file", None) or config_file
    values: dict[str, Any] = {}
    source: Path | None = None
    if config_file is not None:
        source = Path(config_file)
        values = _read_file(source, explicit=True)
    else:
        found = find_pyproject(Path(start) if start is not None else Path.cwd())
        if found is not None:
            source = found
            values = _read_file(found, explicit=False)
    root = source.resolve().parent if source is not None else Path.cwd()
    where = source.name if source is not None else "command line"
    origins = {name: str(source) for name in values}
    cfg = Config(root=root, source=source, **values)
    _validate(cfg, where)

    merged: dict[str, Any] = {}
    for key, value in overrides.items():
        if value is None:
            continue
        if key not in field_names(Config) or key in ("root", "source"):
            raise ConfigError(f"unknown setting {key!r}")
        if key in ("ignore", "extend_select", "extend_exclude", "loss_functions"):
            merged[key] = tuple(getattr(cfg, key)) + _strings(value, key, "command line")
        elif key == "per_file_ignores":
            merged[key] = tuple(cfg.per_file_ignores) + _per_file(value, "command line")
        elif key in ("select", "exclude"):
            merged[key] = _strings(value, key, "command line")
        elif key == "severity":
            merged[key] = tuple(cfg.severity) + _severities(value, "command line", "")
        else:
            merged[key] = value
        origins[key] = "command line"
    cfg = replace(cfg, origins=tuple(origins.items()))
    if merged:
        cfg = replace(cfg, **merged)
        _validate(cfg, "command line")
    return cfg


def _read_file(path: Path, *, explicit: bool) -> dict[str, Any]:
    from kinkcheck.inputs import InputError, read_bytes

    try:
        raw = read_bytes(path, what="config file")
    except InputError as exc:
        raise ConfigError(f"cannot read config file {exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); TOML files must be UTF-8") from None
    try:
        data = load_toml(text)
    except TOMLError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    if path.name == "pyproject.toml" or "tool" in data:
        tool = data.get("tool", {})
        if not isinstance(tool, dict):
            raise ConfigError(f"{path}: 'tool' must be a table, got {_kind(tool)}")
        table = tool.get("kinkcheck")
        if table is None:
            if explicit:
                raise ConfigError(f"{path}: no [tool.kinkcheck] table")
            return {}
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: tool.kinkcheck must be a table ([tool.kinkcheck]), got {_kind(table)}")
        prefix = "tool.kinkcheck."
    else:  # a dedicated kinkcheck.toml: the settings at the top level
        table = data
        prefix = ""
    return _parse_table(table, path.name, prefix)


def _parse_table(table: Mapping[str, Any], where: str, prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = KEYS.get(key)
        if name is None:
            raise ConfigError(f"{where}: unknown key '{prefix}{key}'{did_you_mean(key, KEYS)}")
        if name == "severity":
            out[name] = _severities(value, where, prefix)
        elif name == "per_file_ignores":
            out[name] = _per_file(value, where)
        elif name == "max_depth":
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{where}: {prefix}{key} must be a non-negative integer, got {value!r}")
            out[name] = value
        elif name == "respect_gitignore":
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: {prefix}{key} must be true or false, got {value!r}")
            out[name] = value
        elif name in ("scope", "cache_dir"):
            if not isinstance(value, str):
                raise ConfigError(f"{where}: {prefix}{key} must be a string, got {value!r}")
            out[name] = value
        else:
            out[name] = _strings(value, key, where)
    return out


def did_you_mean(word: str, choices: Iterable[str], cutoff: float = 0.6) -> str:
    """`` (did you mean 'select'?)`` for the closest of ``choices`` (difflib), else ``""``.
    Rule codes differ in a digit, so they ask for a closer match (0.8: one character in five)."""
    import difflib

    by_lower = {c.lower(): c for c in choices}
    normal = word.replace("_", "-").lower()
    close = [normal] if normal in by_lower else difflib.get_close_matches(normal, list(by_lower), n=1, cutoff=cutoff)
    return f" (did you mean {by_lower[close[0]]!r}?)" if close and by_lower[close[0]] != word else ""


def _severities(value: Any, where: str, prefix: str) -> tuple[tuple[str, str], ...]:
    """``{KC101 = "error", KC5 = "note"}`` -> ((selector, level), ...)."""
    if isinstance(value, (list, tuple)) and all(isinstance(v, tuple) and len(v) == 2 for v in value):
        value = dict(value)
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: {prefix}severity must be a table of rule = \"error\" | \"warning\" | \"note\"")
    out = []
    for selector, level in value.items():
        if level not in SEVERITIES:
            raise ConfigError(f"{where}: {prefix}severity.{selector}: unknown severity {level!r} "
                              f"(expected one of {', '.join(SEVERITIES)}){did_you_mean(str(level), SEVERITIES)}")
        out.append((str(selector), level))
    return tuple(out)


def _kind(value: Any) -> str:
    """A TOML value for a message: "the string 'x'", "the number 5", "an array"."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    return "an array" if isinstance(value, list) else "a table" if isinstance(value, dict) else "a date or time"


def _strings(value: Any, key: str, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v for v in re.split(r"[,\s]+", value) if v]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: {key} must be a list of strings, got {value!r}")
    return tuple(value)


def _per_file(value: Any, where: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if isinstance(value, (list, tuple)) and all(isinstance(v, tuple) and len(v) == 2 for v in value):
        value = dict(value)
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: per-file-ignores must be a table of glob = [codes]")
    return tuple((str(pattern), _strings(codes, f"per-file-ignores.{pattern!r}", where))
                 for pattern, codes in value.items())


def _validate(cfg: Config, where: str) -> None:
    if cfg.scope not in SCOPES:
        raise ConfigError(f"{where}: unknown scope {cfg.scope!r} (expected one of {', '.join(SCOPES)})")
    patterns = [("exclude", p) for p in cfg.exclude] + [("extend-exclude", p) for p in cfg.extend_exclude]
    patterns += [("per-file-ignores", p) for p, _ in cfg.per_file_ignores]
    for key, pattern in patterns:
        if literal(pattern) is not None:
            continue  # a plain name is a valid glob (every default exclude is one): no regex to build
        try:
            _compile(pattern)
        except GlobError as exc:
            raise ConfigError(f"{where}: bad glob {pattern!r} in {key}: {exc}") from None
    if not (cfg.select or cfg.ignore or cfg.extend_select or cfg.per_file_ignores or cfg.severity):
        return  # nothing names a rule: no need to parse the catalog (the cached pre-commit case)
    from kinkcheck.catalog import CatalogError

    catalog = _catalog()
    groups: list[tuple[str, Iterable[str]]] = [
        ("select", cfg.select or ()), ("ignore", cfg.ignore), ("extend-select", cfg.extend_select),
    ]
    groups += [(f"per-file-ignores[{pattern!r}]", codes) for pattern, codes in cfg.per_file_ignores]
    groups.append(("severity", [selector for selector, _ in cfg.severity]))
    for key, selectors in groups:
        for selector in selectors:
            try:
                catalog.select([selector])
            except CatalogError:
                hint = did_you_mean(selector, [*catalog, *(r.name for r in catalog.values())], cutoff=0.8)
                raise ConfigError(f"{where}: unknown rule code {selector!r} in {key}{hint}") from None
