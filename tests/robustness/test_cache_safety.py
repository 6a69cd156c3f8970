"""The cache can only lose time: it never deletes what it did not create, never runs code
from its folder, never stores one content's findings under another's key, and survives
concurrent runs and kills."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kinkcheck.config import ConfigError, load_config
from kinkcheck.lint import cache as cache_mod
from kinkcheck.lint.api import check_paths

LOSS = "import torch\n\n\ndef loss(pred, target):\n    return torch.abs(pred - target).mean()\n"
TWO_KINKS = "import torch\n\n\ndef loss(pred, target):\n    d = torch.sqrt(pred)\n    return torch.abs(d - target).mean()\n"


def _old(path: Path, hours: float = 2.0) -> None:
    t = time.time() - hours * 3600
    os.utime(path, (t, t))


def _run(root: Path, files=None, **kw):
    config = load_config(root, {})
    return check_paths([root / f for f in (files or ["loss.py"])], config, jobs=1, **kw)


def _found(result):
    return sorted((f.path, f.line, f.code) for f in result.findings)


@pytest.fixture
def project(write_tree, monkeypatch):
    root = write_tree({"proj/pyproject.toml": "[tool.kinkcheck]\n", "proj/loss.py": LOSS}) / "proj"
    monkeypatch.chdir(root)
    return root


# -- where the cache may live -------------------------------------------------------------


def test_cache_dir_dot_is_refused_and_nothing_is_touched(project):
    """The reported case: cache-dir = "." deleted sibling folders with '-' in their names."""
    (project / "pyproject.toml").write_text('[tool.kinkcheck]\ncache-dir = "."\n')
    for name in ("my-package", "data-2023"):
        (project / name).mkdir()
        (project / name / "keep.txt").write_text("user data")
        _old(project / name)
    (project / ".gitignore").write_text("*.ckpt\n")
    with pytest.raises(ConfigError, match="project root"):
        _run(project)
    assert (project / "my-package" / "keep.txt").read_text() == "user data"
    assert (project / "data-2023" / "keep.txt").read_text() == "user data"
    assert (project / ".gitignore").read_text() == "*.ckpt\n"
    assert not (project / "CACHEDIR.TAG").exists()


def test_a_parent_of_the_project_is_refused(project):
    (project / "pyproject.toml").write_text('[tool.kinkcheck]\ncache-dir = ".."\n')
    with pytest.raises(ConfigError, match="contains the project"):
        _run(project)


def test_a_folder_with_other_content_is_refused(project):
    victim = project.parent / "victim"
    (victim / "old-run").mkdir(parents=True)
    (victim / "old-run" / "weights.bin").write_bytes(b"\1\2")
    _old(victim / "old-run")
    (project / "pyproject.toml").write_text('[tool.kinkcheck]\ncache-dir = "../victim"\n')
    with pytest.raises(ConfigError, match="did not create"):
        _run(project)
    assert (victim / "old-run" / "weights.bin").read_bytes() == b"\1\2"
    assert sorted(p.name for p in victim.iterdir()) == ["old-run"]


def test_another_tools_cachedir_tag_is_not_our_marker(project):
    other = project / ".other_cache"
    other.mkdir()
    (other / "CACHEDIR.TAG").write_text("Signature: 8a477f597d28d172789f06886806bc55\n# pytest\n")
    (project / "pyproject.toml").write_text('[tool.kinkcheck]\ncache-dir = ".other_cache"\n')
    with pytest.raises(ConfigError):
        _run(project)


@pytest.mark.slow
def test_cli_refusal_is_one_line_and_exit_2(project):
    (project / "pyproject.toml").write_text('[tool.kinkcheck]\ncache-dir = "."\n')
    proc = subprocess.run([sys.executable, "-m", "kinkcheck", "check", "loss.py"], cwd=project,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "kinkcheck: error:" in proc.stderr and "project root" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_empty_folder_is_adopted_without_a_gitignore(project):
    (project / "cache").mkdir()
    (project / "pyproject.toml").write_text('[tool.kinkcheck]\ncache-dir = "cache"\n')
    _run(project)
    assert (project / "cache" / "CACHEDIR.TAG").read_text() == cache_mod.MARKER
    assert not (project / "cache" / ".gitignore").exists()


def test_a_new_folder_gets_marker_and_gitignore(project):
    _run(project)
    root = project / ".kinkcheck_cache"
    assert (root / "CACHEDIR.TAG").read_text() == cache_mod.MARKER
    assert (root / ".gitignore").read_text() == cache_mod.GITIGNORE


# -- pruning ------------------------------------------------------------------------------


def _build(root: Path, name: str) -> Path:
    d = root / name
    (d / "ab").mkdir(parents=True)
    (d / "ab" / f"{'a' * 30}.entry").write_bytes(b"x")
    _old(d)
    return d


def test_prune_removes_only_the_layout(project, tmp_path):
    _run(project)
    root = project / ".kinkcheck_cache"
    plain = _build(root, "0.0.1-0123456789abcdef")
    mixed = _build(root, "0.0.2-0123456789abcdef")
    (mixed / "ab" / "notes.txt").write_text("mine")  # not the layout: the folder stays
    _old(mixed)
    outside = tmp_path / "outside"
    (outside / "ab").mkdir(parents=True)
    (outside / "ab" / f"{'b' * 30}.entry").write_text("target of a link")
    link = root / "0.0.3-0123456789abcdef"
    link.symlink_to(outside, target_is_directory=True)
    not_a_build = root / "my-folder"
    not_a_build.mkdir()
    _old(not_a_build)
    removed = cache_mod.prune(root, keep=root / "nothing")
    assert removed == [plain] and not plain.exists()
    assert (mixed / "ab" / "notes.txt").read_text() == "mine"
    assert (outside / "ab" / f"{'b' * 30}.entry").exists() and link.is_symlink()
    assert not_a_build.is_dir()


def test_prune_does_nothing_without_the_marker(tmp_path):
    d = _build(tmp_path, "0.0.1-0123456789abcdef")
    assert cache_mod.prune(tmp_path, keep=tmp_path / "x") == [] and d.exists()


# -- what is stored cannot run code ---------------------------------------------------------


class _Payload:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_planted_pickle_is_never_loaded(project, tmp_path):
    cold = _run(project)
    marker = tmp_path / "pwned"
    evil = pickle.dumps({"key": "x", "index": _Payload(str(marker))})
    entries = list((project / ".kinkcheck_cache").rglob("*.entry"))
    assert entries
    for entry in entries:
        blob = entry.read_bytes()
        entry.write_bytes(blob[:4] + b"\0" * 32 + evil)  # right magic, forged MAC
        legacy = entry.with_suffix(".pickle")
        legacy.write_bytes(evil)  # what kinkcheck 0.1.0 would have unpickled
    again = _run(project)
    assert not marker.exists()
    assert _found(again) == _found(cold) and again.analyzed == 1


def test_another_users_key_is_a_miss(project, monkeypatch):
    _run(project)
    monkeypatch.setattr(cache_mod, "_SECRET", b"k" * 32)
    again = _run(project)
    assert again.analyzed == 1 and _found(again) == [("loss.py", 5, "KC101")]


def test_the_key_file_is_private(project):
    _run(project)
    path = cache_mod.key_path()
    if cache_mod._SECRET is not None and path.exists():
        assert path.stat().st_mode & 0o077 == 0


# -- the bytes analysed are the bytes keyed ---------------------------------------------------


def test_a_file_edited_mid_run_never_poisons_the_cache(project, monkeypatch):
    """The file changes between reading and analysis: the run reports what it read, the
    entry holds that content's findings, and restoring the old file gives the old result."""
    from kinkcheck.lint import index

    real = index.index_source
    edits = []

    def edit_while_indexing(source, path, module):
        if not edits:
            (project / "loss.py").write_text(TWO_KINKS)  # saved by the editor mid-run
            edits.append(path)
        return real(source, path, module)

    monkeypatch.setattr(index, "index_source", edit_while_indexing)
    first = _run(project)
    assert edits and _found(first) == [("loss.py", 5, "KC101")]
    monkeypatch.setattr(index, "index_source", real)
    second = _run(project)
    assert _found(second) == _found(_run(project, use_cache=False)) == [("loss.py", 5, "KC201"), ("loss.py", 6, "KC101")]
    (project / "loss.py").write_text(LOSS)
    restored = _run(project)
    assert _found(restored) == _found(_run(project, use_cache=False)) == [("loss.py", 5, "KC101")]


