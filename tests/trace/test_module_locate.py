"""ModuleStack.locate: the user's frame and the running module from one walk of the stack,
the same as Attributor.frame and ModuleStack.current, with the module labels cached."""

import os

import torch
from torch import nn

from kinkcheck.trace.attribution import Attributor, ModuleStack


class Probe(nn.Module):
    """Records (locate, (frame, current)) from inside its forward."""

    def __init__(self, att, stack, seen):
        super().__init__()
        self.att, self.stack, self.seen = att, stack, seen

    def forward(self, x):
        self.seen.append((self.stack.locate(self.att, 1), (self.att.frame(1), self.stack.current(1))))
        return x


def _setup():
    att = Attributor(os.getcwd())
    stack = ModuleStack()
    stack.install()
    return att, stack, []


def test_locate_is_frame_and_current_in_nested_and_shared_modules():
    att, stack, seen = _setup()
    probe = Probe(att, stack, seen)
    model = nn.Sequential(nn.Sequential(probe), nn.Identity(), probe)  # one module at two places
    model(torch.zeros(1))
    model(torch.zeros(1))
    assert len(seen) == 4
    for (f, label), (f_ref, label_ref) in seen:
        assert f is f_ref and label == label_ref
        assert f.f_code is Probe.forward.__code__
    assert seen[0][0][1] == "2 (Probe)"  # a shared module: named by its last name, as current() names it


def test_locate_outside_any_module():
    att, stack, _ = _setup()
    f, label = stack.locate(att, 1)
    assert label is None and stack.current(1) is None
    assert f.f_code is test_locate_outside_any_module.__code__


def test_a_module_not_yet_registered_is_named_once_it_is():
    att, stack, seen = _setup()
    probe = Probe(att, stack, seen)

    class Outer(nn.Module):
        def forward(self, x):
            return probe(x)  # called, not (yet) a child of Outer

    outer = Outer()
    outer(torch.zeros(1))
    assert seen[-1][0][1] == "? (Probe)"
    outer.add_module("late", probe)
    outer(torch.zeros(1))
    assert seen[-1][0][1] == "late (Probe)" == seen[-1][1][1]  # "?" was not cached


def test_labels_are_cached_per_module_pair_and_cleared_on_remove():
    att, stack, seen = _setup()
    probe = Probe(att, stack, seen)
    model = nn.Sequential(probe)
    model(torch.zeros(1))
    assert [v[2] for v in stack._labels.values()] == ["0 (Probe)"]
    stack.remove()
    assert not stack._labels
