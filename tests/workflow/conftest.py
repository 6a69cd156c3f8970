"""Fixtures for the workflow tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from workflow_helpers import git

from kinkcheck import catalog as catalog_mod


@pytest.fixture(scope="session")
def catalog():
    return catalog_mod.load()


@pytest.fixture
def git_repo(tmp_path) -> Path:
    """An empty git repository with a committer configured."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "commit.gpgsign", "false")
    return repo
