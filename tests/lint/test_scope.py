"""What the default scope reaches, class by class: each test is a small tree of modules and
the functions that come out in scope (and the look-alikes that stay out).

These look at ``loss_scope`` only, never at findings: which code is loss code is one
question, which sites in it are kinks another (``test_engine_fixtures.py`` joins them).
"""

from __future__ import annotations

import textwrap

import pytest

from kinkcheck.lint.index import index_source
from kinkcheck.lint.scope import SLICE, loss_scope


def scoped(modules: dict[str, str], **kw) -> set[str]:
    """Qualified names in scope over a tree of ``{module: source}``."""
    indexes = [index_source(textwrap.dedent(src), f"{name.replace('.', '/')}.py", name) for name, src in modules.items()]
    return {q for qs in loss_scope(indexes, **kw).values() for q in qs}


# -- calls through attributes ---------------------------------------------------------------


def test_an_attribute_holding_an_instance_runs_that_class():
    got = scoped({"m": """
        import torch

        class Euclid(torch.nn.Module):
            def forward(self, a, b):
                return (a - b).norm()

            def pairwise(self, a):
                return torch.cdist(a, a)

            def unused(self, a):
                return a.abs()

        class Scorer:
            def __init__(self):
                self.dist_fn = Euclid()

            def loss(self, a, b):
                return self.dist_fn(a, b) + self.dist_fn.pairwise(a).mean() + self.reduce(a)

            def reduce(self, x):
                return x.mean()
        """})
    assert {"m.Euclid.forward", "m.Euclid.pairwise", "m.Scorer.reduce"} <= got
    assert "m.Euclid.unused" not in got and "m.Scorer.__init__" not in got


def test_a_factory_method_or_function_runs_what_it_returns():
    got = scoped({"m": """
        class L1:
            def __call__(self, a, b):
                return abs(a - b)

        class L2:
            def __call__(self, a, b):
                return (a - b) ** 2

            def pairwise(self, a):
                return a

        class Cos:
            def __call__(self, a, b):
                return a @ b

        METRICS = {"l1": L1, "l2": L2}

        def get_metric(name):
            return METRICS[name]()

        class Holder:
            def __init__(self, name):
                self.metric = get_metric(name)
                self.fallback = self.default_metric()

            def default_metric(self):
                return Cos()

            def criterion(self, a, b):
                return self.metric(a, b) + self.metric.pairwise(a) + self.fallback(a, b)
        """})
    assert {"m.L1.__call__", "m.L2.__call__", "m.L2.pairwise", "m.Cos.__call__"} <= got


def test_a_method_picked_by_a_computed_name_runs_every_method_the_name_can_spell():
    # `getattr(self, "{}_reduction".format(kind))`: a reducer dispatches on the kind of loss
    # it is handed; `self` may be a subclass, whose overrides then run. A name with too
    # little fixed (`getattr(self, name)`) picks nothing
    got = scoped({"reducers": """
        import torch

        class BaseReducer(torch.nn.Module):
            def forward(self, losses, kind):
                reduction_func = self.get_reduction_func(kind)
                penalty = getattr(self, f"_{kind}_penalty", self._no_penalty)
                return reduction_func(losses) + penalty(losses) + getattr(self, kind)(losses)

            def _no_penalty(self, losses):
                return losses.sum() * 0

            def get_reduction_func(self, kind):
                return getattr(self, "{}_reduction".format(kind))

            def element_reduction(self, losses):
                raise NotImplementedError

            def triplet_reduction(self, losses):
                return self.element_reduction(losses)

            def _norm_penalty(self, losses):
                return losses.norm()

            def unrelated(self, losses):
                return losses.abs()

        class AvgNonZeroReducer(BaseReducer):
            def element_reduction(self, losses):
                keep = losses > 0
                return losses[keep].sum() / keep.sum()
        """, "losses": """
        import torch
        from reducers import AvgNonZeroReducer

        class TripletLoss(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.reducer = AvgNonZeroReducer()

            def forward(self, d_ap, d_an):
                return self.reducer(torch.relu(d_ap - d_an + 0.2), "triplet")
        """})
    assert {"reducers.BaseReducer.triplet_reduction", "reducers.AvgNonZeroReducer.element_reduction",
            "reducers.BaseReducer._norm_penalty", "reducers.BaseReducer._no_penalty"} <= got
    assert "reducers.BaseReducer.unrelated" not in got


def test_folders_without_init_are_imported_by_their_path():
    # a research repository without __init__.py files runs from its root: `from
    # losses.distances import Euclid` names losses/distances.py, whose module name is only
    # `distances` (the first folder that is no package ends the name)
    files = {"repo/losses/distances.py": """
        import torch

        class Euclid(torch.nn.Module):
            def forward(self, a, b):
                return torch.cdist(a, b)
        """, "repo/losses/triplet.py": """
        import torch
        from losses.distances import Euclid

        class TripletLoss(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.distance = Euclid()

            def forward(self, a, p, n):
                return torch.relu(self.distance(a, p) - self.distance(a, n) + 0.2).mean()
        """, "repo/other/metrics.py": """
        def unrelated(x):
            return abs(x)
        """}
    indexes = [index_source(textwrap.dedent(src), path, path.rsplit("/", 1)[1][:-3]) for path, src in files.items()]
    got = {q for qs in loss_scope(indexes).values() for q in qs}
    assert "distances.Euclid.forward" in got and "metrics.unrelated" not in got


