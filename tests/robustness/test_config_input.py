"""A broken configuration is one line and exit 2, never a traceback or a silently ignored file.

Bad globs in the project's own settings are errors; a bad line in .gitignore, which git
itself accepts and never matches, is skipped with a warning.
"""

from __future__ import annotations

import pytest
from exit2_helpers import assert_one_error, kinkcheck

from kinkcheck.globs import GlobError, compile_glob, glob_match

LOSS = "import torch\n\n\ndef loss(x):\n    return torch.abs(x).sum()\n"
BAD_GLOBS = ["[]]", "[!]", "[a-Z]", "[z-a]", "src/[", "x\\"]


@pytest.fixture
def project(tmp_path):
    (tmp_path / "loss.py").write_text(LOSS)
    return tmp_path


def write_pyproject(project, text: str | bytes) -> None:
    path = project / "pyproject.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())


@pytest.mark.parametrize(
    "text, needle",
    [
        ('[tool]\nkinkcheck = "x"\n', "tool.kinkcheck must be a table ([tool.kinkcheck]), got the string 'x'"),
        ("tool.kinkcheck = 5\n", "tool.kinkcheck must be a table ([tool.kinkcheck]), got the number 5"),
        ("[tool]\nkinkcheck = [1, 2]\n", "tool.kinkcheck must be a table ([tool.kinkcheck]), got an array"),
        ('[tool.kinkcheck]\nexclude = "build"\nmax-depth = "3"\n', "max-depth must be a non-negative integer"),
        ("[tool.kinkcheck]\nscope = \"all\"\n# caf\xe9 in Latin-1\n".encode("latin-1"), "not UTF-8 text"),
    ],
    ids=["kinkcheck-is-a-string", "kinkcheck-is-a-number", "kinkcheck-is-an-array", "bad-value", "not-utf-8"],
)
def test_a_broken_pyproject_is_one_line(project, text, needle):
    write_pyproject(project, text)
    result = kinkcheck("check", "loss.py", cwd=project)
    assert_one_error(result, "pyproject.toml", needle)


def test_a_foreign_non_utf8_pyproject_is_not_ours(project):
    """Walking up, a pyproject.toml that never mentions kinkcheck is someone else's file."""
    write_pyproject(project, "[project]\nname = 'caf\xe9'\n".encode("latin-1"))
    result = kinkcheck("check", "loss.py", cwd=project)
    assert result.exit_code == 1 and "KC101" in result.stdout, result.stderr


def test_an_explicit_config_with_a_non_table_tool_is_one_line(project):
    (project / "other.toml").write_text("tool = 5\n")
    result = kinkcheck("check", "--config", "other.toml", "loss.py", cwd=project)
    assert_one_error(result, "other.toml: 'tool' must be a table, got the number 5")


@pytest.mark.parametrize("pattern", BAD_GLOBS)
@pytest.mark.parametrize("key", ["exclude", "extend-exclude", "per-file-ignores"])
def test_a_bad_glob_in_the_settings_is_one_line(project, key, pattern):
    quoted = pattern.replace("\\", "\\\\")
    if key == "per-file-ignores":
        write_pyproject(project, f'[tool.kinkcheck.per-file-ignores]\n"{quoted}" = ["KC101"]\n')
    else:
        write_pyproject(project, f'[tool.kinkcheck]\n{key} = ["{quoted}"]\n')
    for command in (("check", "loss.py"), ("report", "--no-cache", "loss.py")):
        result = kinkcheck(*command, cwd=project)
        assert_one_error(result, f"bad glob {pattern!r} in {key}")


@pytest.mark.parametrize("pattern, why", [
    ("[]]", "empty bracket expression"), ("[!]", "empty bracket expression"),
    ("[a-Z]", "reversed range 'a-Z'"), ("[z-a]", "reversed range 'z-a'"),
    ("src/[", "unclosed '['"), ("x\\", "lone backslash"), ("[[:nope:]]", "unknown character class"),
])
def test_glob_errors_say_what_is_wrong(pattern, why):
    with pytest.raises(GlobError, match=__import__("re").escape(why)):
        compile_glob(pattern)


@pytest.mark.parametrize("pattern, path, hit", [
    ("[a-c]x.py", "bx.py", True), ("[a-c]x.py", "dx.py", False),
    ("[!a]x.py", "bx.py", True), ("[!a]x.py", "ax.py", False),
    ("\\[x].py", "[x].py", True), ("[\\]]", "]", True),
    ("v[[:digit:]].py", "v7.py", True), ("v[[:digit:]].py", "vx.py", False),
    ("src/[!x]", "src//", False), ("**/gen_*.py", "a/b/gen_x.py", True), ("build", "a/build/x.py", True),
])
def test_valid_globs_still_match_as_in_git(pattern, path, hit):
    assert glob_match(pattern, path) is hit


@pytest.mark.parametrize("pattern", BAD_GLOBS[:4])
def test_a_bad_gitignore_line_is_skipped_with_a_warning(project, pattern):
    """git accepts the line and never matches it; kinkcheck skips it, says so, and applies the rest."""
    (project / ".git").mkdir()
    (project / "skipped.py").write_text(LOSS)
    (project / ".gitignore").write_text(f"skipped.py\n{pattern}\n")
    result = kinkcheck("check", "--no-cache", ".", cwd=project)
    assert "Traceback" not in result.stderr
    assert result.exit_code == 1, result.stderr  # loss.py's kink, found as usual
    assert "loss.py" in result.stdout and "skipped.py" not in result.stdout
    (warning,) = [line for line in result.stderr.splitlines() if "warning" in line]
    assert warning.startswith("kinkcheck: warning: .gitignore:2: pattern ") and pattern in warning


def test_a_fifo_config_file_is_refused_unopened(project):
    import os

    os.mkfifo(project / "kinkcheck.toml")
    result = kinkcheck("check", "--config", "kinkcheck.toml", "loss.py", cwd=project)
    assert_one_error(result, "kinkcheck.toml: is a FIFO (named pipe), not a regular file")
