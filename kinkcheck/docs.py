"""The rule tables of README.md and DEVELOPERS.md, written from the catalog.

A rule is described in one place, its TOML; the tables are generated between marker
comments. ``python -m kinkcheck.docs`` rewrites them, ``python -m kinkcheck.docs --check``
exits 1 when one is stale (the test suite runs the same comparison).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from kinkcheck import catalog as catalog_mod

REPO = Path(__file__).resolve().parents[1]
_BEGIN = "<!-- {name}: generated from rules/ by `python -m kinkcheck.docs`; edit the TOML, not this table -->"
_END = "<!-- /{name} -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def readme_table(cat) -> str:
    """code | name | category | default | what (the rule's summary)."""
    rows = ["| code | name | category | default | what |", "| --- | --- | --- | --- | --- |"]
    rows += [f"| {r.code} | `{r.name}` | {r.category} | {'on' if r.default else 'off'} | {_cell(r.summary)} |"
             for r in cat.values()]
    return "\n".join(rows)


def matched_names(rule, limit: int = 8) -> str:
    """The last names of what the rule's [match] names (``abs``, ``l1_loss``, ``/``), or what
    kind of check it is when it matches by code alone."""
    names: list[str] = []
    for qualified in (*rule.match.callables, *rule.match.methods, *rule.match.operators):
        name = qualified.rsplit(".", 1)[-1].rstrip("_") or qualified
        if not name.startswith("__") and name not in names:
            names.append(name)
    if not names:
        return "(meta: the driver's)" if rule.category == "meta" else "(a check in code: lint/checks/)"
    shown = ", ".join(f"`{n}`" for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def developers_table(cat) -> str:
    """code | name | severity | matches."""
    rows = ["| code | name | severity | matches |", "| --- | --- | --- | --- |"]
    rows += [f"| {r.code} | {r.name} | {r.severity} | {_cell(matched_names(r))} |" for r in cat.values()]
    return "\n".join(rows)


#: file -> (marker name, renderer)
TABLES = {"README.md": ("rules", readme_table), "DEVELOPERS.md": ("rule-codes", developers_table)}


def render(text: str, name: str, table: str) -> str:
    """``text`` with the block between ``name``'s markers replaced by ``table``."""
    begin, end = _BEGIN.format(name=name), _END.format(name=name)
    pattern = re.compile(re.escape(begin) + r"\n.*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise ValueError(f"no {name!r} markers ({begin} ... {end})")
    return pattern.sub(lambda _: f"{begin}\n{table}\n{end}", text, count=1)


def stale(root: Path = REPO) -> dict[str, str]:
    """file name -> its up-to-date text, for each file whose table differs from the catalog."""
    cat = catalog_mod.load()
    out = {}
    for filename, (name, table) in TABLES.items():
        text = (root / filename).read_text(encoding="utf-8")
        fresh = render(text, name, table(cat))
        if fresh != text:
            out[filename] = fresh
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not (REPO / "rules").is_dir():
        print("kinkcheck.docs: error: run from a checkout (no rules/ next to the package)", file=sys.stderr)
        return 2
    changed = stale()
    if "--check" in args:
        for filename in changed:
            print(f"{filename}: rule table is stale; run python -m kinkcheck.docs", file=sys.stderr)
        return 1 if changed else 0
    for filename, text in changed.items():
        (REPO / filename).write_text(text, encoding="utf-8")
        print(f"wrote {filename}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