def test_a_path_alias_never_picks_one_of_two_files_sharing_a_module_name():
    # losses/utils.py and models/utils.py outside packages are both module `utils`, and share
    # qualified names: `from losses.utils import reduce` must not pull the model's into scope
    files = {"repo/losses/utils.py": """
        def reduce(x):
            return x.mean()
        """, "repo/models/utils.py": """
        import torch

        def reduce(x):
            return torch.relu(x).sum()
        """, "repo/losses/triplet.py": """
        import torch
        from losses.utils import reduce

        class TripletLoss(torch.nn.Module):
            def forward(self, a, p):
                return reduce((a - p) ** 2)
        """}
    indexes = [index_source(textwrap.dedent(src), path, path.rsplit("/", 1)[1][:-3]) for path, src in files.items()]
    got = {q for qs in loss_scope(indexes).values() for q in qs}
    assert "utils.reduce" not in got


def test_a_local_from_a_factory_and_an_annotated_parameter():
    got = scoped({"m": """
        class Dist:
            def pairwise(self, a):
                return a

            def other(self, a):
                return a

        def make_distance():
            return Dist()

        def loss_local(a):
            d = make_distance()
            return d.pairwise(a)

        def loss_param(dist: "Dist", a):
            return dist.other(a)
        """})
    assert {"m.Dist.pairwise", "m.Dist.other"} <= got


def test_a_network_a_loss_builds_comes_in_but_one_it_is_handed_stays_out():
    # a perceptual loss's own feature extractor is on the path from the prediction to the
    # loss (LABELS.md rule 2); the user's model handed to a loss is not loss code
    got = scoped({"m": """
        from torch import nn

        class Encoder(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)

            def forward(self, x):
                return self.fc(x).relu()

        class Net(nn.Module):  # holds a network: a network too
            def __init__(self):
                super().__init__()
                self.encoder = Encoder()

            def forward(self, x):
                return self.encoder(x)

        class SSIM(nn.Module):  # no layers: a metric
            def forward(self, a, b):
                return (a * b).mean()

        class PerceptualLoss(nn.Module):
            def __init__(self, model):
                super().__init__()
                self.encoder, self.ssim = Encoder(), SSIM()
                self.model = model

            def forward(self, a, b):
                return self.encoder(a).sum() + self.model(b).sum() + 1 - self.ssim(a, b)

        def build():
            return PerceptualLoss(Net())
        """})
    assert "m.SSIM.forward" in got and "m.Encoder.forward" in got
    assert "m.Net.forward" not in got
    assert "m.Encoder.forward" in scoped({"m": """
        from torch import nn

        class Encoder(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)

            def forward(self, x):
                return self.fc(x)
        """}, scope="model")


# -- values: partial, stored and passed functions, lambdas, tables, parameters --------------


def test_partial_stored_tabled_and_passed_functions():
    got = scoped({"m": """
        import functools

        def a(p, t): return p
        def b(p, t): return p
        def c(p, t): return p
        def d(p, t): return p
        def e(p, t): return p
        def never(p, t): return p

        class Wrapper:
            def __init__(self, metric):
                self.metric = metric
                self.pair = functools.partial(a, beta=1)
                self.table = {"b": b, "c": c}

            def __call__(self, p, t, k):
                return self.metric(p, t) + self.pair(p, t) + self.table[k](p, t)

        def run(loss_fn, p, t):
            return loss_fn(p, t)

        def main(p, t):
            w = Wrapper(d)
            w(p, t, "b").backward()
            run(e, p, t)
            return never
        """})
    assert {"m.a", "m.b", "m.c", "m.d", "m.e", "m.Wrapper.__call__"} <= got
    assert "m.never" not in got and "m.main" not in got and f"m.main{SLICE}" in got


def test_functions_from_another_module_through_a_parameter():
    got = scoped({
        "pkg.train": """
            def fit(model, data, criterion):
                for x, y in data:
                    criterion(model(x), y).backward()
            """,
        "pkg.main": """
            from pkg.train import fit
            from pkg.metrics import dice

            def main(model, data):
                fit(model, data, dice)
            """,
        "pkg.metrics": """
            def dice(p, t):
                return p

            def iou(p, t):
                return p
            """,
    })
    assert "pkg.metrics.dice" in got and "pkg.metrics.iou" not in got


def test_a_function_handed_to_the_base_class_through_super():
    got = scoped({
        "sims": """
            def cos_sim(a, b): return a
            def angle_sim(a, b): return a
            def dot_sim(a, b): return a
            """,
        "losses": """
            import sims

            class RankLoss:
                def __init__(self, model, similarity_fct=sims.cos_sim):
                    self.similarity_fct = similarity_fct

                def forward(self, a, b):
                    return self.similarity_fct(a, b)

            class AngleLoss(RankLoss):
                def __init__(self, model):
                    super().__init__(model, similarity_fct=sims.angle_sim)
            """,
    })
    assert {"sims.cos_sim", "sims.angle_sim"} <= got and "sims.dot_sim" not in got


