"""A catalog callable of a library (torchvision's ``box_iou``) is a primitive where a user's
code calls it, but a helper of the package where the package itself calls it: there its body
is checked and holds the sites (LABELS.md rule 1), and the call is not one more."""

from __future__ import annotations

import textwrap

from kinkcheck.config import load_config
from kinkcheck.lint.api import check_paths

BOXES = """
    import torch


    def box_iou(boxes1, boxes2):
        lt = torch.max(boxes1[:, None, :2], boxes2[:, :2])
        rb = torch.min(boxes1[:, None, 2:], boxes2[:, 2:])
        inter = (rb - lt).clamp(min=0).prod(2)
        return inter


    def box_diou(boxes1, boxes2):
        return box_iou(boxes1, boxes2) - 1
"""

USER = """
    from torchvision.ops import box_iou


    def box_loss(pred, target):
        return (1 - box_iou(pred, target).diagonal()).mean()
"""


def _findings(tmp_path, files: dict[str, str], root: str) -> set[tuple[str, int, str]]:
    for name, src in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(src))
    result = check_paths([tmp_path / root], load_config(tmp_path, {}), scope="all", use_cache=False, jobs=1)
    return {(f.path.rsplit("/", 1)[-1], f.line, f.code) for f in result.findings}


def test_the_library_checks_its_helper_at_its_body_not_at_its_own_calls(tmp_path):
    got = _findings(tmp_path, {"torchvision/__init__.py": "", "torchvision/ops/__init__.py": "",
                               "torchvision/ops/boxes.py": BOXES}, "torchvision")
    assert ("boxes.py", 8, "KC103") in got  # the intersection's clamp
    assert not any(line == 13 for _, line, _ in got)  # box_diou's call of box_iou


def test_a_users_call_of_the_library_helper_is_the_site(tmp_path):
    got = _findings(tmp_path, {"mypkg/__init__.py": "", "mypkg/losses.py": USER}, "mypkg")
    assert got == {("losses.py", 6, "KC103")}
