"""Start-up work (issue 12, item 7), counted rather than timed: what a one-file check does
before it reads the file. Plain names in ``exclude`` (every default) build no regex; a
``pyproject.toml`` that never names kinkcheck is not parsed; a run without a cache hashes
nothing with hashlib. What is skipped must still answer as before."""

from __future__ import annotations

import re

import pytest

from kinkcheck import config as config_module
from kinkcheck import usercache
from kinkcheck.config import DEFAULT_EXCLUDE, Config, load_config
from kinkcheck.globs import compile_glob, glob_match, literal
from kinkcheck.lint.discover import discover


@pytest.mark.parametrize("pattern, name", [
    ("build", "build"), ("./dist/", "dist"), (" .venv ", ".venv"), ("a.b+c", "a.b+c"), ("]", "]"),
    ("src/gen", None), ("/build", None), ("*.py", None), ("x?", None), ("[ab]", None), ("a\\*", None),
])
def test_a_literal_pattern_is_one_plain_name(pattern, name):
    assert literal(pattern) == name


PATHS = ["build", "a/build/x.py", "a/build.py", "buildx/y", ".venv/lib", "src/x.py", "dist", "a.b+c/x", "a.bxc/x",
         "]/x.py", "x.py"]


@pytest.mark.parametrize("pattern", [*DEFAULT_EXCLUDE, "./dist/", " .venv ", "a.b+c", "]", "x.py"])
def test_a_literal_pattern_matches_as_its_regex_did(pattern):
    regex, anchored = compile_glob(pattern)
    assert not anchored
    for path in PATHS:
        parts = path.split("/")
        for skip in (0, 1):
            assert glob_match(pattern, path, skip) is any(regex.match(part) for part in parts[skip:]), (path, skip)


def test_loading_the_default_settings_compiles_no_glob(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.kinkcheck]\nextend-exclude = ['gen_*.py', 'vendor']\n")
    (tmp_path / "one.py").write_text("x = 1\n")
    compile_glob.cache_clear()
    config = load_config(tmp_path / "one.py")
    assert compile_glob.cache_info().misses == 1  # gen_*.py only: the defaults and 'vendor' are names
    found = discover([str(tmp_path / "one.py")], config)
    assert [f.module for f in found.files] == ["one"] and compile_glob.cache_info().misses == 1
    assert config.is_excluded(tmp_path / "vendor" / "x.py") and config.is_excluded(tmp_path / "build" / "x.py")
    assert config.is_excluded(tmp_path / "gen_x.py") and not config.is_excluded(tmp_path / "one.py")


def test_walking_a_folder_skips_excluded_names_without_regexes(tmp_path):
    for rel in ("pkg/a.py", "pkg/build/b.py", "pkg/node_modules/c.py", "pkg/vendor/d.py", "pkg/gen_e.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x = 1\n")
    config = Config(root=tmp_path, extend_exclude=("vendor", "gen_*.py"))
    found = discover([str(tmp_path / "pkg")], config)
    assert sorted(f.abspath[len(str(tmp_path)) + 1:] for f in found.files) == ["pkg/a.py"]


def test_a_pyproject_that_never_names_kinkcheck_is_not_parsed(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n[tool.black]\nline-length = 99\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "pyproject.toml").write_bytes(b"[tool.other]\nname = '\xff'\n")  # not even UTF-8
    monkeypatch.setattr(usercache, "load_toml", lambda text: pytest.fail("a TOML file was read"))
    monkeypatch.setattr(config_module, "load_toml", usercache.load_toml)
    assert config_module.find_pyproject(tmp_path / "sub" / "x.py") is None


@pytest.mark.parametrize("text, error", [
    (b"[tool.kinkcheck]\nselect = [\n", "invalid TOML"),
    (b"[tool.kinkcheck]\nselect = ['\xff']\n", "not UTF-8 text"),
])
def test_a_broken_pyproject_that_names_kinkcheck_is_still_an_error(tmp_path, monkeypatch, text, error):
    monkeypatch.setenv("KINKCHECK_CATALOG_CACHE", str(tmp_path / "cache"))
    (tmp_path / "pyproject.toml").write_bytes(text)
    with pytest.raises(config_module.ConfigError, match=re.escape(error)):
        config_module.find_pyproject(tmp_path / "x.py")