def test_a_class_of_callables_is_a_table():
    got = scoped({"m": """
        import torch.nn.functional as F

        class DistanceMetric:
            EUCLIDEAN = lambda x, y: F.pairwise_distance(x, y, p=2)
            MANHATTAN = lambda x, y: F.pairwise_distance(x, y, p=1)
            COSINE = lambda x, y: 1 - F.cosine_similarity(x, y)

        class Single:
            ONLY = lambda x: x

        class ContrastiveLoss:
            def __init__(self, distance_metric=DistanceMetric.COSINE):
                self.distance_metric = distance_metric

            def forward(self, a, b):
                return self.distance_metric(a, b)
        """})
    # the default picks one entry; a caller may pick any
    assert {"m.<lambda:EUCLIDEAN>", "m.<lambda:MANHATTAN>", "m.<lambda:COSINE>"} <= got
    assert "m.<lambda:ONLY>" not in got


def test_class_level_metadata_is_not_a_table_for_instance_attributes():
    got = scoped({"m": """
        class Block:
            def __call__(self, x): return x

        class Attn:
            def __call__(self, x): return x

        class Quantizer:
            def __call__(self, x): return x

        class VQModel:
            records = {"hidden": Block, "attn": Attn}  # class-level metadata
            config_class = Block

            def __init__(self):
                self.quantize = Quantizer()

            def compute_loss(self, x):
                return self.quantize(x)
        """})
    assert "m.Quantizer.__call__" in got
    assert "m.Block.__call__" not in got and "m.Attn.__call__" not in got


def test_lambdas_bound_to_loss_like_names_and_called_from_loss_code():
    got = scoped({"m": """
        criterion = lambda p, t: abs(p - t)
        scale = lambda v: v * 2
        helper = lambda v: v + 1

        def loss(p):
            return helper(p)
        """})
    assert {"m.<lambda:criterion>", "m.<lambda:helper>"} <= got
    assert "m.<lambda:scale>" not in got


def test_the_functions_of_a_loss_package_whatever_their_names():
    # pytorch3d's `loss/`, kornia's `losses/`: `edge_smoothness` and `chamfer_distance` are losses
    tv = """
        import torch

        def edge_smoothness(img):
            return torch.abs(img[..., 1:] - img[..., :-1]).sum()

        class Accuracy:
            def __call__(self, pred, target):
                return (pred.argmax(1) == target).float().mean()
        """
    got = scoped({"pkg.losses.tv": tv, "pkg.loss.chamfer": tv, "pkg.losses": tv, "pkg.utils.loss": tv,
                  "pkg.metrics.tv": tv})
    # ... and so is a package's `losses` module (selfsup's `losses.py` beside its `functional.py`)
    assert {"pkg.losses.tv.edge_smoothness", "pkg.loss.chamfer.edge_smoothness", "pkg.losses.edge_smoothness"} <= got
    # a lone `loss.py` may hold a script's reporting; a class is judged by its own name
    assert not {"pkg.utils.loss.edge_smoothness", "pkg.metrics.tv.edge_smoothness",
                "pkg.losses.tv.Accuracy.__call__"} & got
    # only array code: a `losses/` package's config helpers are plain Python
    assert scoped({"pkg.losses.names": "def names(x):\n    return x\n"}) == set()


def test_the_modules_of_a_loss_package_whatever_their_names():
    # asteroid's `losses/pmsqe.py`: `SingleSrcPMSQE(nn.Module)` is a loss though its name does not
    # say so; its helpers (`loudness`) are loss code as much as its forward
    pmsqe = """
        import torch
        from torch import nn

        class PMSQE(nn.Module):
            def forward(self, est, ref):
                return self.loudness(est).sum()

            def loudness(self, spectra):
                return torch.abs(spectra)

        class Tally:
            def update(self, x):
                return (x > 0).sum()
        """
    got = scoped({"pkg.losses.pmsqe": pmsqe, "pkg.models.pmsqe": pmsqe, "pkg.nnet.losses": pmsqe})
    # a module class in a lone `losses.py` too (speechbrain's `nnet/losses.py` AngularMargin):
    # unlike a plain function, nobody keeps a model's layers there
    assert {"pkg.losses.pmsqe.PMSQE.forward", "pkg.losses.pmsqe.PMSQE.loudness",
            "pkg.nnet.losses.PMSQE.loudness"} <= got
    # a network elsewhere, or a plain class kept with the losses, is not
    assert not {"pkg.models.pmsqe.PMSQE.forward", "pkg.losses.pmsqe.Tally.update",
                "pkg.nnet.losses.Tally.update"} & got


def test_the_costs_module_of_a_planner_or_a_transport_problem():
    # diffmpc's `costs.py`: the stage, barrier and terminal costs a solver differentiates are
    # handed to it by its users, so no call in the package reaches them; the module says what
    # they are, as a `losses.py` does. A lone `cost.py` (botorch's cost models) does not
    costs = """
        import jax.numpy as jnp

        def obstacle_cost(x, center, radius):
            return jnp.maximum(radius - jnp.linalg.norm(x - center), 0.0)
        """
    # a NumPy service's `costs.py` (latency, money) differentiates nothing
    serving = """
        import numpy as np

        def latency_cost(t, budget):
            return np.maximum(t - budget, 0.0)
        """
    got = scoped({"pkg.costs": costs, "pkg.models.cost": costs, "pkg.geometry.costs": costs, "svc.costs": serving})
    assert {"pkg.costs.obstacle_cost", "pkg.geometry.costs.obstacle_cost"} <= got
    assert not {"pkg.models.cost.obstacle_cost", "svc.costs.latency_cost"} & got


