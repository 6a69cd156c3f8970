"""Call sites in one file: a static or class method is called through its class
(``Entmoid15._forward(x)``, ``cls._threshold(x)``), and those calls are its call sites; an
instance method called through its class with the instance in hand (pyro's
``ZeroInflated.__init__(new, ...)`` in ``expand``) is one call among others no index sees
(the constructor, ``super().__init__``), so it decides nothing."""

import textwrap

from kinkcheck.lint import call_sites
from kinkcheck.lint.context import FileAnalysis
from kinkcheck.lint.engine import parse

SOURCE = textwrap.dedent('''
    import torch


    class Entmoid15(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return Entmoid15._forward(x)

        @staticmethod
        def _forward(x):
            return x.abs()

        @classmethod
        def build(cls, x):
            return cls.scale(x)

        @classmethod
        def scale(cls, x):
            return x * 2


    class ZeroInflated:
        def __init__(self, base, *, gate=None):
            self.gate = gate

        def expand(self, shape):
            new = ZeroInflated.__new__(ZeroInflated)
            ZeroInflated.__init__(new, None, gate=self.gate.expand(shape))
            return new
''')


def _sites(qualname: str):
    fa = FileAnalysis(SOURCE, "mod.py", "mod", parse(SOURCE, "mod.py"), 100_000, None)
    ctx = call_sites.caller_context(fa, qualname, fa.ix.scopes[qualname])
    found = call_sites.call_sites(ctx)
    return None if found is None else sorted(caller.qualname for caller, _ in found)


def test_a_static_method_is_called_through_its_class():
    assert _sites("mod.Entmoid15._forward") == ["mod.Entmoid15.forward"]


def test_a_class_method_is_called_through_cls():
    assert _sites("mod.Entmoid15.scale") == ["mod.Entmoid15.build"]


def test_an_instance_method_called_through_its_class_has_no_known_call_sites():
    assert _sites("mod.ZeroInflated.__init__") is None
