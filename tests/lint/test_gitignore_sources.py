"""What git ignores, kinkcheck skips: every .gitignore (git's own patterns, via pathspec),
.git/info/exclude and the user's core.excludesFile, in git's order of precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from kinkcheck.config import load_config
from kinkcheck.lint.discover import discover

LOSS = "import torch\n\ndef loss(x):\n    return torch.abs(x).mean()\n"


@pytest.fixture
def repo(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    root = tmp_path / "repo"
    (root / ".git" / "info").mkdir(parents=True)
    for name in ("a.py", "b.py", "c.py", "pkg/d.py", "pkg/e.py", "gen/f.py"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(LOSS)
    monkeypatch.chdir(root)
    return root


def found(path=".") -> list[str]:
    return sorted(sf.path for sf in discover([path], load_config(Path(path))).files)


def test_every_source_of_ignores_applies(repo):
    (repo / ".git" / "info" / "exclude").write_text("a.py\n")
    (repo.parent / "home" / ".config" / "git").mkdir(parents=True)
    (repo.parent / "home" / ".config" / "git" / "ignore").write_text("b.py\n")
    (repo / ".gitignore").write_text("gen/\n")
    (repo / "pkg" / ".gitignore").write_text("d.py\n")
    assert found() == ["c.py", "pkg/e.py"]
    assert found("pkg") == ["pkg/e.py"]  # the repository's excludes apply below its root too


def test_core_excludes_file_from_gitconfig(repo):
    (repo.parent / "home" / ".gitconfig").write_text('[core]\n\texcludesFile = "~/global-ignore"\n')
    (repo.parent / "home" / "global-ignore").write_text("c.py\n")
    assert found() == ["a.py", "b.py", "gen/f.py", "pkg/d.py", "pkg/e.py"]


def test_a_deeper_gitignore_re_includes_and_the_last_match_wins(repo):
    (repo / ".git" / "info" / "exclude").write_text("*.py\n")
    (repo / ".gitignore").write_text("!a.py\n")
    (repo / "pkg" / ".gitignore").write_text("!e.py\n")
    assert found() == ["a.py", "pkg/e.py"]  # pkg/d.py stays ignored by info/exclude's "*.py"


def test_a_file_in_an_ignored_directory_stays_ignored(repo):
    (repo / ".gitignore").write_text("pkg/\n!pkg/e.py\n")
    assert found() == ["a.py", "b.py", "c.py", "gen/f.py"]


def test_a_folder_named_inside_an_ignored_folder_is_checked(repo):
    # `kinkcheck check build/vendored` where build/ is ignored: the user asked for that
    # folder (ripgrep and ruff search it too); ignores below it still apply
    (repo / ".gitignore").write_text("gen/\n*_skip.py\n")
    (repo / "gen" / "g_skip.py").write_text(LOSS)
    assert found() == ["a.py", "b.py", "c.py", "pkg/d.py", "pkg/e.py"]
    assert found("gen") == ["gen/f.py"]