def test_a_check_without_a_cache_hashes_nothing_with_hashlib(tmp_path, monkeypatch):
    """The settings fingerprint and the functions key are BLAKE2 (kinkcheck/digest.py); a
    disabled cache keys no file. hashlib may already be imported here: count its calls."""
    import hashlib

    from kinkcheck.lint.api import check_paths

    (tmp_path / "loss.py").write_text("import torch\n\n\ndef loss(x):\n    return torch.abs(x).mean()\n")
    calls: list[str] = []
    for name in ("sha1", "sha256", "new", "md5", "blake2b"):
        real = getattr(hashlib, name)
        monkeypatch.setattr(hashlib, name, lambda *a, _real=real, _name=name, **k: calls.append(_name) or _real(*a, **k))
    monkeypatch.chdir(tmp_path)
    result = check_paths(["loss.py"], Config(root=tmp_path), use_cache=False)
    assert [f.code for f in result.findings] == ["KC101"]
    assert calls == []


# -- TOML parsed once per text (kinkcheck/usercache.py) ------------------------------------------


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KINKCHECK_CATALOG_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(usercache, "_SEEN", {})
    return tmp_path / "cache"


def parsed_by(monkeypatch) -> list[str]:
    """The texts the TOML parser reads from now on."""
    texts: list[str] = []
    real = usercache._parse
    monkeypatch.setattr(usercache, "_parse", lambda text: texts.append(text) or real(text))
    return texts


def test_a_settings_text_is_parsed_once(cache, monkeypatch):
    text = "[tool.kinkcheck]\nselect = ['KC1']\nmax-depth = 2\n[tool.kinkcheck.severity]\nKC101 = 'error'\n"
    texts = parsed_by(monkeypatch)
    first = usercache.load_toml(text)
    monkeypatch.setattr(usercache, "_SEEN", {})  # a later run: only the cache directory remembers
    assert usercache.load_toml(text) == first == {
        "tool": {"kinkcheck": {"select": ["KC1"], "max-depth": 2, "severity": {"KC101": "error"}}}}
    assert texts == [text]
    assert usercache.load_toml(text.replace("= 2", "= 3"))["tool"]["kinkcheck"]["max-depth"] == 3  # new text: parsed
    assert len(texts) == 2 and len(list(cache.glob("toml-*.marshal"))) == 2


def test_a_damaged_entry_is_parsed_again(cache, monkeypatch):
    usercache.load_toml("a = 1\n")
    (entry,) = cache.glob("toml-*.marshal")
    entry.write_bytes(b"\x00garbage")
    monkeypatch.setattr(usercache, "_SEEN", {})
    texts = parsed_by(monkeypatch)
    assert usercache.load_toml("a = 1\n") == {"a": 1} and texts == ["a = 1\n"]


@pytest.mark.parametrize("damage", ["truncated", "flipped", "another value"])
def test_an_entry_that_does_not_match_its_digest_is_parsed_again(cache, monkeypatch, damage):
    import marshal

    usercache.load_toml("a = 1\n")
    (entry,) = cache.glob("toml-*.marshal")
    blob = entry.read_bytes()
    entry.write_bytes({"truncated": blob[:-3], "flipped": blob[:-1] + bytes([blob[-1] ^ 1]),
                       "another value": blob[:16] + marshal.dumps(["not", "a", "table"])}[damage])
    monkeypatch.setattr(usercache, "_SEEN", {})
    texts = parsed_by(monkeypatch)
    assert usercache.load_toml("a = 1\n") == {"a": 1} and texts == ["a = 1\n"]


def test_a_sealed_value_that_is_not_a_table_is_parsed_again(cache, monkeypatch):
    import marshal

    usercache.load_toml("a = 1\n")
    (entry,) = cache.glob("toml-*.marshal")
    entry.write_bytes(usercache.seal(marshal.dumps(["not", "a", "table"])))
    monkeypatch.setattr(usercache, "_SEEN", {})
    assert usercache.load_toml("a = 1\n") == {"a": 1}


