"""A walk never leaves the checked paths through a symlink: a link to a file or folder
elsewhere is skipped with a warning, so nothing of it is read, analysed or quoted."""

from __future__ import annotations

import os

from kinkcheck.config import load_config
from kinkcheck.lint.discover import discover

KINKY = "import torch\n\ndef loss(secret_value):\n    return torch.abs(secret_value)\n"


def test_links_out_of_the_tree_are_skipped(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "private.py").write_text(KINKY)
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[tool.kinkcheck]\n")
    (project / "src" / "mine.py").write_text(KINKY)
    (project / "src" / "leak.py").symlink_to(outside / "private.py")
    (project / "src" / "elsewhere").symlink_to(outside, target_is_directory=True)
    (project / "src" / "alias.py").symlink_to(project / "src" / "mine.py")  # inside: fine
    found = discover([project / "src"], load_config(project, {}))
    # the link inside the tree and its target are one file, checked once
    assert [os.path.realpath(f.abspath) for f in found.files] == [os.path.realpath(project / "src" / "mine.py")]
    assert sum("out of the checked paths" in w for w in found.warnings) == 2


def test_a_link_named_on_the_command_line_is_the_users_choice(tmp_path):
    outside = tmp_path / "outside.py"
    outside.write_text(KINKY)
    project = tmp_path / "project"
    project.mkdir()
    (project / "link.py").symlink_to(outside)
    found = discover([project / "link.py"], load_config(project, {}))
    assert [os.path.basename(f.path) for f in found.files] == ["link.py"]
