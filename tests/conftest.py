"""Shared fixtures: small helpers for writing source trees and running the CLI."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def _private_config_home(tmp_path_factory):
    """The cache's per-user key lives under $XDG_CONFIG_HOME, parsed rules and settings under
    KINKCHECK_CATALOG_CACHE: the tests (and the CLI runs they spawn) get their own, never the
    developer's."""
    import os

    saved = {name: os.environ.get(name) for name in ("XDG_CONFIG_HOME", "KINKCHECK_CATALOG_CACHE")}
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("config-home"))
    # and the per-user cache of parsed rules and settings (kinkcheck.usercache)
    os.environ["KINKCHECK_CATALOG_CACHE"] = str(tmp_path_factory.mktemp("user-cache"))
    yield
    for name, old in saved.items():
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


@pytest.fixture
def write_tree(tmp_path):
    """write_tree({"pkg/a.py": "...", ...}) -> tmp_path; text is dedented."""

    def write(files: dict[str, str], root: Path | None = None) -> Path:
        base = root or tmp_path
        for rel, text in files.items():
            p = base / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return base

    return write


@pytest.fixture
def cli():
    """cli("check", "x.py") -> click Result (exit_code, stdout, stderr) via CliRunner."""
    from click.testing import CliRunner

    from kinkcheck.cli import cli as group

    def invoke(*args: str, env: dict | None = None):
        runner = CliRunner()
        return runner.invoke(group, list(args), env=env, catch_exceptions=False)

    return invoke
