"""Every Python and shell block of the README runs as written, in order, in a fresh project.

A block may be preceded by a marker comment:

- ``<!-- readme: skip, WHY -->``: not run (it installs packages, downloads, or runs this suite);
  the reason is required and shown here when the block is skipped.
- ``<!-- readme: setup NAME (what it provides) -->``: run after the named setup below, which
  provides what the block takes from its context (tensors, a model, two rank files).

The project is a temporary git repository holding a copy of ``examples/`` (and the same files
as ``src/``, the README's stand-in for a user's package), with an ``origin/main`` branch.
Each shell line runs on its own; a ``kinkcheck check`` line may exit 1 (kinks found), every
other line must exit 0. Blocks run in README order, so a block may use a file an earlier
block wrote (``run.trace.json``), as a reader following the README would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
RUNNABLE = ("python", "bash")

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Block:
    lang: str
    code: str
    line: int  # 1-based line of the opening fence
    skip: str | None = None
    setup: str | None = None

    @property
    def id(self) -> str:
        return f"{self.lang}-line{self.line}"


def blocks(text: str) -> list[Block]:
    """The fenced blocks of ``text`` with their marker (the last non-blank line before the fence)."""
    out: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        start = i
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        before = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        marker = re.match(r"^<!-- readme: (skip|setup)[, ]\s*(.*?)\s*-->$", before)
        skip = setup = None
        if marker and marker.group(1) == "skip":
            skip = marker.group(2)
        elif marker:
            setup = marker.group(2).split()[0]
        out.append(Block(m.group(1), "\n".join(lines[start + 1 : end]) + "\n", start + 1, skip, setup))
        i = end + 1
    return out


ALL = blocks(README.read_text(encoding="utf-8"))
TO_RUN = [b for b in ALL if b.lang in RUNNABLE]


# -- setups: what a block takes from its context ----------------------------------------------

PYTHON_SETUPS = {
    "tensors": """\
        import torch
        pred, target = torch.randn(8, requires_grad=True), torch.randn(8)
        v = torch.rand(8) + 1
        x, n = torch.randn(8, requires_grad=True), torch.tensor(4.0)
        """,
    "cnn": """\
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        torch.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 3 * 3, 10))
        model = model.to(torch.bfloat16)
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        x = torch.randn(32, 1, 8, 8, dtype=torch.bfloat16)
        y = torch.randint(0, 10, (32,))
        """,
}

TRAIN_TEST = """\
import torch
import torch.nn.functional as F


def test_a_few_steps():
    torch.manual_seed(0)
    w = torch.randn(4, 3, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.1)
    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    for _ in range(3):
        opt.zero_grad()
        loss = F.cross_entropy(x @ w, y) + 1e-3 * w.abs().sum()
        loss.backward()
        opt.step()