def test_dates_are_parsed_every_time_and_errors_are_the_parsers(cache, monkeypatch):
    texts = parsed_by(monkeypatch)
    for _ in range(2):
        assert str(usercache.load_toml("when = 2024-01-02\n")["when"]) == "2024-01-02"
    assert len(texts) == 2 and not list(cache.glob("toml-*.marshal"))
    with pytest.raises(usercache.TOMLError, match=r"Expected '=' after a key in a key/value pair \(at line 1"):
        usercache.load_toml("select\n")


def test_the_cache_keeps_the_newest_texts(cache, monkeypatch):
    monkeypatch.setattr(usercache, "MAX_TOML", 3)
    for i in range(5):
        usercache.load_toml(f"n = {i}\n")
    assert len(list(cache.glob("toml-*.marshal"))) == 3


def test_the_cache_keeps_the_newest_catalogs(cache):
    import os

    from kinkcheck import catalog, catalog_cache

    cache.mkdir()
    for i in range(12):  # other versions, checkouts, rules since edited
        old = cache / f"catalog-{i:020x}.marshal"
        old.write_bytes(b"x")
        os.utime(old, ns=(i * 10**9, i * 10**9))
    (cache / "catalog-0123456789abcdef0123.pickle").write_bytes(b"x")  # what kinkcheck kept before
    # a folder the user named may hold files of their own: only names kinkcheck gives are deleted
    theirs = [cache / "catalog-notes.marshal", cache / "catalog-0123.pickle", cache / "toml-mine.marshal"]
    for path in theirs:
        path.write_bytes(b"mine")
        os.utime(path, ns=(0, 0))
    (cache / f"catalog-{99:020x}.marshal").symlink_to(theirs[0])
    os.utime(cache / f"catalog-{99:020x}.marshal", ns=(0, 0), follow_symlinks=False)
    catalog.load.cache_clear()
    try:
        catalog.load()  # parsed, written
    finally:
        catalog.load.cache_clear()
    kept = sorted(p.name for p in cache.glob("catalog-*") if not p.is_symlink() and p not in theirs)
    assert len(kept) == catalog_cache.MAX_KEPT and f"catalog-{11:020x}.marshal" in kept
    assert f"catalog-{3:020x}.marshal" not in kept and "catalog-0123456789abcdef0123.pickle" not in kept
    assert all(path.read_bytes() == b"mine" for path in theirs)
    assert (cache / f"catalog-{99:020x}.marshal").is_symlink()


# -- the garbage collector (commands/fast.py: load_for_a_short_run) -------------------------------


def test_a_check_called_in_process_leaves_the_collector_alone(tmp_path, monkeypatch, capsys):
    """Only the program itself (main() without argv) freezes what it loaded; a caller's
    process (these tests, a notebook) keeps its collector as it was."""
    import gc

    from kinkcheck.__main__ import main

    (tmp_path / "one.py").write_text("import torch\n\n\ndef loss(x):\n    return torch.abs(x).mean()\n")
    monkeypatch.chdir(tmp_path)
    before = (gc.isenabled(), gc.get_threshold(), gc.get_freeze_count())
    with pytest.raises(SystemExit) as exit_:
        main(["check", "--no-cache", "-q", "one.py"])
    assert exit_.value.code == 1 and "KC101" in capsys.readouterr().out
    assert (gc.isenabled(), gc.get_threshold(), gc.get_freeze_count()) == before


def test_a_short_run_freezes_what_it_loaded_and_collects_again(monkeypatch):
    import gc

    from kinkcheck.commands import fast

    calls: list[tuple] = []
    monkeypatch.setattr(gc, "disable", lambda: calls.append(("disable",)))
    monkeypatch.setattr(gc, "freeze", lambda: calls.append(("freeze",)))
    monkeypatch.setattr(gc, "set_threshold", lambda *t: calls.append(("set_threshold", *t)))
    monkeypatch.setattr(gc, "enable", lambda: calls.append(("enable",)))
    fast.load_for_a_short_run()
    assert calls == [("disable",), ("freeze",), ("set_threshold", 10_000, 10, 10), ("enable",)]