def test_the_log_density_of_a_distribution_or_a_bijector():
    # training differentiates `-dist.log_prob(y).mean()` and reparameterized draws, and a flow's
    # transforms and log-Jacobians; a distribution's summaries, and a log_prob of a class that
    # is no distribution, are not loss code by themselves
    src = """
        import torch
        from torch.distributions import Distribution, Transform, constraints

        class SoftLaplace(Distribution):
            arg_constraints = {"scale": constraints.positive}

            def log_prob(self, value):
                return -torch.abs(value - self.loc) / self.scale

            def rsample(self, sample_shape=torch.Size()):
                return self.loc + self.scale * torch.randn(sample_shape)

            @property
            def mean(self):
                return self.loc

        class Wrapped(SoftLaplace):
            def log_prob(self, value):
                return super().log_prob(value) + 1

        class Power(Transform):
            def _call(self, x):
                return x.abs().pow(self.exponent)

            def log_abs_det_jacobian(self, x, y):
                return (y / x).log()

        class Tally:
            def log_prob(self, value):
                return value.abs()
        """
    got = scoped({"pkg.dist": src})
    assert {"pkg.dist.SoftLaplace.log_prob", "pkg.dist.SoftLaplace.rsample", "pkg.dist.Wrapped.log_prob",
            "pkg.dist.Power._call", "pkg.dist.Power.log_abs_det_jacobian"} <= got
    assert not {"pkg.dist.SoftLaplace.mean", "pkg.dist.Tally.log_prob"} & got


def test_numpy_metrics_beside_framework_losses_are_evaluation_code():
    # neuralforecast's `losses/numpy.py` next to `losses/pytorch.py`: training differentiates
    # through torch, so the numpy `mae` is an evaluation metric, unless torch code calls it
    numpy_metrics = """
        import numpy as np

        def mae(y, y_hat):
            return np.mean(np.abs(y - y_hat))

        def rmse(y, y_hat):
            return np.sqrt(np.mean((y - y_hat) ** 2))

        class MAPELoss:
            def __call__(self, y, y_hat):
                return np.mean(np.abs(y - y_hat) / np.abs(y))

        def grad(w, x, y):
            return x.T @ np.sign(x @ w - y)
        """
    torch_losses = """
        import torch
        from pkg.losses.numpy import rmse

        def mae(y, y_hat):
            return torch.abs(y - y_hat).mean()

        def reported_loss(y, y_hat):
            return torch.abs(y - y_hat).mean() + rmse(y, y_hat)
        """
    got = scoped({"pkg.losses.numpy": numpy_metrics, "pkg.losses.pytorch": torch_losses})
    assert {"pkg.losses.pytorch.mae", "pkg.losses.pytorch.reported_loss", "pkg.losses.numpy.rmse",
            "pkg.losses.numpy.grad"} <= got  # called from torch loss code / a hand-written gradient
    assert not {"pkg.losses.numpy.mae", "pkg.losses.numpy.MAPELoss.__call__"} & got
    # a numpy-only package trains with numpy: its losses are loss code
    alone = scoped({"pkg.losses.numpy": numpy_metrics})
    assert {"pkg.losses.numpy.mae", "pkg.losses.numpy.MAPELoss.__call__"} <= alone


def test_an_instance_bound_to_a_name_then_backward():
    got = scoped({"m": """
        class Margin:
            def __call__(self, p, t):
                return p - t

        objective = Margin()

        def train_step(model, x, y):
            objective(model(x), y).backward()
        """})
    assert "m.Margin.__call__" in got and f"m.train_step{SLICE}" in got


def test_backward_of_a_name_bound_to_an_imported_loss_call():
    # `loss = F.smooth_l1_loss(...)`: resolving `loss.backward` looks through an import on the
    # way and finds nothing; that is still a tensor's backward (a DQN's training step)
    got = scoped({"m": """
        from torch.nn import functional as F

        class DQN:
            def train(self, batch):
                loss = F.smooth_l1_loss(self.q_net(batch.obs), batch.target)
                loss.backward()
        """})
    assert f"m.DQN.train{SLICE}" in got


def test_backward_of_what_a_criterion_object_returns():
    # `loss = criterion(out, y)` holds what the criterion's forward returns, not another
    # criterion: `loss.backward()` is a tensor's backward, not a method of the loss class
    got = scoped({"m": """
        import torch
        from torch import nn

        class MyLoss(nn.Module):
            def forward(self, x, y):
                return (x - y).abs().mean()

        def train(model, x, y):
            criterion = MyLoss()
            loss = criterion(torch.relu(model(x)), y)
            loss.backward()

        class Trainer:
            def __init__(self):
                self.criterion = MyLoss()

            def step(self, model, x, y):
                loss = self.criterion(model(x), y)
                loss.backward()

        class Tensorish:
            def backward(self):
                return None

        def not_a_tensor():
            obj = Tensorish()
            obj.backward()
        """})
    assert {f"m.train{SLICE}", f"m.Trainer.step{SLICE}", "m.MyLoss.forward"} <= got
    assert f"m.not_a_tensor{SLICE}" not in got


