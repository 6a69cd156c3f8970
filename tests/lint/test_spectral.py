"""KC208 (kinkcheck/lint/checks/spectral.py): which decompositions and matrix norms in loss
code are sites. Values whose vectors are thrown away read like svdvals, squared singular
values have no kink at 0, a positive diagonal jitter guards values and cholesky but never
singular vectors, and only nuclear and (certainly matrix) spectral norms are KC208's."""

from __future__ import annotations

import textwrap

import pytest

from kinkcheck import catalog
from kinkcheck.lint.api import check_source

CODES = frozenset(catalog.load())


def sites(body: str, imports: str = "import torch\nimport torch.nn.functional as F", params: str = "z, x, w, eps=1e-6") -> list[str]:
    """The source of every KC208 site in a loss function with ``body``."""
    source = f"{imports}\n\n\ndef loss({params}):\n" + textwrap.indent(textwrap.dedent(body), "    ")
    lines = source.splitlines()
    return [lines[f.line - 1][f.col - 1:f.end_col - 1]
            for f in check_source(source, "m.py", module="m", codes=CODES) if f.code == "KC208"]


@pytest.mark.parametrize("body", [
    "return -torch.linalg.svdvals(z).sum()",
    "_, s, _ = torch.linalg.svd(z)\nreturn s.sum()",
    "return torch.linalg.svd(z).S.sum()",
    "u, s, vh = torch.linalg.svd(z)\nreturn s.sum()",
    "return torch.svd(z)[1].sum()",
    "return z.svd()[1].sum()",
    "return torch.linalg.eigvalsh(z.T @ z)[-1]",
    "return torch.linalg.cholesky(z.T @ z).diagonal().log().sum()",
])
def test_values_of_a_decomposition_are_sites(body):
    assert len(sites(body)) == 1


@pytest.mark.parametrize("body", [
    "return (torch.linalg.svdvals(z) ** 2).sum()",
    "return torch.linalg.svdvals(z).pow(2).sum()",
    "s = torch.linalg.svdvals(z)\nreturn torch.sqrt(s ** 2 + eps).sum()",
    "_, s, _ = torch.linalg.svd(z)\nreturn torch.square(s).sum()",
])
def test_squared_singular_values_are_smooth_at_zero(body):
    assert sites(body) == []


def test_a_square_of_some_uses_only_still_counts():
    assert len(sites("s = torch.linalg.svdvals(z)\nreturn (s ** 2).sum() + s.sum()")) == 1


@pytest.mark.parametrize("body,flagged", [
    ("return torch.linalg.cholesky(z.T @ z + eps * torch.eye(z.shape[1])).sum()", False),
    ("return torch.linalg.cholesky(z.T @ z + torch.eye(z.shape[1]) * 1e-4).sum()", False),
    ("c = z.T @ z + 1e-5 * torch.eye(3)\nreturn torch.linalg.svdvals(c).sum()", False),
    ("k = z @ z.T\nreturn torch.linalg.cholesky(k + F.softplus(x) * torch.eye(k.shape[0])).sum()", False),
    ("return torch.linalg.cholesky(z.T @ z + 0.0 * torch.eye(z.shape[1])).sum()", True),
    ("return torch.linalg.cholesky(z.T @ z + x * torch.eye(z.shape[1])).sum()", True),  # x may be 0
    ("return torch.linalg.cholesky(z.T @ z + eps).sum()", True),  # a constant added to every entry
    ("_, v = torch.linalg.eigh(z.T @ z + eps * torch.eye(3))\nreturn (z @ v).sum()", True),
    ("u, s, vh = torch.linalg.svd(z + eps * torch.eye(3))\nreturn s.sum()", False),
    ("u, s, vh = torch.linalg.svd(z + eps * torch.eye(3))\nreturn (s * u[0]).sum()", True),
])
def test_a_positive_diagonal_jitter_guards_values_but_not_vectors(body, flagged):
    assert bool(sites(body)) is flagged


def test_a_jitter_whose_eps_defaults_to_zero_is_none():
    body = "return torch.linalg.cholesky(z.T @ z + eps * torch.eye(3)).sum()"
    assert sites(body, params="z, eps=0.0") and not sites(body, params="z, eps=1e-4")


