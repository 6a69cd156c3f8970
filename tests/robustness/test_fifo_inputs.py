"""A FIFO or a device where a file is expected is refused with one line and exit 2: never
opened and waited on (opening a FIFO blocks until a writer comes), never replaced.

Each case runs as a real process with a timeout, so a regression fails instead of hanging.
"""

from __future__ import annotations

import json
import os
import stat

import pytest
from exit2_helpers import assert_one_error, kinkcheck_process
from test_json_validation import LOSS, valid_trace

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")


@pytest.fixture
def project(tmp_path):
    (tmp_path / "loss.py").write_text(LOSS)
    (tmp_path / "good.json").write_text(json.dumps(valid_trace()))
    os.mkfifo(tmp_path / "fifo")
    os.symlink("fifo", tmp_path / "link-to-fifo")
    return tmp_path


def still_a_fifo(project) -> bool:
    return stat.S_ISFIFO(os.lstat(project / "fifo").st_mode)


@pytest.mark.parametrize("args, needle", [
    (("trace", "show", "fifo"), "fifo: is a FIFO (named pipe), not a regular file"),
    (("trace", "show", "link-to-fifo"), "link-to-fifo: is a FIFO (named pipe), not a regular file"),
    (("trace", "show", "/dev/zero"), "/dev/zero: is a character device, not a regular file"),
    (("report", "--no-cache", "--trace", "fifo", "loss.py"), "fifo: is a FIFO (named pipe), not a regular file"),
    (("report", "--no-cache", "--trace", "/dev/zero", "loss.py"), "/dev/zero: is a character device"),
    (("merge", "good.json", "fifo", "-o", "out.json"), "fifo: is a FIFO (named pipe), not a regular file"),
    (("check", "--no-cache", "--baseline", "fifo", "loss.py"), "baseline fifo: is a FIFO (named pipe)"),
    (("check", "--no-cache", "--config", "fifo", "loss.py"), "fifo: is a FIFO (named pipe)"),
])
@pytest.mark.slow
def test_a_fifo_or_device_given_as_input_is_refused_unopened(project, args, needle):
    result = kinkcheck_process(*args, cwd=project, timeout=120)
    assert_one_error(result, needle)
    assert still_a_fifo(project)


@pytest.mark.parametrize("args", [
    ("report", "--no-cache", "-o", "fifo", "loss.py"),
    ("report", "--no-cache", "-o", "link-to-fifo", "loss.py"),
    ("report", "--no-cache", "-o", "/dev/null", "loss.py"),
    ("merge", "good.json", "-o", "fifo"),
    ("merge", "good.json", "-o", "/dev/null"),
])
@pytest.mark.slow
def test_a_fifo_or_device_given_as_output_is_refused_and_kept(project, args):
    result = kinkcheck_process(*args, cwd=project, timeout=120)
    target = args[args.index("-o") + 1]
    assert_one_error(result, f"-o {target}: ")
    assert still_a_fifo(project) and os.path.islink(project / "link-to-fifo")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@pytest.mark.slow
def test_write_baseline_to_a_fifo_is_refused_and_kept(project):
    result = kinkcheck_process("check", "--no-cache", "--write-baseline", "fifo", "loss.py", cwd=project, timeout=120)
    assert_one_error(result, "cannot write baseline fifo")
    assert still_a_fifo(project)
