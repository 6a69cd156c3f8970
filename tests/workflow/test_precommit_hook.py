"""The real pre-commit tool runs the kinkcheck hook from this checkout on real commits.

pre-commit installs the hook repository into its own virtualenv (astroid, click, numpy,
rich from PyPI; no torch), so this needs PyPI and takes a while the first time. The hook
repository is a snapshot of this working tree (tracked and untracked, not ignored), so the
test checks the code as it is, not the last commit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from workflow_helpers import REPO, git

pytestmark = pytest.mark.slow

UNDOCUMENTED = """\
import torch


def loss(pred, target):
    return torch.abs(pred - target).mean()
"""
DOCUMENTED = UNDOCUMENTED.replace(".mean()", ".mean()  # kink: KC101 L1 is intended; 0 at a perfect fit is fine")


def test_manifest_declares_the_hook():
    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "kinkcheck"
    assert hook["entry"] == "kinkcheck check"
    assert hook["language"] == "python"
    assert hook["types_or"] == ["python", "pyi"]
    assert hook["require_serial"] is True


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory) -> tuple[Path, str]:
    """A git repository whose one commit is this working tree; returns (path, sha)."""
    shadow = tmp_path_factory.mktemp("hook-repo")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.split("\0")
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file():
            (shadow / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, shadow / rel)
    git(shadow, "init", "-q", "-b", "main")
    git(shadow, "add", "-A")
    git(shadow, "-c", "commit.gpgsign=false", "commit", "-qm", "snapshot of the working tree")
    return shadow, git(shadow, "rev-parse", "HEAD").strip()


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory) -> Path:
    """One pre-commit cache for the module, so the hook's virtualenv is built once."""
    return tmp_path_factory.mktemp("pre-commit-home")


def commit(repo: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "-c", "commit.gpgsign=false", "commit", "-m", "add a loss"],
        cwd=repo, capture_output=True, text=True, env=env, timeout=900,
    )


def test_commit_with_an_undocumented_kink_is_blocked_and_documenting_it_passes(git_repo, hook_repo, pre_commit_home):
    shadow, sha = hook_repo
    (git_repo / ".pre-commit-config.yaml").write_text(
        yaml.safe_dump({"repos": [{"repo": str(shadow), "rev": sha, "hooks": [{"id": "kinkcheck"}]}]})
    )
    env = dict(
        os.environ, PRE_COMMIT_HOME=str(pre_commit_home), PRE_COMMIT_COLOR="never",
        GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com",
    )
    env.pop("PYTHONPATH", None)  # the hook must work from its own install, not from this checkout
    subprocess.run([sys.executable, "-m", "pre_commit", "install"], cwd=git_repo, check=True, env=env,
                   capture_output=True)

    (git_repo / "train.py").write_text(UNDOCUMENTED)
    git(git_repo, "add", ".pre-commit-config.yaml", "train.py")
    blocked = commit(git_repo, env)
    out = blocked.stdout + blocked.stderr
    assert blocked.returncode != 0, out
    assert "kinkcheck" in out and "Failed" in out, out
    assert "exit code: 1" in out, out
    assert "KC101" in out and "train.py:5:12" in out, out
    assert git(git_repo, "rev-list", "--all") == ""  # nothing was committed

    (git_repo / "train.py").write_text(DOCUMENTED)
    git(git_repo, "add", "train.py")
    passed = commit(git_repo, env)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Passed" in passed.stdout + passed.stderr
    assert git(git_repo, "rev-list", "--count", "HEAD").strip() == "1"
