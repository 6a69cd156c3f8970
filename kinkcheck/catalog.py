"""The rule catalog: one TOML file per rule in ``rules/``, loaded into frozen records.

Everything else (the static checks, the tracer's op table, ``kinkcheck rule``, the
report's subgradient and remedy columns, the example tests) reads rules from here, so a
rule is written down exactly once. Validation is strict: an unknown key, a duplicate code
or a guard that no check understands fails at load time with the file's name.
"""

from __future__ import annotations

import functools
import re
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping

from kinkcheck.catalog_vocabulary import (  # noqa: F401  (re-exported: the words a rule file may use)
    CALL_INPUTS,
    CATEGORIES,
    CONFIDENCES,
    GUARDS,
    NEAR_SCALES,
    RUNTIME_KINDS,
    SEVERITIES,
    STATUSES,
)
from kinkcheck.record import field, record

# (patterns, not compiled ones: only parsing the rules uses them, and re caches what it compiles)
_CODE_RE = r"^KC\d{3}$"
_NAME_RE = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
#: an expected finding's span: ``line:col`` or ``line:col-end_line:end_col`` (1-based, end exclusive)
_SPAN_RE = r"^(\d+):(\d+)(?:-(\d+):(\d+))?$"

_DOC_SECTIONS = ("what", "why", "known_problems", "example", "use_instead", "references")


class CatalogError(Exception):
    """The catalog on disk is malformed; the message names the file and the key."""


@record
class Match:
    """What a rule matches in source. Empty when the rule's check is code-only."""

    callables: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    operators: tuple[str, ...] = ()
    argument: int = 0
    keyword: str | None = None


@record
class Subgradient:
    """The value a framework returns at the kink, and how a test can reproduce it."""

    framework: str
    value: str
    expr: str | None = None
    at: Mapping[str, float] = field(default_factory=dict)
    grad: Mapping[str, float] = field(default_factory=dict)


@record
class Runtime:
    """How the tracer sees the rule: which aten ops, numpy callables and JAX (lax primitive
    names, or qualified jax functions whose kinked primitives belong to this rule), which kind."""

    kind: str
    aten: tuple[str, ...] = ()
    numpy: tuple[str, ...] = ()
    jax: tuple[str, ...] = ()
    #: what near is measured against (NEAR_SCALES) and why, for this rule
    near: str = "tensor"
    near_why: str = ""
    #: (op name, its bounds): numbers or argument names ("-lambd" negated), lower bound first
    bounds: tuple[tuple[str, tuple], ...] = ()
    #: what a user writes (an expression in torch, F, nn and CALL_INPUTS' names) and the aten
    #: overloads it must hit; the test runs each, so a stale overload fails there
    calls: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def bounds_of(self, op_name: str) -> tuple:
        """The bounds ``[runtime.bounds]`` gives an op (``hardtanh``), or ()."""
        return next((b for name, b in self.bounds if name == op_name), ())


#: how a remedy may be applied by ``check --fix`` (ruff's vocabulary): ``safe`` keeps the
#: function's value everywhere, ``unsafe`` changes the maths (``--unsafe-fixes``), ``display``
#: is advice only (it changes the model, or the site must be read first)
APPLICABILITY = ("safe", "unsafe", "display")
#: the facts a remedy's ``when`` / ``unless`` may name (kinkcheck.remedy.bindings)
REMEDY_FACTS = ("lo", "hi", "dim", "dim-last", "p2", "tuple-result", "builtin", "exponent-unit", "eps-in-x",
                "x-softmax", "x-sigmoid", "x-guarded", "x-nonneg", "rounding-mode", "starred")


