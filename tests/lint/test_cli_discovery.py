"""Which files ``kinkcheck check`` reads: excludes, virtualenvs, symlink loops, module names."""

from __future__ import annotations

import os

import pytest

from kinkcheck.config import load_config
from kinkcheck.lint.discover import discover, module_name


def found(root, *paths, **kw):
    cfg = load_config(root, {})
    d = discover([root / p for p in paths] or [root], cfg, **kw)
    return sorted(os.path.relpath(f.abspath, root) for f in d.files), d


def test_walk_skips_vcs_venvs_caches_and_build_dirs(write_tree):
    root = write_tree({
        "pyproject.toml": "[tool.kinkcheck]\n",
        "src/pkg/__init__.py": "",
        "src/pkg/loss.py": "",
        "src/pkg/notes.txt": "",
        ".git/hooks/x.py": "",
        "env/pyvenv.cfg": "home = /usr\n",
        "env/lib/python3.11/site-packages/torch/x.py": "",
        "other/lib/site-packages/y.py": "",
        "src/pkg/__pycache__/loss.cpython-311.py": "",
        ".kinkcheck_cache/x.py": "",
        "build/lib/pkg/loss.py": "",
        "dist/x.py": "",
        ".venv/x.py": "",
        "node_modules/x.py": "",
    })
    files, d = found(root)
    assert files == ["src/pkg/__init__.py", "src/pkg/loss.py"]
    assert d.errors == [] and d.warnings == []


def test_exclude_and_extend_exclude_are_gitignore_style(write_tree):
    root = write_tree({
        "pyproject.toml": '[tool.kinkcheck]\nextend-exclude = ["legacy", "src/gen/*.py", "*_pb2.py"]\n',
        "src/a.py": "", "src/gen/b.py": "", "src/gen/keep/c.py": "", "src/legacy/d.py": "",
        "src/e_pb2.py": "", "build/f.py": "",
    })
    files, _ = found(root)
    assert files == ["src/a.py", "src/gen/keep/c.py"]
    # exclude replaces the defaults: build/ is read again
    (root / "pyproject.toml").write_text('[tool.kinkcheck]\nexclude = ["legacy"]\n')
    files, _ = found(root)
    assert "build/f.py" in files and "src/legacy/d.py" not in files


def test_paths_given_explicitly_are_checked_unless_force_exclude(write_tree):
    root = write_tree({
        "pyproject.toml": '[tool.kinkcheck]\nexclude = ["examples", "tests/fixtures"]\n',
        "examples/train.py": "", "examples/sub/more.py": "", "tests/fixtures/f.py": "",
        "tests/test_x.py": "",
    })
    assert found(root)[0] == ["tests/test_x.py"]
    assert found(root, "examples")[0] == ["examples/sub/more.py", "examples/train.py"]
    assert found(root, "tests/fixtures/f.py")[0] == ["tests/fixtures/f.py"]
    assert found(root, "tests/fixtures/f.py", force_exclude=True)[0] == []


def test_symlink_loops_terminate_and_files_are_not_doubled(write_tree):
    root = write_tree({"pkg/a.py": "", "pkg/sub/b.py": ""})
    (root / "pkg" / "sub" / "loop").symlink_to(root / "pkg", target_is_directory=True)
    (root / "pkg" / "alias.py").symlink_to(root / "pkg" / "a.py")
    (root / "pkg" / "self.py").symlink_to(root / "pkg" / "self.py")
    files, d = found(root)
    assert files == ["pkg/a.py", "pkg/sub/b.py"]
    assert any("self.py" in w and "symbolic link loop" in w for w in d.warnings)


def test_missing_and_looping_explicit_paths_are_errors(write_tree):
    root = write_tree({"a.py": ""})
    (root / "loop.py").symlink_to(root / "loop.py")
    _, d = found(root, "nope.py", "loop.py", "a.py")
    assert [f.path.rsplit("/", 1)[-1] for f in d.files] == ["a.py"]
    assert any("nope.py: no such file or directory" in e for e in d.errors)
    assert any("loop.py: symbolic link loop" in e for e in d.errors)


@pytest.mark.parametrize(
    ("rel", "module"),
    [
        ("pkg/__init__.py", "pkg"),
        ("pkg/sub/mod.py", "pkg.sub.mod"),
        ("src/pkg/sub/mod.py", "pkg.sub.mod"),
        ("scripts/run.py", "run"),
    ],
)
def test_module_names_follow_packages(write_tree, rel, module):
    root = write_tree({"pkg/__init__.py": "", "pkg/sub/__init__.py": "", "pkg/sub/mod.py": "",
                       "src/pkg/__init__.py": "", "src/pkg/sub/__init__.py": "", "src/pkg/sub/mod.py": "",
                       "scripts/run.py": ""})
    assert module_name(root / rel) == module


def test_display_paths_are_relative_to_cwd(write_tree, monkeypatch):
    root = write_tree({"pkg/a.py": ""})
    monkeypatch.chdir(root)
    cfg = load_config(root, {})
    assert [f.path for f in discover(["pkg"], cfg).files] == ["pkg/a.py"]
    assert [f.path for f in discover(["./pkg/../pkg/a.py"], cfg).files] == ["pkg/a.py"]
    monkeypatch.chdir(root / "pkg")
    assert [f.path for f in discover([root], cfg).files] == ["a.py"]


def test_gitignored_files_are_skipped_like_ruff(write_tree):
    root = write_tree({
        "pyproject.toml": "[tool.kinkcheck]\n",
        ".gitignore": "# generated\n/generated/\n*_gen.py\nscratch/\n!keep_gen.py\n",
        "src/.gitignore": "local.py\n/only_here.py\n",
        "src/a.py": "", "src/a_gen.py": "", "src/keep_gen.py": "", "src/local.py": "",
        "src/only_here.py": "", "src/deeper/only_here.py": "", "src/deeper/local.py": "",
        "generated/b.py": "", "src/generated/c.py": "", "scratch/d.py": "",
    })
    (root / ".git").mkdir()
    files, _ = found(root)
    assert files == ["src/a.py", "src/deeper/only_here.py", "src/generated/c.py", "src/keep_gen.py"]
    # walking a subdirectory still honours the .gitignore files above it
    assert found(root, "src")[0] == ["src/a.py", "src/deeper/only_here.py", "src/generated/c.py",
                                     "src/keep_gen.py"]
    # explicit files are checked whatever git says; and the setting turns it off
    assert found(root, "src/a_gen.py")[0] == ["src/a_gen.py"]
    (root / "pyproject.toml").write_text("[tool.kinkcheck]\nrespect-gitignore = false\n")
    assert len(found(root)[0]) == 10
