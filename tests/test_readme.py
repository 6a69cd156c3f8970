"""The README is the user's guide; these keep its rule table and quick start honest."""

import re
from pathlib import Path

from kinkcheck import catalog, docs

README = Path(__file__).resolve().parent.parent / "README.md"


def test_rule_tables_are_generated_from_the_catalog():
    """README's and DEVELOPERS' rule tables are the catalog's, as ``python -m kinkcheck.docs`` writes them."""
    assert list(docs.stale()) == [], "a rule table is stale: run python -m kinkcheck.docs"


def test_the_readme_table_has_a_row_per_rule():
    rows = re.findall(r"^\| (KC\d{3}) \| `([a-z0-9-]+)` \|", README.read_text(), re.M)
    assert [code for code, _ in rows] == list(catalog.load())


def test_a_stale_table_is_rewritten_between_its_markers():
    name, table = docs.TABLES["README.md"]
    text = README.read_text()
    begin = text.index(f"<!-- {name}:")
    edited = text[:begin] + text[begin:].replace("| KC101 |", "| KC1O1 |", 1)
    assert docs.render(edited, name, table(catalog.load())) == text


def test_quick_start_is_two_commands():
    text = README.read_text()
    block = text.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line for line in block.strip().splitlines() if line.strip()]
    assert len(commands) == 2
    assert "kinkcheck check examples/" in commands[0]
    assert commands[1] == "python -m pytest"


def test_no_unfilled_placeholders():
    assert not re.search(r"^[A-Z_]+_(SECTION|TABLE)$", README.read_text(), re.M)