@record
class Remedy:
    title: str
    rewrite: str | None = None
    note: str = ""
    applicability: str = "display"
    #: constants of the template and their documented defaults (eps = 1e-6)
    params: tuple[tuple[str, float], ...] = ()
    #: the callees it fits (last name: ``maximum``, ``clamp``, ``/``); empty: all of the rule's
    callees: tuple[str, ...] = ()
    when: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()
    #: facts without which the remedy is shown but is no fix at that site (advice only there)
    fix_when: tuple[str, ...] = ()
    #: the rewrite written for jax / numpy sites ("" : none); None: translated from torch
    jax: str | None = None
    numpy: str | None = None
    #: what the harness checks: the largest difference from the original at least 0.5 from
    #: the kink (an expression in the params; relative to |original| when ``relative``), the
    #: side of the original it stays on (``upper`` / ``lower``), and the smoothing constant
    error: str = ""
    relative: bool = False
    bound: str = ""
    smoothing: str = ""


@record
class Expected:
    """A finding an ``[[invalid]]`` example must give, as Fixit's ``Invalid(...)`` pins it:
    where (1-based; ``end_col`` exclusive; None when the example gives a position only) and
    the message (None: not pinned)."""

    line: int
    col: int
    end_line: int | None = None
    end_col: int | None = None
    message: str | None = None
    #: the finding's ``replacement`` (None: not pinned)
    replacement: str | None = None


@record
class Example:
    id: str
    code: str
    expect: tuple[Expected, ...] = ()


@record
class Docs:
    what: str
    why: str
    known_problems: str = ""
    example: str = ""
    use_instead: str = ""
    references: tuple[str, ...] = ()


@record
class Rule:
    code: str
    name: str
    category: str
    summary: str
    message: str
    docs: Docs
    source: Path
    since: str = "0.1.0"
    status: str = "stable"
    default: bool = True
    confidence: str = "high"
    severity: str = "warning"
    where: str = ""
    math: str = ""
    match: Match = field(default_factory=Match)
    subgradients: tuple[Subgradient, ...] = ()
    runtime: Runtime | None = None
    guards: tuple[str, ...] = ()
    remedies: tuple[Remedy, ...] = ()
    valid: tuple[Example, ...] = ()
    invalid: tuple[Example, ...] = ()

    def subgradient(self, framework: str) -> Subgradient | None:
        for sub in self.subgradients:
            if sub.framework == framework:
                return sub
        return None

    @property
    def help_uri(self) -> str:
        return f"https://github.com/kinkcheck/kinkcheck/blob/main/rules/{self.source.name}"


class Catalog(Mapping[str, Rule]):
    """All rules by code, in code order, with lookups by name and by qualified callable."""

    def __init__(self, rules: Iterable[Rule], root: Path):
        self.root = root
        self._rules = {r.code: r for r in sorted(rules, key=lambda r: r.code)}
        self._by_name = {r.name: r for r in self._rules.values()}

    def __getitem__(self, code: str) -> Rule:
        return self._rules[code]

    def __iter__(self):
        return iter(self._rules)

    def __len__(self) -> int:
        return len(self._rules)

    def by_name(self, name: str) -> Rule | None:
        return self._by_name.get(name)

    def lookup(self, code_or_name: str) -> Rule | None:
        key = code_or_name.strip()
        return self._rules.get(key.upper()) or self._by_name.get(key.lower())

    def select(self, prefixes: Iterable[str]) -> set[str]:
        """Codes matched by ruff-style prefixes (`KC1`, `KC101`, `ALL`); unknown -> CatalogError."""
        out: set[str] = set()
        for prefix in prefixes:
            p = prefix.strip().upper()
            if p == "ALL":
                out.update(self._rules)
                continue
            hits = {c for c in self._rules if c.startswith(p)}
            if not hits or not p.startswith("KC"):
                rule = self._by_name.get(prefix.strip().lower())
                if rule is None:
                    raise CatalogError(f"unknown rule code or prefix: {prefix!r}")
                hits = {rule.code}
            out.update(hits)
        return out

    def default_codes(self) -> set[str]:
        return {c for c, r in self._rules.items() if r.default}


def rules_dir() -> Path:
    """The catalog directory: the copy shipped in the wheel, else the repository's ``rules/``."""
    here = Path(__file__).resolve().parent
    shipped = here / "_rules"
    if shipped.is_dir():
        return shipped
    return here.parent / "rules"


