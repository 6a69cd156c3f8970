"""The content-keyed cache: warm runs give the same findings, edits and config changes are seen,
corrupt entries are ignored, --no-cache writes nothing."""

from __future__ import annotations

import pytest

from kinkcheck.config import load_config
from kinkcheck.lint.api import check_paths

LOSS = """
import torch

def loss(pred, target):
    return torch.abs(pred - target).mean()  # line 5
"""


@pytest.fixture
def project(write_tree, monkeypatch):
    root = write_tree({"pyproject.toml": "[tool.kinkcheck]\n", "train.py": LOSS})
    monkeypatch.chdir(root)
    return root


def run(root, **kw):
    return check_paths([root / "train.py"], load_config(root, kw.pop("overrides", {})), jobs=1, **kw)


def codes(result):
    return [(f.code, f.line, f.documented) for f in result.findings]


def test_warm_run_answers_from_the_cache(project):
    cold = run(project)
    assert codes(cold) == [("KC101", 4, False)]
    assert (cold.analyzed, cold.cached) == (1, 0)
    assert any((project / ".kinkcheck_cache").rglob("*.entry"))
    assert (project / ".kinkcheck_cache" / "CACHEDIR.TAG").is_file()
    warm = run(project)
    assert (warm.analyzed, warm.cached) == (0, 1)
    assert warm.findings == cold.findings


def test_edit_and_config_change_invalidate(project):
    run(project)
    (project / "train.py").write_text(LOSS.lstrip("\n").replace("mean()  # line 5", "mean()  # kink: L1 on purpose"))
    edited = run(project)
    assert codes(edited) == [("KC101", 4, True)] and edited.analyzed == 1
    ignored = run(project, overrides={"ignore": ("KC101",)})
    assert ignored.findings == [] and ignored.analyzed == 1


def test_corrupt_entries_are_ignored(project):
    cold = run(project)
    for entry in (project / ".kinkcheck_cache").rglob("*.entry"):
        entry.write_bytes(b"\x80\x05not a pickle")
    again = run(project)
    assert again.findings == cold.findings and again.analyzed == 1


def test_no_cache_reads_and_writes_nothing(project):
    r = run(project, use_cache=False)
    assert codes(r) == [("KC101", 4, False)]
    assert not (project / ".kinkcheck_cache").exists()


def test_a_file_where_the_cache_folder_should_be_is_refused(project):
    from kinkcheck.config import ConfigError

    (project / ".kinkcheck_cache").write_text("a file where the cache directory should be")
    with pytest.raises(ConfigError, match="is not a folder"):
        run(project)
    assert (project / ".kinkcheck_cache").read_text().startswith("a file")


def test_an_unwritable_cache_only_costs_speed(project, monkeypatch):
    from kinkcheck.lint import cache

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cache, "write_atomic", refuse)
    r = run(project)
    assert codes(r) == [("KC101", 4, False)] and r.errors == []


def test_an_unchanged_file_is_rechecked_when_its_scope_changes(write_tree, monkeypatch):
    """helpers.py does not change; whether its abs is loss code depends on train.py."""
    root = write_tree({
        "pyproject.toml": "[tool.kinkcheck]\n",
        "helpers.py": "import torch\n\ndef magnitude(x):\n    return torch.abs(x).sum()\n",
        "train.py": "from helpers import magnitude\n\ndef loss(x):\n    return magnitude(x)\n",
    })
    monkeypatch.chdir(root)

    def run_all():
        return check_paths([root], load_config(root, {}), jobs=1)

    assert [(f.path, f.code) for f in run_all().findings] == [("helpers.py", "KC101")]
    (root / "train.py").write_text("from helpers import magnitude\n\ndef loss(x):\n    return x.sum()\n")
    assert run_all().findings == []
    (root / "train.py").write_text("from helpers import magnitude\n\ndef loss(x):\n    return magnitude(x)\n")
    again = run_all()
    assert [(f.path, f.code) for f in again.findings] == [("helpers.py", "KC101")]
    assert again.analyzed == 0, "both files' results for this scope are still cached"