def test_a_passed_model_is_not_loss_code():
    got = scoped({"m": """
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(2, 2)

            def forward(self, x):
                return self.fc(x)

        def compute_loss(model, x, y):
            return (model(x) - y).abs().mean()

        def main(x, y):
            return compute_loss(Net(), x, y)
        """})
    assert "m.compute_loss" in got and "m.Net.forward" not in got


# -- loss classes ---------------------------------------------------------------------------


@pytest.mark.parametrize("header", [
    "class FocalLoss:",
    "class SpreadRegularizer:",
    "class Dice(torch.nn.modules.loss._Loss):",
    "class LossWrapper(torch.nn.Module):",
    "class Base(BaseFocalLoss):",
])
def test_every_method_of_a_loss_class(header):
    got = scoped({"m": f"""
        import torch

        class BaseFocalLoss(torch.nn.Module):
            def forward(self, x):
                return x

        class Elsewhere(torch.nn.Module):
            def forward(self, x):
                return x

        {header}
            def __init__(self):
                self.g = 2

            def compute_loss(self, x):
                return x

            def _reduce(self, x):
                return x

            def _get_weights(self, x):
                return x

            def __repr__(self):
                return "loss"
        """})
    cls = header.split()[1].split("(")[0].rstrip(":")
    assert {f"m.{cls}.compute_loss", f"m.{cls}._reduce", f"m.{cls}._get_weights"} <= got
    assert f"m.{cls}.__init__" not in got and f"m.{cls}.__repr__" not in got
    if cls == "Base":  # its base is the loss-named one: everything the class inherits too
        assert "m.BaseFocalLoss.forward" in got


def test_a_class_whose_forward_is_marked_and_inherited_methods_from_another_module():
    got = scoped({
        "base": """
            class Weighted:
                def _normalize(self, x):
                    return x

            class Unrelated:
                def _normalize(self, x):
                    return x
            """,
        "loss": """
            from base import Weighted

            class Focal(Weighted):
                def forward(self, x):  # kinkcheck: loss
                    return x

                def helper(self, x):
                    return x
            """,
    })
    assert {"loss.Focal.forward", "loss.Focal.helper", "base.Weighted._normalize"} <= got
    assert "base.Unrelated._normalize" not in got


def test_plain_classes_are_not_loss_classes():
    got = scoped({"m": """
        import torch

        class Scorer(torch.nn.Module):
            def compute(self, x):
                return x

        class Lossless:
            def compute(self, x):
                return x

        class GlossEmbedding(torch.nn.Module):  # "loss" inside a word is not a loss
            def compute(self, x):
                return x
        """})
    assert got == set()


def test_a_module_whose_forward_returns_its_loss():
    """A constraint module's ``forward`` computes ``loss = torch.mean(penalty)`` and returns
    it with the values it came from: what computes them is a backward slice (the ``print`` is
    not), whatever the class is called; a forward that returns no loss-named value, a
    ``loss`` history of a training loop and a loss inside an output object stay out."""
    got = scoped({"m": """
        import torch
        import torch.nn.functional as F

        class LT(torch.nn.Module):
            def forward(self, left, right):
                value = left - right
                penalty = F.relu(value)
                print(value.max().item())
                loss = torch.mean(penalty)
                return loss, value, penalty

        class Head(torch.nn.Module):
            def forward(self, x):
                return F.relu(x)

        def fit(model, batches):
            losses = []
            for x in batches:
                losses.append(model(x).item())
            return losses

        class LM(torch.nn.Module):
            def forward(self, x, labels):
                logits = self.head(x)
                loss = F.cross_entropy(logits, labels)
                return Output(loss=loss, logits=logits)
        """})
    assert got == {"m.LT.forward" + SLICE}


def test_a_module_whose_forward_reduces_to_one_number():
    """A module whose every return is a whole reduction (``torch.mean(...)``, ``x.sum() / 2``)
    computes one number from its inputs, as a loss does (AFN's feature-norm loss is a plain
    ``nn.Module``): its statements are a backward slice. A reduction over an axis, one
    number broadcast against an array and an evaluation score's mean stay out."""
    got = scoped({"m": """
        import torch

        class AdaptiveFeatureNorm(torch.nn.Module):
            def forward(self, x):
                norm = x.norm(p=2, dim=1)
                return torch.mean((norm - norm.detach() - 1.0) ** 2)

        class Energy(torch.nn.Module):
            def forward(self, r):
                return self.scale * (1.0 / r).sum() / 2

        class Pool(torch.nn.Module):
            def forward(self, x):
                return x.mean(dim=(2, 3))

        class Centre(torch.nn.Module):
            def forward(self, x):
                return x - x.mean()

        class TopAccuracy(torch.nn.Module):
            def forward(self, logits, y):
                return (logits.argmax(1) == y).float().mean()
        """})
    assert got == {"m.AdaptiveFeatureNorm.forward" + SLICE, "m.Energy.forward" + SLICE}


# -- helpers in other modules ---------------------------------------------------------------