"""


def shell_setup(name: str, project: Path, env: dict) -> None:
    if name == "ranks":  # two ranks of one run, as `trace(output="run-{rank}.trace.json")` writes them
        if not (project / "run.trace.json").exists():
            run_python("import kinkcheck, torch\nwith kinkcheck.trace(output='run.trace.json'):\n"
                       "    torch.relu(torch.zeros(4))\n", project, env)
        data = json.loads((project / "run.trace.json").read_text())
        for rank in (0, 1):
            (project / f"run-{rank}.trace.json").write_text(json.dumps(dict(data, ranks=[rank])))
    elif name == "train-test":
        (project / "tests").mkdir(exist_ok=True)
        (project / "tests" / "test_train.py").write_text(TRAIN_TEST)
    elif name == "git":
        (project / "src" / "train_digits.py").write_text(
            (project / "src" / "train_digits.py").read_text() + "\n\ndef extra_loss(a, b):\n    return (a - b).abs().mean()\n"
        )
    else:
        raise AssertionError(f"README names an unknown setup {name!r}")


# -- running -------------------------------------------------------------------------------------


def git(project: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", *args],
                   cwd=project, check=True, capture_output=True)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("readme-project")
    for name in ("examples", "src"):
        shutil.copytree(REPO / "examples", root / name, ignore=shutil.ignore_patterns("__pycache__"))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "a project")
    git(root, "update-ref", "refs/remotes/origin/main", "HEAD")
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["GITHUB_STEP_SUMMARY"] = str(root / "step-summary.md")
    env.pop("PYTHONPATH", None)
    return root, env


def run_python(code: str, project: Path, env: dict) -> subprocess.CompletedProcess:
    script = project / "_readme_block.py"
    script.write_text(code)
    done = subprocess.run([sys.executable, str(script)], cwd=project, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def commands(code: str) -> list[str]:
    """The block's commands, one per line (no line continuations in the README's shell blocks)."""
    return [line for line in code.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def may_exit_1(command: str) -> bool:
    """`kinkcheck check` exits 1 when it finds undocumented kinks: that is the block working."""
    return re.search(r"(^|\|\s*)kinkcheck check\b", command) is not None


def test_every_runnable_block_is_run_or_says_why_not():
    for b in TO_RUN:
        if b.skip is not None:
            assert len(b.skip) >= 10, f"README line {b.line}: a skipped block must say why"
    assert len([b for b in TO_RUN if b.skip is None]) >= 10


@pytest.mark.parametrize("block", TO_RUN, ids=[b.id for b in TO_RUN])
def test_readme_block_runs_as_written(block: Block, project):
    if block.skip is not None:
        pytest.skip(f"README line {block.line}: {block.skip}")
    root, env = project
    if block.lang == "python":
        prelude = textwrap.dedent(PYTHON_SETUPS[block.setup]) if block.setup else ""
        run_python(prelude + block.code, root, env)
        return
    if block.setup:
        shell_setup(block.setup, root, env)
    for command in commands(block.code):
        done = subprocess.run(["bash", "-c", command], cwd=root, env=env, capture_output=True, text=True, timeout=600)
        allowed = (0, 1) if may_exit_1(command) else (0,)
        assert done.returncode in allowed, (
            f"README line {block.line}: `{command}` exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
        assert "Traceback" not in done.stderr, done.stderr


def test_configuration_block_is_a_valid_configuration(tmp_path):
    """The README's ``[tool.kinkcheck]`` example loads without an error."""
    from kinkcheck.config import load_config

    (toml,) = [b for b in ALL if b.lang == "toml"]
    (tmp_path / "pyproject.toml").write_text(toml.code)
    config = load_config(tmp_path)
    assert config.source == tmp_path / "pyproject.toml"
    assert "KC901" in config.enabled_codes()


def ci_commands() -> list[str]:
    """The kinkcheck command lines of the README's CI YAML (GitHub Actions, GitLab)."""
    out = []
    for b in ALL:
        if b.lang != "yaml":
            continue
        for line in b.code.splitlines():
            m = re.match(r"^\s*(?:-\s+)?(?:run:\s+)?(kinkcheck (?:check|report)\b.*)$", line)
            if m:
                out.append(m.group(1).replace("${{ github.base_ref }}", "main"))
    return out


@pytest.mark.parametrize("command", ci_commands())
def test_ci_snippet_commands_run_in_a_project(command, project):
    root, env = project
    done = subprocess.run(["bash", "-c", command], cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode in (0, 1), f"`{command}` exited {done.returncode}\n{done.stderr[-3000:]}"
    assert "error" not in done.stderr.lower(), done.stderr


def test_pre_commit_snippet_matches_the_hook_manifest():
    import yaml

    (config,) = [yaml.safe_load(b.code) for b in ALL if b.lang == "yaml" and "pre-commit-config" in b.code]
    (repo,) = config["repos"]
    (hook,) = repo["hooks"]
    (manifest,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert repo["repo"] == "local" and hook["language"] == "system"
    for key in ("id", "entry", "types_or", "require_serial"):
        assert hook[key] == manifest[key], key
