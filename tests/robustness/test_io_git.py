"""``--diff`` reads a repository that may not be trusted (a fresh clone, an unpacked archive
with its ``.git``): its config must not make kinkcheck run code. git runs
``core.fsmonitor`` as a hook on every index refresh (``git diff``, ``git ls-files``), so
kinkcheck turns it off, with hooks, pagers and external diff drivers (issue 8, part 5)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from kinkcheck.workflow import diff as diff_mod

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

LOSS = "import torch\n\n\ndef loss(pred, target):\n    return (pred - target).mean()\n"
KINK = "\n\ndef l1_loss(pred, target):\n    return torch.abs(pred - target).mean()\n"


def _git(repo, *args):
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", "-c", "commit.gpgsign=false", *args], cwd=repo, env=env, check=True,
                          capture_output=True, text=True)


@pytest.fixture
def hostile_repo(tmp_path, monkeypatch):
    """A repository whose own config names scripts that leave a marker file when run."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "loss.py").write_text(LOSS)
    _git(repo, "add", "loss.py")
    _git(repo, "commit", "-q", "-m", "base")
    marker = tmp_path / "ran"
    script = tmp_path / "payload.sh"
    script.write_text(f"#!/bin/sh\necho \"$0 $*\" >> '{marker}'\nexit 1\n")
    script.chmod(0o755)
    _git(repo, "config", "core.fsmonitor", str(script))
    _git(repo, "config", "core.pager", str(script))
    _git(repo, "config", "diff.external", str(script))
    _git(repo, "config", "core.hooksPath", str(tmp_path))
    for hook in ("post-index-change", "post-checkout", "reference-transaction"):
        shutil.copy(script, tmp_path / hook)
    with open(repo / "loss.py", "a") as fh:
        fh.write(KINK)
    (repo / "new_loss.py").write_text("import torch\n\n\ndef loss(x):\n    return torch.sqrt(x).sum()\n")
    monkeypatch.chdir(repo)
    return repo, marker


def test_the_payload_is_live_for_plain_git(hostile_repo):
    """The control: without kinkcheck's options, git itself runs the fsmonitor hook, so the
    tests below would see the marker if kinkcheck let it run."""
    repo, marker = hostile_repo
    subprocess.run(["git", "diff", "-U0", "HEAD", "--"], cwd=repo, capture_output=True)
    if not marker.exists():
        pytest.skip("this git does not run core.fsmonitor hooks")
    assert marker.read_text()


def test_diff_runs_nothing_from_the_repository_config(cli, hostile_repo):
    repo, marker = hostile_repo
    result = cli("check", "--no-cache", "--diff", "HEAD", "--output-format", "concise", ".")
    assert result.exit_code == 1, result.stderr
    assert not marker.exists(), marker.read_text()
    # and the diff still works: the added kink and the untracked file, not the old code
    lines = result.stdout.splitlines()
    assert any(line.startswith("loss.py:") and "KC101" in line for line in lines), result.stdout
    assert any(line.startswith("new_loss.py:") and "KC201" in line for line in lines), result.stdout


def test_diff_on_stdin_runs_nothing_either(cli, hostile_repo):
    repo, marker = hostile_repo
    patch = "--- a/loss.py\n+++ b/loss.py\n@@ -5,0 +6,4 @@\n+\n+\n+def l1_loss(pred, target):\n+    return 1\n"
    from click.testing import CliRunner

    from kinkcheck.cli import cli as group

    result = CliRunner().invoke(group, ["check", "--no-cache", "--diff", "-", "loss.py"], input=patch)
    assert result.exit_code == 1, result.output
    assert not marker.exists(), marker.read_text()


def test_every_git_call_goes_through_the_safe_options(monkeypatch, hostile_repo):
    """Whatever git subcommand kinkcheck adds later, it goes through ``_git`` with the
    options first."""
    repo, _ = hostile_repo
    seen = []
    real_run = subprocess.run

    def spy(argv, *a, **kw):
        seen.append((list(argv), kw.get("env") or {}))
        return real_run(argv, *a, **kw)

    monkeypatch.setattr(diff_mod.subprocess, "run", spy)
    diff_mod.changes_since("HEAD", root=repo)
    assert seen
    for argv, env in seen:
        assert argv[0] == "git"
        assert argv[1 : 1 + len(diff_mod.GIT_SAFETY)] == list(diff_mod.GIT_SAFETY)
        assert "core.fsmonitor=" in argv and "core.hooksPath=/dev/null" in argv and "--no-pager" in argv
        assert env.get("GIT_OPTIONAL_LOCKS") == "0"


def test_no_other_module_runs_git():
    """diff.py is the one place kinkcheck runs git; a new call elsewhere must use its _git."""
    import kinkcheck

    root = os.path.dirname(kinkcheck.__file__)
    offenders = []
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                text = open(path, encoding="utf-8").read()
                if "subprocess" in text and '"git"' in text and not path.endswith(os.path.join("workflow", "diff.py")):
                    offenders.append(path)
    assert offenders == []