def test_helpers_in_other_modules_through_re_exports_and_star_imports():
    tree = {
        "pkg.colour": """
            def _linearize(c):
                return c

            def rgb_to_lab(c):
                return _linearize(c)
            """,
        "pkg.functional": """
            from pkg.colour import rgb_to_lab
            from pkg.grads import *
            """,
        "pkg.grads": """
            def gradient_map(x):
                return x
            """,
        "pkg.metric": """
            import pkg.functional as F

            def delta_e(a, b):
                return F.rgb_to_lab(a) - F.gradient_map(b)
            """,
        "pkg.loss": """
            from pkg.metric import delta_e

            class ColourLoss:
                def forward(self, a, b):
                    return delta_e(a, b)
            """,
    }
    got = scoped(tree)
    # three calls deep (forward -> delta_e -> rgb_to_lab -> _linearize) is inside max_depth=3
    assert {"pkg.metric.delta_e", "pkg.colour.rgb_to_lab", "pkg.colour._linearize", "pkg.grads.gradient_map"} <= got
    assert "pkg.colour._linearize" not in scoped(tree, max_depth=2)


def test_following_a_value_does_not_use_up_depth_but_each_call_does():
    tree = {"m": """
        class SSIM:
            def __call__(self, a, b):
                return self._ssim(a, b)

            def _ssim(self, a, b):
                return self._window(a) * b

            def _window(self, a):
                return a

        def get_metric():
            return METRICS["ssim"]

        METRICS = {"ssim": SSIM()}

        class ImageLoss:
            def __init__(self):
                self.metric = get_metric()

            def forward(self, a, b):
                return 1 - self.metric(a, b)
        """}
    # forward (0) -> SSIM.__call__ (1, through an attribute, a factory and a table)
    # -> _ssim (2) -> _window (3)
    assert {"m.SSIM.__call__", "m.SSIM._ssim", "m.SSIM._window"} <= scoped(tree)
    assert "m.SSIM._window" not in scoped(tree, max_depth=2)


def test_a_helper_only_reported_beside_the_loss_is_not_followed():
    # a PPO loss puts the explained variance of its value head in the metrics it returns beside
    # the loss; the helper lives in another module and computes no term of the loss. The same
    # helper called for a term (here by a second loss) is loss code again
    helpers = """
        import jax.numpy as jnp

        def explained_variance(predictions, targets):
            return 1.0 - jnp.var(targets - predictions) / jnp.var(targets)

        def masked_mean(x, mask):
            return jnp.sum(x * mask) / jnp.maximum(jnp.sum(mask), 1.0)
        """
    losses = """
        import jax
        from pkg.utils import explained_variance, masked_mean

        def ppo_loss(values, returns, mask):
            value_loss = masked_mean((values - returns) ** 2, mask)
            metrics = {"value_loss": value_loss, "explained_variance": explained_variance(values, returns)}
            return value_loss, jax.lax.stop_gradient(metrics)
        """
    got = scoped({"pkg.utils": helpers, "pkg.losses": losses})
    assert {"pkg.losses.ppo_loss", "pkg.utils.masked_mean"} <= got
    assert "pkg.utils.explained_variance" not in got
    trained = losses + """
        def calibration_loss(values, returns):
            return -explained_variance(values, returns)
        """
    assert "pkg.utils.explained_variance" in scoped({"pkg.utils": helpers, "pkg.losses": trained})
    # a record read back into the loss, or returned uncut for the caller to read, is no report
    read_back = losses.replace('return value_loss, jax.lax.stop_gradient(metrics)',
                               'return value_loss + metrics["explained_variance"], metrics')
    assert "pkg.utils.explained_variance" in scoped({"pkg.utils": helpers, "pkg.losses": read_back})
    uncut = losses.replace("jax.lax.stop_gradient(metrics)", "metrics")
    assert "pkg.utils.explained_variance" in scoped({"pkg.utils": helpers, "pkg.losses": uncut})


# -- hand-written derivatives and differentiating transforms --------------------------------


def test_hand_written_gradients_in_array_code():
    got = scoped({"m": """
        import numpy as np
        import torch

        def grad(w, X, y): return X
        def hinge_grad(w): return w
        def grad_w(w): return w
        def jacobian(x): return x
        def hessian(x): return x
        def zero_grad(p): return p
        def no_grad(p): return p
        def average_grad(p): return p
        def apply_if_grad(p): return p
        def gradient_map(x): return x
        def conjugate_gradient(hvp, b): return b

        class Clamp(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x

            @staticmethod
            def backward(ctx, g):
                return g
        """})
    assert {"m.grad", "m.hinge_grad", "m.grad_w", "m.jacobian", "m.hessian", "m.Clamp.backward"} <= got
    assert "m.Clamp.forward" not in got  # runs with gradients off: the backward is the gradient
    assert not {"m.zero_grad", "m.no_grad", "m.average_grad", "m.apply_if_grad", "m.gradient_map",
                "m.conjugate_gradient"} & got  # a linear solver
    # in a file that imports no array library, a function named `grad` is something else
    assert scoped({"m": "def grad(x):\n    return x\n"}) == set()


def test_an_autograd_function_defined_elsewhere_runs_through_apply():
    got = scoped({
        "ops": """
            import torch

            class Base(torch.autograd.Function):
                pass
            """,
        "fns": """
            from ops import Base

            class Round(Base):
                @staticmethod
                def forward(ctx, x):
                    return x

                @staticmethod
                def backward(ctx, g):
                    return g
            """,
    })
    assert "fns.Round.backward" in got and "fns.Round.forward" not in got