# -- concurrency and kills --------------------------------------------------------------------


def _tree(root: Path, n: int = 24) -> None:
    for i in range(n):
        body = LOSS if i % 2 else TWO_KINKS
        (root / f"loss_{i}.py").write_text(body)


def _cli(root: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    return subprocess.Popen([sys.executable, "-m", "kinkcheck", "check", ".", "--output-format", "json", *args],
                            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _findings(stdout: str):
    return sorted((f["path"], f["line"], f["code"]) for f in json.loads(stdout)["findings"])


def _layout_only(root: Path) -> list[str]:
    """Names under the cache folder that the layout does not allow."""
    bad = []
    for p in root.rglob("*"):
        rel = p.relative_to(root).parts
        if len(rel) == 1 and rel[0] in ("CACHEDIR.TAG", ".gitignore"):
            continue
        if rel[0].startswith(".") and rel[0].endswith(".tmp") and len(rel) == 1:
            continue
        if not cache_mod._BUILD.fullmatch(rel[0]):
            bad.append(str(p))
        elif len(rel) == 2 and not (p.is_dir() and (cache_mod._SHARD.fullmatch(rel[1]) or rel[1] == "runs")):
            bad.append(str(p))
        elif len(rel) == 3 and not cache_mod._ENTRY.fullmatch(rel[2]):
            bad.append(str(p))
        elif len(rel) > 3:
            bad.append(str(p))
    return bad


@pytest.mark.slow
def test_eight_concurrent_runs_agree(project):
    _tree(project)
    expected = _findings(_cli(project, "--no-cache").communicate(timeout=300)[0])
    procs = [_cli(project) for _ in range(8)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [1] * 8, [o[1][-500:] for o in outs]
    for out, err in outs:
        assert _findings(out) == expected and "Traceback" not in err
    warm = _cli(project)
    assert _findings(warm.communicate(timeout=300)[0]) == expected
    assert _layout_only(project / ".kinkcheck_cache") == []


@pytest.mark.slow
def test_a_kill_at_any_point_loses_only_time(project):
    _tree(project)
    expected = _findings(_cli(project, "--no-cache").communicate(timeout=300)[0])
    for delay in (0.05, 0.3, 0.6, 0.9, 1.2, 1.6, 2.2):
        p = _cli(project)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.communicate(timeout=60)
        after = _cli(project)
        out, err = after.communicate(timeout=300)
        assert after.returncode == 1 and _findings(out) == expected, err[-500:]
    assert _layout_only(project / ".kinkcheck_cache") == []
