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


def test_internal_cache_is_keyed_by_the_code_object_not_just_its_id():
    att = Attributor(os.getcwd())
    mine = test_internal_cache_is_keyed_by_the_code_object_not_just_its_id.__code__
    stale = nn.Module._call_impl.__code__  # a torch frame: internal
    assert att.is_internal(stale)
    att._internal[id(mine)] = (stale, True)  # as if another code object had had this id
    assert not att.is_internal(mine)
    assert att.frame(1).f_code is mine


def test_torch_site_cache_checks_the_code_object():
    import kinkcheck

    x = torch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    fns = []
    for name, src in (("a_file.py", "def f(x):\n    return torch.relu(x)\n"),
                      ("b_file.py", "def f(x):\n    return torch.relu(x) * 1\n")):
        ns = {"torch": torch}
        exec(compile(src, name, "exec"), ns)
        fns.append(ns["f"])
    with kinkcheck.trace(backends="torch", rules="KC102") as t:
        fns[0](x)
        (backend,) = t._entries[next(iter(t._entries))]
        # poison the fast cache: b_file's code id now points at a_file's entry
        ((key, entry),) = backend._site_ids.items()
        backend._site_ids[(id(fns[1].__code__), *key[1:])] = entry
        fns[1](x)
        fns[0](x)
    paths = sorted((s.path, s.calls) for s in t.sites.values())
    assert paths == [("a_file.py", 2), ("b_file.py", 1)]
