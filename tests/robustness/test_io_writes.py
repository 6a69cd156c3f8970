"""Writes stay where they belong (issue 8, part 5): ``-o`` and every other write go through
``kinkcheck.atomic``: a regular file, replaced atomically, created with the user's umask;
never a device, a FIFO, or a symlink into /proc or /dev. ``--write-baseline`` keeps the old
baseline when the run fails."""

from __future__ import annotations

import json
import os
import stat

import pytest

from kinkcheck import atomic
from kinkcheck.atomic import UnsafeTarget, ensure_regular_target, write_atomic

LOSS = "import torch\n\n\ndef loss(pred, target):\n    return torch.abs(pred - target).mean()\n"


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = tmp_path / "project"
    root.mkdir()
    (root / "loss.py").write_text(LOSS)
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def umask():
    """Set the process umask for one test, restored after."""
    saved = os.umask(0o022)
    os.umask(saved)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(saved)


@pytest.fixture
def device(tmp_path) -> str:
    """A character device to aim at. As root, a null device node of our own (mknod): were
    the refusal to regress, a root run would rename a file over the real /dev/null."""
    if os.geteuid() != 0:
        return "/dev/null"  # a regression could not replace it: /dev is not ours to write
    node = tmp_path / "null"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (OSError, AttributeError):
        pytest.skip("running as root without mknod: no device that is safe to aim at")
    return str(node)


def _one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kinkcheck: error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


# -- the rule -------------------------------------------------------------------------------


def test_a_new_file_gets_the_users_umask_not_0600(tmp_path, umask):
    umask(0o027)
    write_atomic(tmp_path / "report.html", "<p>hi</p>")
    assert stat.S_IMODE((tmp_path / "report.html").stat().st_mode) == 0o640
    umask(0o002)
    write_atomic(tmp_path / "group.txt", "x")
    assert stat.S_IMODE((tmp_path / "group.txt").stat().st_mode) == 0o664