@functools.lru_cache(maxsize=4)
def load(directory: str | Path | None = None) -> Catalog:
    """The catalog in ``directory`` (default: :func:`rules_dir`), parsed once and then kept
    between runs (kinkcheck/catalog_cache.py)."""
    from kinkcheck import catalog_cache

    root = Path(directory) if directory is not None else rules_dir()
    if not root.is_dir():
        raise CatalogError(f"rule catalog not found at {root}")
    stamp = catalog_cache.stamp(root)
    cached = catalog_cache.read(stamp)
    if cached is not None:
        return cached
    names = catalog_cache.rule_files(stamp) if stamp is not None else None
    catalog = _parse(root, [root / name for name in names] if names is not None else sorted(root.glob("*.toml")))
    catalog_cache.write(stamp, catalog)
    return catalog


def _parse(root: Path, files: list[Path]) -> Catalog:
    rules = [load_rule(path) for path in files]
    seen: dict[str, Path] = {}
    names: dict[str, Path] = {}
    for rule in rules:
        if rule.code in seen:
            raise CatalogError(f"{rule.source.name}: duplicate code {rule.code} (also in {seen[rule.code].name})")
        if rule.name in names:
            raise CatalogError(f"{rule.source.name}: duplicate name {rule.name} (also in {names[rule.name].name})")
        seen[rule.code] = rule.source
        names[rule.name] = rule.source
    return Catalog(rules, root)


def load_rule(path: Path) -> Rule:
    if sys.version_info >= (3, 11):  # imported here: a run that finds the cached catalog never parses TOML
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CatalogError(f"{path.name}: cannot read rule: {exc}") from None
    try:
        return _build(data, path)
    except CatalogError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise CatalogError(f"{path.name}: {exc}") from None


_TOP_KEYS = {
    "code", "name", "category", "summary", "message", "since", "status", "default",
    "confidence", "severity", "kink", "match", "subgradient", "runtime", "guards", "remedies", "docs",
    "valid", "invalid",
}


