"""The README is the user's guide; these keep its rule table and quick start honest."""

import re
from pathlib import Path

from kinkcheck import catalog

README = Path(__file__).resolve().parent.parent / "README.md"


def test_rule_table_lists_every_catalog_rule_once():
    rows = re.findall(r"^\| (KC\d{3}) \| `([a-z0-9-]+)` \| (\w+) \| (on|off) \| (.*) \|$", README.read_text(), re.M)
    cat = catalog.load()
    assert [code for code, *_ in rows] == list(cat), "README rule table is out of date: regenerate it from the catalog"
    for code, name, category, default, summary in rows:
        rule = cat[code]
        assert (name, category, default == "on", summary) == (rule.name, rule.category, rule.default, rule.summary), code


def test_quick_start_is_two_commands():
    text = README.read_text()
    block = text.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line for line in block.strip().splitlines() if line.strip()]
    assert len(commands) == 2
    assert "kinkcheck check examples/" in commands[0]
    assert commands[1] == "python -m pytest"


def test_no_unfilled_placeholders():
    assert not re.search(r"^[A-Z_]+_(SECTION|TABLE)$", README.read_text(), re.M)
