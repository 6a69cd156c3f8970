"""Pinned settings: what every call from loss code passes, across the checked files, and
which ``if`` tests those settings decide."""

import ast
import textwrap

import pytest

from kinkcheck.lint.index import index_source
from kinkcheck.lint.pinned import PIN, _decide
from kinkcheck.lint.scope import loss_scope


def pins(modules: dict[str, str], **kw) -> set[str]:
    indexes = [index_source(textwrap.dedent(src), f"{name.replace('.', '/')}.py", name) for name, src in modules.items()]
    return {q for qs in loss_scope(indexes, **kw).values() for q in qs if PIN in q}


OVERLAPS = """
    import torch

    def overlaps(a, b, mode="iou", aligned=False):
        if aligned:
            return torch.max(a, b)
        return torch.max(a[:, None], b[None])
"""


def test_a_setting_every_loss_passes_across_files_is_pinned():
    got = pins({"pkg.ops": OVERLAPS, "pkg.losses": """
        from pkg.ops import overlaps

        def iou_loss(pred, target):
            return 1 - overlaps(pred, target, aligned=True, mode="iou")

        def giou_loss(pred, target):
            return 1 - overlaps(pred, target, mode="giou", aligned=True)
    """})
    assert got == {"pkg.ops.overlaps#pin aligned 2 True"}  # the modes differ: not pinned


@pytest.mark.parametrize("call", ["overlaps(pred, target, aligned=flag)", "overlaps(pred, target, **options)",
                                  "overlaps(pred, target)", "partial(overlaps, aligned=True)(pred, target)"])
def test_a_loss_that_passes_something_else_pins_nothing(call):
    got = pins({"pkg.ops": OVERLAPS, "pkg.losses": f"""
        from functools import partial
        from pkg.ops import overlaps

        def iou_loss(pred, target):
            return 1 - overlaps(pred, target, aligned=True)

        def other_loss(pred, target, flag=True, **options):
            return 1 - {call}
    """})
    assert got == set()


def test_callers_outside_loss_code_do_not_count_and_all_scope_pins_nothing():
    modules = {"pkg.ops": OVERLAPS, "pkg.assign": """
        from pkg.ops import overlaps

        def assign(boxes, gt):
            return overlaps(boxes, gt).argmax(1)
    """, "pkg.losses": """
        from pkg.ops import overlaps

        def iou_loss(pred, target):
            return 1 - overlaps(pred, target, aligned=True)

        def bag_loss(pred, gt_bboxes, anchors):
            # a call handed only data computes no gradient: its settings do not count
            matched = overlaps(gt_bboxes, anchors).topk(4, dim=1).indices
            return pred[matched].sum()
    """}
    assert pins(modules) == {"pkg.ops.overlaps#pin aligned 2 True"}
    assert pins(modules, scope="all") == set()


@pytest.mark.parametrize("test, expected", [
    ("aligned", True), ("not aligned", False), ("mode == 'giou'", False), ("mode in ('iou', 'diou')", True),
    ("mode != 'iou' or aligned", True), ("aligned and mode == 'giou'", False), ("eps is None", False),
    ("aligned and other", None), ("other", None), ("mode is 'iou'", None), ("mode < 1", None),
])
def test_the_tests_pinned_values_decide(test, expected):
    values = {"aligned": True, "mode": "iou", "eps": 1e-6}
    assert _decide(ast.parse(test, mode="eval").body, values) is expected
