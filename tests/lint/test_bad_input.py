"""Bad input never stops a run and never prints a traceback.

Each broken file gets one clear KC001 finding (or a one-line error when it is not the
file's fault) and the good file next to it is still checked.
"""

from __future__ import annotations

import os
import time

import pytest

from kinkcheck.config import load_config
from kinkcheck.lint import runner
from kinkcheck.lint.api import check_paths

GOOD = "import torch\n\ndef loss(x):\n    return torch.sqrt(x).sum()\n"


@pytest.fixture
def project(write_tree, monkeypatch):
    root = write_tree({"pyproject.toml": "[tool.kinkcheck]\n", "good.py": GOOD})
    monkeypatch.chdir(root)
    return root


def check(root, *paths, jobs=1):
    return check_paths(list(paths) or [root], load_config(root, {}), use_cache=False, jobs=jobs)


def by_path(result):
    out = {}
    for f in result.findings:
        out.setdefault(f.path, []).append((f.code, f.line, f.col, f.message))
    return out


def assert_good_still_checked(result):
    assert [f.code for f in result.findings if f.path == "good.py"] == ["KC201"]


def test_syntax_error_is_kc001_at_its_position(project):
    (project / "broken.py").write_text("def loss(x):\n    return (x +\n\ndef other(:\n")
    r = check(project)
    [(code, line, col, msg)] = by_path(r)["broken.py"]
    assert code == "KC001" and msg.startswith("syntax error: ") and line >= 2
    assert_good_still_checked(r)
    assert r.exit_code == 1 and r.errors == []


def test_not_utf8(project):
    (project / "latin.py").write_bytes("def loss(x):\n    return x  # caf\xe9\n".encode("latin-1"))
    (project / "cookie.py").write_bytes("# -*- coding: latin-1 -*-\ns = 'caf\xe9'\n".encode("latin-1"))
    r = check(project)
    assert by_path(r)["latin.py"] == [("KC001", 2, 20, "file is not valid utf-8 text (byte 0xe9)")]
    assert "cookie.py" not in by_path(r), "a PEP 263 cookie is honoured"
    assert_good_still_checked(r)


def test_binary_and_nul_bytes(project):
    (project / "blob.py").write_bytes(bytes(range(256)) * 4)
    (project / "nul.py").write_bytes(b"x = 1\ny = '\x00'\n")
    r = check(project)
    assert by_path(r)["blob.py"][0][:3] == ("KC001", 1, 1)
    assert by_path(r)["nul.py"] == [("KC001", 2, 6, "file contains NUL bytes (binary data, not Python source)")]
    assert_good_still_checked(r)


def test_fifo_and_directory_named_like_a_module(project):
    os.mkfifo(project / "pipe.py")
    (project / "pkg.py").mkdir()
    (project / "pkg.py" / "inner.py").write_text(GOOD)
    r = check(project, "good.py", "pipe.py", "pkg.py")
    assert by_path(r)["pipe.py"][0][3] == "cannot read file: not a regular file (a FIFO, socket or device)"
    assert [c for c, *_ in by_path(r)["pkg.py/inner.py"]] == ["KC201"], "a directory is walked, not read"
    r = check(project)  # walking: a FIFO is not a Python file and is skipped, not opened (it would block)
    assert "pipe.py" not in by_path(r)


def test_unreadable_file(project, monkeypatch):
    """Tests run as root, where chmod 000 does not stop reading: make open() refuse instead."""
    (project / "secret.py").write_text(GOOD)
    real_open = open

    def refusing(path, *args, **kw):
        if str(path).endswith("secret.py"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kw)

    monkeypatch.setattr(runner, "open", refusing, raising=False)
    r = check(project)
    assert by_path(r)["secret.py"] == [("KC001", 1, 1, "cannot read file: permission denied")]
    assert_good_still_checked(r)


def test_symlink_loop_is_a_warning_and_the_run_goes_on(project):
    (project / "loop.py").symlink_to(project / "loop.py")
    (project / "sub").mkdir()
    (project / "sub" / "back").symlink_to(project, target_is_directory=True)
    r = check(project)
    assert any("loop.py" in w and "symbolic link loop" in w for w in r.warnings)
    assert_good_still_checked(r)
    assert r.exit_code == 1


