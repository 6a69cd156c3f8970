"""[tool.kinkcheck] in pyproject.toml: found by walking up, strict about keys and codes."""

from __future__ import annotations

import pytest

from kinkcheck.config import Config, ConfigError, glob_match, load_config


def test_nearest_pyproject_with_a_kinkcheck_table_wins(write_tree):
    root = write_tree({
        "pyproject.toml": """
            [tool.kinkcheck]
            select = ["KC1"]
            ignore = ["KC105"]
            max-depth = 5
            loss-functions = ["train_step"]
            scope = "model"
        """,
        "sub/pyproject.toml": "[project]\nname = 'no-kinkcheck-table'\n",
        "sub/pkg/mod.py": "x = 1\n",
    })
    cfg = load_config(root / "sub" / "pkg" / "mod.py", {})
    assert cfg.source == root / "pyproject.toml"
    assert cfg.root == root.resolve()
    assert cfg.select == ("KC1",)
    assert cfg.max_depth == 5 and cfg.scope == "model"
    assert cfg.loss_functions == ("train_step",)
    codes = cfg.enabled_codes()
    assert "KC101" in codes and "KC105" not in codes and "KC201" not in codes


def test_no_pyproject_gives_defaults_rooted_at_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(tmp_path, {})
    assert cfg.source is None and cfg.root == tmp_path
    assert cfg.scope == "loss" and cfg.select is None
    assert "KC101" in cfg.enabled_codes()


@pytest.mark.parametrize(
    ("table", "named"),
    [
        ('selct = ["KC101"]', "tool.kinkcheck.selct"),
        ('max_depth = 2', "did you mean 'max-depth'"),
        ('select = ["KC999"]', "'KC999' in select"),
        ('ignore = ["abs-at-zer0"]', "'abs-at-zer0' in ignore"),
        ('per-file-ignores = { "tests/*" = ["KC9999"] }', "'KC9999' in per-file-ignores"),
        ('scope = "everything"', "unknown scope 'everything'"),
        ('max-depth = -1', "max-depth must be a non-negative integer"),
        ('select = "KC101"\nselect = "x"', "invalid TOML"),
    ],
)
def test_bad_settings_are_errors_that_name_the_culprit(write_tree, table, named):
    root = write_tree({"pyproject.toml": f"[tool.kinkcheck]\n{table}\n"})
    with pytest.raises(ConfigError) as err:
        load_config(root, {})
    assert named in str(err.value)
    assert "pyproject.toml" in str(err.value)


def test_cli_overrides_replace_select_and_extend_ignore(write_tree):
    root = write_tree({"pyproject.toml": '[tool.kinkcheck]\nselect = ["KC1"]\nignore = ["KC102"]\n'})
    cfg = load_config(root, {"select": ("KC2",), "ignore": ("KC201",), "extend_select": ("KC101",)})
    assert cfg.select == ("KC2",)
    assert cfg.ignore == ("KC102", "KC201")
    codes = cfg.enabled_codes()
    assert "KC201" not in codes and "KC204" in codes and "KC101" in codes and "KC103" not in codes


def test_unknown_code_on_the_command_line_is_an_error():
    with pytest.raises(ConfigError, match="'KC1234' in select"):
        load_config(None, {"select": ("KC1234",)}, config_file=None)


def test_explicit_config_file(write_tree):
    root = write_tree({
        "elsewhere/kinkcheck.toml": 'ignore = ["KC101"]\nscope = "all"\n',
        "pyproject.toml": '[tool.kinkcheck]\nscope = "model"\n',
    })
    cfg = load_config(root, {}, config_file=root / "elsewhere" / "kinkcheck.toml")
    assert cfg.scope == "all" and cfg.ignore == ("KC101",)
    assert cfg.root == (root / "elsewhere").resolve()
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(root, {}, config_file=root / "missing.toml")


def test_per_file_ignores_match_relative_to_the_project_root(write_tree):
    root = write_tree({"pyproject.toml": '[tool.kinkcheck]\nper-file-ignores = { "tests/**" = ["KC1"], "conftest.py" = ["KC201"] }\n'})
    cfg = load_config(root, {})
    assert "KC101" not in cfg.codes_for(root / "tests" / "unit" / "test_x.py")
    assert "KC101" in cfg.codes_for(root / "src" / "tests_helper.py")
    assert "KC201" not in cfg.codes_for(root / "src" / "conftest.py")
    assert "KC201" in cfg.codes_for(root / "src" / "model.py")


def test_fingerprint_changes_with_settings_that_change_findings():
    a = Config()
    assert a.fingerprint() == Config().fingerprint()
    assert a.fingerprint() != Config(ignore=("KC101",)).fingerprint()
    assert a.fingerprint() != Config(scope="all").fingerprint()


@pytest.mark.parametrize(
    ("pattern", "path", "hit"),
    [
        ("build", "build/lib/x.py", True),
        ("build", "src/build/x.py", True),
        ("build", "src/rebuild.py", False),
        ("tests/fixtures", "tests/fixtures/a/b.py", True),
        ("tests/fixtures", "other/tests/fixtures/b.py", False),
        ("*.gen.py", "pkg/model.gen.py", True),
        ("src/**/legacy_*.py", "src/a/b/legacy_loss.py", True),
        ("src/**/legacy_*.py", "src/legacy_loss.py", True),
        ("src/*.py", "src/a/b.py", False),
        ("/examples/", "examples/x.py", True),
        ("[ab].py", "pkg/a.py", True),
    ],
)
def test_gitignore_style_globs(pattern, path, hit):
    assert glob_match(pattern, path) is hit