def _build(data: dict[str, Any], path: Path) -> Rule:
    _no_unknown(data, _TOP_KEYS, path.name)
    code = _req(data, "code", str, path)
    if not re.match(_CODE_RE, code):
        raise CatalogError(f"{path.name}: code {code!r} is not of the form KC123")
    if not path.name.startswith(code):
        raise CatalogError(f"{path.name}: file name must start with its code {code}")
    name = _req(data, "name", str, path)
    if not re.match(_NAME_RE, name):
        raise CatalogError(f"{path.name}: name {name!r} must be kebab-case")
    category = _req(data, "category", str, path)
    _one_of(category, CATEGORIES, "category", path)
    status = data.get("status", "stable")
    _one_of(status, STATUSES, "status", path)
    confidence = data.get("confidence", "high")
    _one_of(confidence, CONFIDENCES, "confidence", path)
    severity = data.get("severity", "warning")
    _one_of(severity, SEVERITIES, "severity", path)

    kink = data.get("kink", {})
    _no_unknown(kink, {"where", "math"}, f"{path.name} [kink]")

    m = data.get("match", {})
    _no_unknown(m, {"callables", "methods", "operators", "argument", "keyword"}, f"{path.name} [match]")
    match = Match(
        callables=tuple(m.get("callables", ())),
        methods=tuple(m.get("methods", ())),
        operators=tuple(m.get("operators", ())),
        argument=int(m.get("argument", 0)),
        keyword=m.get("keyword"),
    )

    subs = []
    for framework, s in data.get("subgradient", {}).items():
        _no_unknown(s, {"value", "expr", "at", "grad"}, f"{path.name} [subgradient.{framework}]")
        subs.append(
            Subgradient(
                framework=framework,
                value=str(_req(s, "value", str, path)),
                expr=s.get("expr"),
                at=dict(s.get("at", {})),
                grad=dict(s.get("grad", {})),
            )
        )

    runtime = None
    if "runtime" in data:
        r = data["runtime"]
        _no_unknown(r, {"kind", "aten", "numpy", "jax", "near", "near_why", "bounds", "calls"}, f"{path.name} [runtime]")
        _one_of(r["kind"], tuple(RUNTIME_KINDS), "runtime.kind", path)
        _one_of(r.get("near", "tensor"), tuple(NEAR_SCALES), "runtime.near", path)
        bounds = r.get("bounds", {})
        for op_name, spec in bounds.items():
            if not isinstance(spec, list) or not all(isinstance(b, (int, float, str)) for b in spec):
                raise CatalogError(f"{path.name}: runtime.bounds.{op_name} must be a list of numbers or argument names")
        if r["kind"] == "bound":
            for overload in r.get("aten", ()):
                base = overload.split(".")[0]
                plain = base[:-1] if base.endswith("_") and not base.startswith("_") else base
                if plain not in bounds:
                    raise CatalogError(f"{path.name}: runtime.bounds has no entry for {plain} (aten.{overload})")
        runtime = Runtime(kind=r["kind"], aten=tuple(r.get("aten", ())), numpy=tuple(r.get("numpy", ())),
                          jax=tuple(r.get("jax", ())), near=r.get("near", "tensor"),
                          near_why=str(r.get("near_why", "")).strip(),
                          bounds=tuple((k, tuple(v)) for k, v in bounds.items()),
                          calls=tuple(_calls(r.get("calls", ()), path)))

    guards = tuple(data.get("guards", ()))
    for g in guards:
        _one_of(g, tuple(GUARDS), "guard", path)

    remedies = []
    for rem in data.get("remedies", ()):
        remedies.append(_remedy(rem, path))

    d = _req(data, "docs", dict, path)
    _no_unknown(d, set(_DOC_SECTIONS), f"{path.name} [docs]")
    docs = Docs(
        what=_req(d, "what", str, path).strip(),
        why=_req(d, "why", str, path).strip(),
        known_problems=d.get("known_problems", "").strip(),
        example=d.get("example", "").strip(),
        use_instead=d.get("use_instead", "").strip(),
        references=tuple(d.get("references", ())),
    )

    return Rule(
        code=code,
        name=name,
        category=category,
        summary=_req(data, "summary", str, path),
        message=_req(data, "message", str, path),
        docs=docs,
        source=path,
        since=data.get("since", "0.1.0"),
        status=status,
        default=bool(data.get("default", not code.startswith("KC9"))),
        confidence=confidence,
        severity=severity,
        where=kink.get("where", ""),
        math=kink.get("math", ""),
        match=match,
        subgradients=tuple(subs),
        runtime=runtime,
        guards=guards,
        remedies=tuple(remedies),
        valid=tuple(_examples(data.get("valid", ()), code, "valid", path)),
        invalid=tuple(_examples(data.get("invalid", ()), code, "invalid", path)),
    )


_REMEDY_KEYS = {"title", "rewrite", "note", "applicability", "params", "callees", "when", "unless", "fix_when", "jax",
                "numpy",
                "error", "relative", "bound", "smoothing"}


def _remedy(rem: dict, path: Path) -> Remedy:
    where = f"{path.name} [[remedies]]"
    _no_unknown(rem, _REMEDY_KEYS, where)
    applicability = rem.get("applicability", "display")
    _one_of(applicability, APPLICABILITY, "remedy applicability", path)
    for fact in (*rem.get("when", ()), *rem.get("unless", ()), *rem.get("fix_when", ())):
        _one_of(fact, REMEDY_FACTS, "remedy fact", path)
    _one_of(rem.get("bound", ""), ("", "upper", "lower"), "remedy bound", path)
    params = rem.get("params", {})
    if not isinstance(params, dict) or not all(isinstance(v, (int, float)) for v in params.values()):
        raise CatalogError(f"{where}: params must map names to numbers")
    if rem.get("smoothing") and rem["smoothing"] not in params:
        raise CatalogError(f"{where}: smoothing {rem['smoothing']!r} is not one of its params")
    return Remedy(title=_req(rem, "title", str, path), rewrite=rem.get("rewrite"), note=rem.get("note", ""),
                  applicability=applicability, params=tuple((k, float(v)) for k, v in params.items()),
                  callees=tuple(rem.get("callees", ())), when=tuple(rem.get("when", ())),
                  unless=tuple(rem.get("unless", ())), fix_when=tuple(rem.get("fix_when", ())),
                  jax=rem.get("jax"), numpy=rem.get("numpy"),
                  error=str(rem.get("error", "")), relative=bool(rem.get("relative", False)),
                  bound=rem.get("bound", ""), smoothing=rem.get("smoothing", ""))