def test_a_replaced_file_keeps_its_mode(tmp_path, umask):
    target = tmp_path / "kinks.json"
    target.write_text("old")
    target.chmod(0o600)
    umask(0o022)
    write_atomic(target, "new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_an_explicit_mode_wins(tmp_path, umask):
    umask(0o000)
    write_atomic(tmp_path / "private", b"k", mode=0o600)
    assert stat.S_IMODE((tmp_path / "private").stat().st_mode) == 0o600


def test_the_umask_is_read_without_being_changed(umask):
    umask(0o037)
    assert atomic.current_umask() == 0o037
    assert atomic.current_umask() == 0o037


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "baseline.json"
    target.write_text("old content")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_atomic(target, "new content")
    assert target.read_text() == "old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["baseline.json"]


def test_a_device_is_refused(device):
    with pytest.raises(UnsafeTarget, match="is a device"):
        write_atomic(device, "x", parents=False)
    assert stat.S_ISCHR(os.lstat(device).st_mode)  # still the device (a root run would have replaced it)


def test_a_fifo_is_refused_never_opened_or_replaced(tmp_path):
    fifo = tmp_path / "out.html"
    os.mkfifo(fifo)
    with pytest.raises(UnsafeTarget, match="FIFO"):
        write_atomic(fifo, "x")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(UnsafeTarget, match="directory"):
        ensure_regular_target(tmp_path)


@pytest.mark.parametrize("into", ["/proc/self/comm", "/dev/null", "/proc/self/fd/1"])
def test_a_symlink_into_proc_or_dev_is_refused_and_kept(tmp_path, into):
    link = tmp_path / "kinks.html"
    link.symlink_to(into)
    with pytest.raises(UnsafeTarget, match="symbolic link into /(proc|dev)"):
        write_atomic(link, "x")
    assert link.is_symlink() and os.readlink(link) == into


def test_a_folder_in_proc_is_refused(tmp_path):
    with pytest.raises(UnsafeTarget, match="/proc"):
        write_atomic("/proc/self/kinkcheck-report.html", "x", parents=False)


def test_a_symlink_to_a_regular_file_is_replaced_not_followed(tmp_path):
    """A link planted in a checkout (kinks.html -> ~/.bashrc) cannot make a report overwrite
    the file it points to: the rename replaces the link itself."""
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("keep me")
    link = tmp_path / "kinks.html"
    link.symlink_to(elsewhere)
    write_atomic(link, "report")
    assert elsewhere.read_text() == "keep me"
    assert not link.is_symlink() and link.read_text() == "report"


# -- through the commands -------------------------------------------------------------------


def test_report_to_a_device_is_one_line_and_exit_2(cli, project, device):
    result = cli("report", ".", "--no-cache", "-o", device)
    assert result.exit_code == 2
    line = _one_error_line(result)
    assert device in line and "device" in line
    assert stat.S_ISCHR(os.lstat(device).st_mode)


def test_report_to_a_fifo_is_refused_without_waiting(cli, project):
    os.mkfifo(project / "out.md")
    result = cli("report", ".", "--no-cache", "--format", "markdown", "-o", "out.md")
    assert result.exit_code == 2
    assert "FIFO" in _one_error_line(result)
    assert stat.S_ISFIFO(os.lstat(project / "out.md").st_mode)


def test_report_to_a_symlink_into_proc_is_refused(cli, project):
    (project / "out.html").symlink_to("/proc/self/environ")
    result = cli("report", ".", "--no-cache", "--format", "html", "-o", "out.html")
    assert result.exit_code == 2
    assert "/proc" in _one_error_line(result)
    assert os.readlink(project / "out.html") == "/proc/self/environ"


def test_report_file_is_created_with_the_umask(cli, project, umask):
    umask(0o022)
    result = cli("report", ".", "--no-cache", "--format", "json", "-o", "kinks.json")
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE((project / "kinks.json").stat().st_mode) == 0o644
    assert json.loads((project / "kinks.json").read_text())["format"] == "kinkcheck-report"


def test_merge_to_a_device_is_refused(cli, project, device):
    trace = {"format": "kinkcheck-trace", "version": 1, "root": str(project), "ranks": [0], "steps": 1,
             "near": {"ulps": 4, "abs": 1e-30}, "sites": []}
    (project / "a.json").write_text(json.dumps(trace))
    result = cli("merge", "a.json", "-o", device)
    assert result.exit_code == 2
    assert device in _one_error_line(result)
    assert stat.S_ISCHR(os.lstat(device).st_mode)


# -- the baseline ---------------------------------------------------------------------------


def test_write_baseline_keeps_the_old_file_when_the_run_has_errors(cli, project):
    """A path that could not be checked: the run saw only part of the code, so a baseline
    written from it would drop that part's entries (and they would come back as new)."""
    old = json.dumps({"format": "kinkcheck-baseline", "version": 1, "findings": [], "note": "old"})
    (project / "kinks-baseline.json").write_text(old)
    result = cli("check", "--no-cache", "loss.py", "missing.py", "--write-baseline", "kinks-baseline.json")
    assert result.exit_code == 2
    assert (project / "kinks-baseline.json").read_text() == old
    assert "kinks-baseline.json not written" in result.stderr and "unchanged" in result.stderr


def test_write_baseline_keeps_the_old_file_when_the_config_is_bad(cli, project):
    old = '{"format": "kinkcheck-baseline", "version": 1, "findings": []}\n'
    (project / "kinks-baseline.json").write_text(old)
    (project / "pyproject.toml").write_text("[tool.kinkcheck]\nscope = 'nonsense'\n")
    result = cli("check", "--no-cache", ".", "--write-baseline", "kinks-baseline.json")
    assert result.exit_code == 2
    assert (project / "kinks-baseline.json").read_text() == old


def test_write_baseline_of_a_clean_run_still_replaces_the_file(cli, project):
    (project / "kinks-baseline.json").write_text("{}")
    result = cli("check", "--no-cache", "loss.py", "--write-baseline", "kinks-baseline.json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads((project / "kinks-baseline.json").read_text())
    assert [e["code"] for e in doc["findings"]] == ["KC101"]


def test_write_baseline_to_a_device_is_refused(cli, project, device):
    result = cli("check", "--no-cache", "loss.py", "--write-baseline", device)
    assert result.exit_code == 2
    assert "device" in result.stderr
    assert stat.S_ISCHR(os.lstat(device).st_mode)