@pytest.mark.parametrize("call", [
    "jax.jit(jax.grad(f))",
    "jax.vmap(jax.grad(f))",
    "jax.value_and_grad(functools.partial(f, k=1))",
    "jax.lax.custom_root(f, x0, solve, solve)",
    "optax.value_and_grad_from_state(f)",
    "torch.autograd.functional.jacobian(f, x0)",
    "jaxopt.LBFGS(fun=f)",
    "scipy.optimize.minimize(f, x0, jac=g)",
])
def test_functions_handed_to_differentiating_calls(call):
    got = scoped({"m": f"""
        import functools
        import jax, jaxopt, optax, scipy.optimize, torch

        def f(x): return x
        def g(x): return x
        def solve(h, x): return x
        def other(x): return x

        x0 = 0.0
        result = {call}
        """})
    assert "m.f" in got and "m.other" not in got


def test_custom_vjp_rules_are_roots():
    got = scoped({"m": """
        import jax

        @jax.custom_vjp
        def clip(x): return x
        def clip_fwd(x): return x, x
        def clip_bwd(r, g): return (g,)
        def unrelated(x): return x

        clip.defvjp(clip_fwd, clip_bwd)
        """})
    assert {"m.clip", "m.clip_fwd", "m.clip_bwd"} <= got and "m.unrelated" not in got


# -- what does not change --------------------------------------------------------------------


def test_all_scope_is_every_function_and_no_lambda_twice():
    src = """
        criterion = lambda p, t: p - t

        def plain(x):
            return sorted(x, key=lambda v: v)
        """
    indexes = [index_source(textwrap.dedent(src), "m.py", "m")]
    assert loss_scope(indexes, scope="all") == {"m.py": frozenset({"m.<module>", "m.plain"})}


def test_all_scope_checks_a_numpy_only_module_where_it_is_differentiated():
    # NumPy has no autodiff: an evaluation metric is never differentiated; a hand-written
    # gradient and an objective handed to scipy are. A torch module is checked whole.
    indexes = [index_source(textwrap.dedent(src), f"{name}.py", name) for name, src in {
        "metrics": """
            import numpy as np
            from scipy.optimize import minimize

            def mae(y, y_hat):
                return np.mean(np.abs(y - y_hat))

            def hinge_grad(w, x, y):
                return np.where(y * (x @ w) < 1, -y * x, 0)

            def objective(w):
                return np.abs(w).sum()

            def fit(w0):
                return minimize(objective, w0)

            def soft_threshold(x, t):
                return np.sign(x) * np.maximum(np.abs(x) - t, 0.0)

            def project_simplex(v):
                u = np.sort(v)[::-1]
                return np.maximum(v - (np.cumsum(u) - 1).max() / len(v), 0.0)

            def projected_area(polygon):
                return 0.5 * np.abs(np.cross(polygon[:-1], polygon[1:]).sum())

            def project_points(points, k):
                x = points @ k.T
                return x[:, :2] / x[:, 2:3]
            """,
        "net": """
            import torch

            def mae(y, y_hat):
                return (y - y_hat).abs().mean()
            """}.items()]
    got = loss_scope(indexes, scope="all")
    assert not {"metrics.mae", "metrics.projected_area", "metrics.project_points"} & got["metrics.py"]
    # a proximal operator or a projection steps through the kinks of a nonsmooth objective
    assert {"metrics.hinge_grad", "metrics.objective", "metrics.soft_threshold",
            "metrics.project_simplex"} <= got["metrics.py"]
    assert "net.mae" in got["net.py"]


def test_all_scope_checks_a_numpy_module_that_takes_its_namespace_from_the_arrays_whole():
    # POT's `nx = get_backend(x, y)` computes in torch or JAX when handed their tensors, and
    # users differentiate through it (a 1-D Wasserstein loss): every function is checked. A
    # host library's array API support (scikit-learn's get_namespace) is still numpy code.
    indexes = [index_source(textwrap.dedent(src), f"{module.replace('.', '/')}.py", module)
               for module, src in {
        "ot.lp.solver_1d": """
            import numpy as np
            from ..backend import get_backend

            def wasserstein_1d(u, v):
                nx = get_backend(u, v)
                return nx.sum(nx.abs(nx.sort(u, 0) - nx.sort(v, 0)), axis=0)
            """,
        "sklearn.metrics.regression": """
            import numpy as np
            from ..utils._array_api import get_namespace

            def mean_absolute_error(y, y_hat):
                xp, _ = get_namespace(y, y_hat)
                return xp.mean(xp.abs(y - y_hat))
            """}.items()]
    got = loss_scope(indexes, scope="all")
    assert "ot.lp.solver_1d.wasserstein_1d" in got["ot/lp/solver_1d.py"]
    assert "sklearn.metrics.regression.mean_absolute_error" not in got["sklearn/metrics/regression.py"]