def test_an_unchanged_file_is_rechecked_when_a_caller_changes_a_setting(write_tree, monkeypatch):
    """helpers.py does not change; which of its branches is loss code depends on the setting
    train.py passes (lint/pinned.py)."""
    helpers = ("import torch\n\ndef magnitude(x, l1=False):\n    if l1:\n        return torch.abs(x).sum()\n"
               "    return (x * x).sum()\n")
    root = write_tree({"pyproject.toml": "[tool.kinkcheck]\n", "helpers.py": helpers,
                       "train.py": "from helpers import magnitude\n\ndef loss(x):\n    return magnitude(x, l1=False)\n"})
    monkeypatch.chdir(root)

    def run_all():
        return [(f.path, f.code) for f in check_paths([root], load_config(root, {}), jobs=1).findings]

    assert run_all() == []
    (root / "train.py").write_text("from helpers import magnitude\n\ndef loss(x):\n    return magnitude(x, l1=True)\n")
    assert run_all() == [("helpers.py", "KC101")]


def test_an_unchanged_file_is_rechecked_when_a_caller_hands_it_a_prediction(write_tree, monkeypatch):
    """_helpers.py does not change; whether its parameter carries gradient depends on what
    train.py hands it (lint/argflow.py)."""
    root = write_tree({"pyproject.toml": "[tool.kinkcheck]\n",
                       "_helpers.py": "import torch\n\ndef spread(x):\n    return torch.sqrt(x.var())\n",
                       "train.py": "from _helpers import spread\n\ndef loss(pred, batch):\n"
                                   "    return (pred - spread(batch['x'])).mean()\n"})
    monkeypatch.chdir(root)

    def run_all():
        return [(f.path, f.code) for f in check_paths([root], load_config(root, {}), jobs=1).findings]

    assert run_all() == []
    (root / "train.py").write_text("from _helpers import spread\n\ndef loss(pred, batch):\n"
                                   "    return (pred - spread(pred)).mean()\n")
    assert run_all() == [("_helpers.py", "KC201")]


def test_an_unchanged_caller_is_rechecked_when_a_helper_stops_guarding(write_tree, monkeypatch):
    """train.py does not change; whether its log meets a pole depends on the range the helper
    in utils.py returns (lint/return_range.py)."""
    guarded = "import torch\n\ndef floor(x):\n    return x.clamp(min=1e-6)\n"
    root = write_tree({"pyproject.toml": "[tool.kinkcheck]\n", "utils.py": guarded,
                       "train.py": "import torch\nfrom utils import floor\n\ndef loss(p):\n"
                                   "    return -torch.log(floor(p)).mean()\n"})
    monkeypatch.chdir(root)

    def run_all():
        return [(f.path, f.code) for f in check_paths([root], load_config(root, {}), jobs=1).findings]

    assert run_all() == []
    (root / "utils.py").write_text("import torch\n\ndef floor(x):\n    return x - 0.5\n")
    assert run_all() == [("train.py", "KC204")]
    (root / "utils.py").write_text(guarded)
    assert run_all() == []


def test_caches_of_other_builds_are_pruned_when_idle(project):
    import os
    import time

    from kinkcheck.lint.cache import MARKER

    stale = project / ".kinkcheck_cache" / "0.0.1-deadbeefdeadbeef"
    recent = project / ".kinkcheck_cache" / "0.0.2-cafebabecafebabe"
    for d in (stale, recent):
        (d / "ab").mkdir(parents=True)
        (d / "ab" / f"{'0' * 30}.pickle").write_bytes(b"old")
        (d / "runs").mkdir()
        (d / "runs" / f"{'1' * 32}.entry").write_bytes(b"old")
    (project / ".kinkcheck_cache" / "CACHEDIR.TAG").write_text(MARKER)  # as an older build left it
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    run(project)
    assert not stale.exists() and recent.exists()