def _examples(items, code: str, kind: str, path: Path):
    ids = set()
    for item in items:
        _no_unknown(item, {"id", "code", "expect"}, f"{path.name} [[{kind}]]")
        ex_id = _req(item, "id", str, path)
        if ex_id in ids:
            raise CatalogError(f"{path.name}: duplicate {kind} example id {ex_id!r}")
        ids.add(ex_id)
        expect = [_expected(e, f"{path.name}: {kind} example {ex_id!r}") for e in item.get("expect", ())]
        if kind == "invalid" and not expect:
            raise CatalogError(f"{path.name}: invalid example {ex_id!r} expects no finding")
        if kind == "valid" and expect:
            raise CatalogError(f"{path.name}: valid example {ex_id!r} must not expect findings")
        yield Example(id=f"{code}-{kind}-{ex_id}", code=_req(item, "code", str, path), expect=tuple(expect))


def _expected(item: Any, where: str) -> Expected:
    """``"5:12"`` or ``{ at = "5:12-5:37", message = "...", replacement = "..." }`` (the
    replacement optional: the finding's concrete rewrite, pinned where the example gives it)."""
    if isinstance(item, dict):
        _no_unknown(item, {"at", "message", "replacement"}, where)
        at, message = item.get("at"), item.get("message")
        if not isinstance(message, str):
            raise CatalogError(f"{where}: expect {item!r} needs a message")
    else:
        at, message = item, None
    m = re.match(_SPAN_RE, at) if isinstance(at, str) else None
    if m is None:
        raise CatalogError(f"{where}: expect {at!r} is not 'line:col' or 'line:col-end_line:end_col'")
    end_line, end_col = (int(m.group(3)), int(m.group(4))) if m.group(3) else (None, None)
    replacement = item.get("replacement") if isinstance(item, dict) else None
    if replacement is not None and not isinstance(replacement, str):
        raise CatalogError(f"{where}: expect {item!r}: replacement must be a string")
    return Expected(line=int(m.group(1)), col=int(m.group(2)), end_line=end_line, end_col=end_col, message=message,
                    replacement=replacement)


def _calls(items: Any, path: Path):
    for item in items:
        _no_unknown(item, {"call", "hits"}, f"{path.name} [runtime] calls")
        call, hits = item.get("call"), item.get("hits")
        if not isinstance(call, str) or not isinstance(hits, list) or not all(isinstance(h, str) for h in hits):
            raise CatalogError(f"{path.name}: [runtime] calls need call = \"...\" and hits = [\"op.overload\", ...]")
        yield call, tuple(hits)


def _req(data: Mapping[str, Any], key: str, typ: type, path: Path):
    if key not in data:
        raise CatalogError(f"{path.name}: missing required key {key!r}")
    value = data[key]
    if not isinstance(value, typ):
        raise CatalogError(f"{path.name}: key {key!r} must be {typ.__name__}")
    return value


def _one_of(value: str, allowed: tuple[str, ...], what: str, path: Path) -> None:
    if value not in allowed:
        raise CatalogError(f"{path.name}: unknown {what} {value!r} (expected one of {', '.join(allowed)})")


def _no_unknown(data: Mapping[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        raise CatalogError(f"{where}: unknown key(s) {', '.join(extra)}")
