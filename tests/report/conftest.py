"""The fixture project as a working directory, for the report tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from report_helpers import FIXTURES


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A copy of the fixture project as the working directory."""
    root = tmp_path / "project"
    shutil.copytree(FIXTURES / "project", root)
    monkeypatch.chdir(root)
    return root