def test_all_scope_leaves_out_the_rest_of_a_jax_training_step():
    """A JAX step that hands a closure to jax.grad & co. and applies the gradient computes the rest
    (the TD target from the target network, logging) as constants of that gradient: ``--all``
    checks the closure only. A function that returns a derivative it takes is differentiated
    through by its callers, and so is a step that loss code calls; torch differentiates anything."""
    modules = {
        "agent": """
            import jax
            import jax.numpy as jnp
            import optax

            @jax.jit
            def update_critic(state, target_params, obs, next_obs, rewards):
                next_q = jnp.min(state.apply_fn(target_params, next_obs), axis=0)
                target = rewards + 0.99 * next_q

                def mse_loss(params):
                    return jnp.mean(jnp.abs(state.apply_fn(params, obs) - target))

                loss, grads = jax.value_and_grad(mse_loss)(state.params)
                return state.apply_gradients(grads=grads), loss

            def sgd_step(params, opt_state, tx, x, y):
                def loss_fn(p):
                    return jnp.mean(jnp.abs(x @ p - jnp.maximum(y, 0.0)))

                updates, opt_state = tx.update(jax.grad(loss_fn)(params), opt_state, params)
                return optax.apply_updates(params, updates), opt_state

            def curvature(f, x):
                def g(y):
                    return jnp.sum(jax.grad(f)(y))

                return jnp.sqrt(jax.grad(g)(x))

            def inner_update(params, x):
                def inner_loss(p):
                    return jnp.sum(jnp.abs(x @ p))

                return optax.apply_updates(params, jax.grad(inner_loss)(params))

            def meta_loss(params, x):
                return jnp.sum(inner_update(params, x) ** 2)
            """,
        "torch_step": """
            import jax
            import torch

            def step(model, x):
                def closure(p):
                    return p.sum()

                g = jax.grad(closure)(x)
                return model(x).abs().mean() + optax.apply_updates(g, g)
            """}
    indexes = [index_source(textwrap.dedent(src), f"{name}.py", name) for name, src in modules.items()]
    got = loss_scope(indexes, scope="all")
    assert {"agent.update_critic", "agent.sgd_step"}.isdisjoint(got["agent.py"])
    assert {"agent.update_critic.mse_loss", "agent.sgd_step.loss_fn", "agent.curvature", "agent.curvature.g",
            "agent.inner_update", "agent.meta_loss"} <= got["agent.py"]
    assert "torch_step.step" in got["torch_step.py"]


def test_all_scope_leaves_out_classification_scores_no_loss_calls():
    """An accuracy, F-score, recall or AUC has slope 0 wherever it has one: ``--all`` leaves its
    argmax and thresholds out (and the methods of a class named after one, and the closure a
    metric layer returns), unless loss code calls it. A soft F1 loss is a loss; a precision
    matrix is no score."""
    got = scoped({"m": """
        import jax.numpy as jnp
        import torch

        def accuracy(logits, labels):
            return (logits.argmax(-1) == labels).float().mean()

        def top5_accuracy(logits, labels):
            return (logits.topk(5).indices == labels[:, None]).any(-1).float().mean()

        def CategoryAccuracy():
            def f(model_output, targets):
                return jnp.equal(jnp.argmax(model_output, axis=-1), targets)
            return f

        class BinaryRecall:
            def __call__(self, pred, target):
                return ((pred.round() == 1) & (target == 1)).sum() / (target == 1).sum()

        def gated_loss(logits, labels):
            ok = accuracy(logits, labels) > 0.5
            return torch.nn.functional.cross_entropy(logits, labels) * ok

        def soft_f1_loss(probs, target):
            tp = (probs * target).sum()
            return 1 - 2 * tp / (probs.sum() + target.sum())

        def posterior_precision(cov):
            return torch.linalg.inv(cov)
        """}, scope="all")
    assert {"m.top5_accuracy", "m.CategoryAccuracy", "m.CategoryAccuracy.f", "m.BinaryRecall.__call__"}.isdisjoint(got)
    assert {"m.accuracy", "m.gated_loss", "m.soft_f1_loss", "m.posterior_precision"} <= got


def test_a_cycle_of_values_terminates():
    got = scoped({"m": """
        def loss(p):
            f = g
            g = f
            return f(p) + table["x"](p)

        table = {}
        table["x"] = table["y"] = table
        """})
    assert got == {"m.loss"}


def test_a_losses_package_helper_that_only_constructors_call_is_setup():
    # neuralforecast's `quantiles_to_outputs(quantiles)`: loss classes call it in `__init__` to
    # name their outputs; a helper the constructor stores (`self.decouple = decouple`) runs later
    got = scoped({"pkg.losses.quantile": """
        import torch

        def quantiles_to_outputs(quantiles):
            return [f"q-{round(q * 100)}" for q in quantiles if q < 0.5]

        def decouple(output, eps=1e-3):
            return torch.abs(output) + eps

        def pinball(y, y_hat, q):
            return torch.maximum(q * (y - y_hat), (q - 1) * (y - y_hat)).mean()

        class MQLoss:
            def __init__(self, quantiles):
                self.names = quantiles_to_outputs(quantiles)
                self.decouple = decouple

            def __call__(self, y, y_hat):
                return pinball(y, self.decouple(y_hat), 0.5)
        """})
    assert {"pkg.losses.quantile.decouple", "pkg.losses.quantile.pinball", "pkg.losses.quantile.MQLoss.__call__"} <= got
    assert "pkg.losses.quantile.quantiles_to_outputs" not in got

