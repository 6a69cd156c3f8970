"""A file whose name is not UTF-8 (Linux allows any bytes; Python reads them as surrogates) is
checked like any other: its findings are reported in every format, the cache keys it, SARIF
gives it a percent-encoded URI and JSON an escape that reads back to the same name. It used to
stop the run with an internal error (exit 2) wherever the name was encoded."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from streams import run_bytes

from kinkcheck.__main__ import main as entry_point

BAD = b"bad\xff.py"
SOURCE = b"import torch\n\n\ndef loss(x):\n    return torch.abs(x).sum()\n"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    try:
        with open(os.path.join(os.fsencode(tmp_path), BAD), "wb") as fh:
            fh.write(SOURCE)
    except (OSError, UnicodeError):
        pytest.skip("this file system refuses a file name that is not UTF-8")
    (tmp_path / "ok.py").write_bytes(SOURCE.replace(b"abs", b"sqrt"))
    return tmp_path


@pytest.mark.parametrize("fmt", ["full", "concise", "json", "sarif", "github", "gitlab", "junit"])
@pytest.mark.parametrize("cache", [True, False], ids=["cache", "no-cache"])
def test_every_format_reports_the_file(tree: Path, tmp_path: Path, fmt: str, cache: bool, monkeypatch) -> None:
    monkeypatch.chdir(tree)
    out = tmp_path / f"out.{fmt}"
    argv = ["check", ".", "--output-format", fmt, "-o", str(out)] + ([] if cache else ["--no-cache"])
    code, _stdout, stderr = run_bytes(entry_point, argv)
    assert code == 1, stderr  # kinks found, not an internal error (2)
    text = out.read_bytes()
    assert b"KC101" in text and b"KC201" in text or fmt in ("gitlab", "junit", "github")
    if fmt == "json":
        paths = {f["path"] for f in json.loads(text)["findings"]}
        assert os.fsdecode(BAD) in {Path(p).name for p in paths}
    if fmt == "sarif":
        uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                for r in json.loads(text)["runs"][0]["results"]}
        assert any(u.endswith("bad%FF.py") for u in uris), uris


def test_a_second_cached_run_finds_the_same(tree: Path, monkeypatch) -> None:
    monkeypatch.chdir(tree)
    first = run_bytes(entry_point, ["check", ".", "--output-format", "json"])
    second = run_bytes(entry_point, ["check", ".", "--output-format", "json"])
    assert first[0] == second[0] == 1
    assert json.loads(first[1])["findings"] == json.loads(second[1])["findings"]


@pytest.mark.parametrize("fmt", ["html", "markdown", "json"])
def test_the_report_is_written(tree: Path, tmp_path: Path, fmt: str, monkeypatch) -> None:
    monkeypatch.chdir(tree)
    out = tmp_path / f"report.{fmt}"
    code, _stdout, stderr = run_bytes(entry_point, ["report", ".", "--output-format", fmt, "-o", str(out)])
    assert code == 0, stderr
    assert b"bad\\udcff.py" in out.read_bytes()