@pytest.mark.parametrize("call,flagged", [
    ('torch.linalg.matrix_norm(w, ord="nuc")', True),
    ("torch.linalg.matrix_norm(w, 2)", True),
    ("torch.linalg.matrix_norm(w, ord=-2)", True),
    ('torch.norm(w, p="nuc")', True),
    ('w.norm(p="nuc")', True),
    ('w.norm("nuc")', True),
    ("torch.linalg.norm(w, 2, dim=(0, 1))", True),
    ("torch.linalg.matrix_norm(w)", False),  # Frobenius: KC203's
    ('torch.linalg.matrix_norm(w, ord="fro")', False),
    ("torch.linalg.norm(w, ord=2)", False),  # a vector's 2-norm where w is a vector
    ("torch.norm(w, p=2)", False),
    ("w.norm(2)", False),
])
def test_nuclear_and_spectral_norms(call, flagged):
    assert sites(f"return {call}") == ([call] if flagged else [])


def test_values_only_by_keyword():
    imports = "import jax.numpy as jnp"
    assert sites("return (jnp.linalg.svd(w, compute_uv=False) ** 2).sum()", imports=imports) == []
    assert sites("return (jnp.linalg.svd(w)[0] ** 2).sum()", imports=imports) == ["jnp.linalg.svd(w)"]


def test_jax_and_numpy_spellings():
    assert sites("return jnp.linalg.norm(w, ord='nuc') + jsl.svd(w)[0].sum()",
                 imports="import jax.numpy as jnp\nimport jax.scipy.linalg as jsl") == \
        ["jnp.linalg.norm(w, ord='nuc')", "jsl.svd(w)"]


def test_decompositions_of_constants_and_outside_loss_code_are_not_sites():
    assert sites("return torch.linalg.svdvals(torch.eye(3)).sum() * z.sum()") == []
    assert sites("u, s, v = torch.linalg.svd(x.detach())\nreturn (z @ v).sum()") == []  # a detached target
    source = "import numpy as np\n\n\ndef principal_axes(points):\n    return np.linalg.eigh(np.cov(points.T))\n"
    assert [f for f in check_source(source, "m.py", module="m", codes=CODES) if f.code == "KC208"] == []


def categories(body: str, code: str) -> list[str]:
    source = f"import torch\n\n\ndef loss(z, x):\n" + textwrap.indent(textwrap.dedent(body), "    ")
    return [f.category for f in check_source(source, "m.py", module="m", codes=CODES) if f.code == code]


@pytest.mark.parametrize("body,category", [
    # the values alone are a cone at a zero or a tie, like |x|: a kink
    ("return torch.linalg.svdvals(z).sum()", "kink"),
    ("return torch.linalg.matrix_norm(z, ord='nuc')", "kink"),
    ("return torch.linalg.norm(z, 'nuc')", "kink"),
    ("return torch.linalg.eigvalsh(z.T @ z)[-1]", "kink"),
    # vectors carry 1/(s_i^2 - s_j^2), cholesky divides by its pivots: singular
    ("u, s, vh = torch.linalg.svd(z)\nreturn (u @ vh).sum()", "singular"),
    ("return torch.linalg.cholesky(z.T @ z).diagonal().log().sum()", "singular"),
])
def test_category_says_what_kind_of_point(body, category):
    assert categories(body, "KC208") == [category]


@pytest.mark.parametrize("body,category", [
    ("return (z - x).norm(p=1, dim=1).mean()", "kink"),
    ("return torch.norm(z - x, 1)", "kink"),
    ("return torch.nn.functional.pairwise_distance(z, x, p=1).mean()", "kink"),
    ("return (z - x).norm(dim=1).mean()", "singular"),
    ("return torch.cdist(z, x).mean()", "singular"),
])
def test_an_l1_norm_is_a_kink_a_2_norm_singular(body, category):
    assert categories(body, "KC203") == [category]


def test_a_nuclear_norm_by_position_is_one_site():
    codes = [f.code for f in check_source("import torch\n\n\ndef loss(z):\n    return torch.linalg.norm(z, 'nuc')\n",
                                          "m.py", module="m", codes=CODES)]
    assert codes == ["KC208"]