@pytest.mark.slow
def test_fifty_thousand_lines(project):
    body = "".join(f"v{i} = {i} * 2\n" for i in range(50_000))
    (project / "huge.py").write_text(GOOD.replace("def loss", "def loss_big") + body)
    start = time.perf_counter()
    r = check(project)
    assert time.perf_counter() - start < 60
    assert [c for c, *_ in by_path(r)["huge.py"]] == ["KC201"]
    assert_good_still_checked(r)


def test_expression_nested_two_thousand_deep(project):
    (project / "parens.py").write_text("def loss(x):\n    return " + "(" * 2000 + "x" + ")" * 2000 + "\n")
    (project / "chain.py").write_text("import torch\n\ndef loss(x):\n    return " + " + ".join(["x"] * 2000)
                                      + " + torch.sqrt(x)\n")
    (project / "unary.py").write_text("def loss(x):\n    return " + "-" * 2000 + "x\n")
    r = check(project, jobs=1)
    found = by_path(r)
    assert found["parens.py"][0][0] == "KC001" and "nested too deeply" in found["parens.py"][0][3]
    for name in ("chain.py", "unary.py"):
        assert all(code in ("KC001", "KC201") for code, *_ in found.get(name, [])), found.get(name)
    assert r.errors == []
    assert_good_still_checked(r)


@pytest.mark.slow
def test_inference_blow_up_is_bounded(project):
    lines = ["import torch", "", "def loss(x):", "    a = b = c = x"]
    for i in range(400):
        lines.append("    a, b, c = b * c + torch.abs(a), c * a + b, a + b * c")
    lines.append("    return a + b + c")
    (project / "blowup.py").write_text("\n".join(lines) + "\n")
    start = time.perf_counter()
    r = check(project)
    assert time.perf_counter() - start < 60
    assert r.errors == []
    assert_good_still_checked(r)


@pytest.mark.filterwarnings("ignore:os.fork")
def test_worker_crash_is_caught_per_file(project, monkeypatch):
    for i in range(6):
        (project / f"m{i}.py").write_text(GOOD)
    (project / "m3.py").write_text(GOOD + "# CRASH-THE-WORKER\n")
    from kinkcheck.lint import engine

    real = engine.analyze_file

    def crashing(source, *args, **kw):
        if "CRASH-THE-WORKER" in source:
            os._exit(70)
        return real(source, *args, **kw)

    monkeypatch.setattr(engine, "analyze_file", crashing)
    monkeypatch.setattr(runner, "START_METHOD", "fork")  # the workers must inherit the patch
    r = check(project, jobs=2)
    assert r.errors == ["m3.py: the analyzer crashed on this file (worker process died)"]
    assert sorted(p for p, fs in by_path(r).items() if [c for c, *_ in fs] == ["KC201"]) == [
        "good.py", "m0.py", "m1.py", "m2.py", "m4.py", "m5.py"]
    assert r.exit_code == 2


@pytest.mark.slow
def test_analyzed_code_is_never_imported(project, tmp_path_factory):
    marker = tmp_path_factory.mktemp("marker") / "imported"
    evil = f"open({str(marker)!r}, 'w').write('ran')\nimport torch\n\ndef loss(x):\n    return torch.abs(x)\n"
    (project / "evil").mkdir()
    for name in ("__init__.py", "conftest.py", "setup.py", "evil_loss.py", "__main__.py"):
        (project / "evil" / name).write_text(evil)
    r = check(project, jobs=2)
    assert not marker.exists()
    assert any(f.path == "evil/evil_loss.py" and f.code == "KC101" for f in r.findings)


@pytest.mark.slow
def test_cli_output_never_blocks_on_a_fifo_and_cuts_long_lines(project):
    """The full format reads source for its code frames: a FIFO must not be opened."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    os.mkfifo(project / "pipe.py")
    (project / "wide.py").write_text("import torch\n\ndef loss(x):\n    return " + " + ".join(["x"] * 500)
                                     + " + torch.sqrt(x)\n")
    p = subprocess.run([sys.executable, "-m", "kinkcheck", "check", "pipe.py", "wide.py", "--no-cache"],
                       cwd=project, env={**os.environ, "PYTHONPATH": str(repo)}, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 1, p.stderr
    assert "pipe.py:1:1: KC001 [parse-error] cannot read file: not a regular file" in p.stdout
    frame = p.stdout.split("wide.py:4:", 1)[1].splitlines()
    code, carets = frame[2], frame[3]
    assert code.startswith("4 | …") and code.endswith("x + torch.sqrt(x)")
    assert len(code) < 130
    assert carets.index("^") == code.index("torch.sqrt") and carets.endswith("^^^^^^^^^^^^^ KC201")
