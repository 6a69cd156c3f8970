"""Trace files and baselines are untrusted JSON: every malformed field, in every command that
reads one, is one line naming the field and exit 2 (one validator: kinkcheck.schema).

Commands: ``trace show``, ``trace show --json``, ``report --trace``, ``merge`` (traces) and
``check --baseline`` (baselines).
"""

from __future__ import annotations

import copy
import json

import pytest
from exit2_helpers import assert_one_error, kinkcheck

LOSS = "import torch\n\n\ndef loss(x):\n    return torch.abs(x).sum()\n"


def valid_trace(rank: int = 0) -> dict:
    """A version-1 trace as the README documents it, one site on loss.py line 5."""
    return {
        "format": "kinkcheck-trace", "version": 1, "kinkcheck": "0.1.0", "created": "2026-01-01T00:00:00Z",
        "root": ".", "frameworks": {"torch": "2.13.0"}, "ranks": [rank], "steps": 2,
        "near": {"ulps": 4.0, "abs": 1e-30}, "sampling": {"every_step": 1, "every_op": 1},
        "rules": ["KC101"], "backends": ["torch"],
        "sites": [{
            "path": "loss.py", "line": 5, "function": "loss", "code": "KC101", "name": "abs-at-zero",
            "op": "aten.abs.default", "module": None, "dtype": "float32", "kind": "zero", "backend": "torch",
            "evaluations": 6, "exact": 2, "near": 0, "harmless": 0, "histogram": {"exact": 2},
            "per_step": [[0, 3, 1, 0], [1, 3, 1, 0]], "subgradient": {"framework": "torch", "value": "0"},
        }],
    }


def valid_baseline() -> dict:
    return {"format": "kinkcheck-baseline", "version": 1, "kinkcheck": "0.1.0", "fingerprint": "v1",
            "findings": [{"fingerprint": "0123abcd", "code": "KC101", "path": "loss.py", "line": 5,
                          "function": "loss", "message": "abs at zero"}]}


def mutate(doc: dict, where: str, value) -> dict:
    """A copy of ``doc`` with the field at ``where`` (``sites.0.op``) set to ``value``
    (``...`` deletes it)."""
    doc = copy.deepcopy(doc)
    *parents, last = where.split(".")
    target = doc
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    key = int(last) if isinstance(target, list) else last
    if value is ...:
        del target[key]
    else:
        target[key] = value
    return doc


#: (field, bad value, what the one line says)
TRACE_CASES = [
    ("format", 5, "not a kinkcheck trace (format is 5"),
    ("version", "1", "invalid trace version '1'"),
    ("version", True, "invalid trace version true"),
    ("version", 2, "written by a newer kinkcheck"),
    ("root", 5, "root must be a string, got 5"),
    ("root", ..., "missing key 'root'"),
    ("ranks", "0", "ranks must be a list of non-negative integers, got '0'"),
    ("ranks", [0, "a"], "ranks[1] must be a non-negative integer, got 'a'"),
    ("ranks", [-1], "ranks[0] must be a non-negative integer, got -1"),
    ("steps", 1.5, "steps must be a non-negative integer, got 1.5"),
    ("steps", True, "steps must be a non-negative integer, got true"),
    ("near", [], "near must be an object, got a list"),
    ("near.ulps", "4", "near.ulps must be a number of at least 0, got '4'"),
    ("near.abs", -1, "near.abs must be a number of at least 0, got -1"),
    ("kinkcheck", 5, "kinkcheck must be a string, got 5"),
    ("created", None, "created must be a string, got null"),
    ("frameworks", {"torch": 2}, "frameworks['torch'] must be a string, got 2"),
    ("sampling", {"every_step": 0}, "sampling.every_step must be an integer of at least 1, got 0"),
    ("sampling.every_op", "1", "sampling.every_op must be an integer of at least 1, got '1'"),
    ("rules", [1], "rules[0] must be a string, got 1"),
    ("backends", "torch", "backends must be a list of strings, got 'torch'"),
    ("sites", {}, "sites must be a list of objects, got an object"),
    ("sites.0", 5, "sites[0] must be an object, got 5"),
    ("sites.0.path", 5, "sites[0].path must be a non-empty string, got 5"),
    ("sites.0.path", "", "sites[0].path must be a non-empty string, got ''"),
    ("sites.0.line", "5", "sites[0].line must be a non-negative integer, got '5'"),
    ("sites.0.line", -5, "sites[0].line must be a non-negative integer, got -5"),
    ("sites.0.line", 5.0, "sites[0].line must be a non-negative integer, got 5.0"),
    ("sites.0.code", 101, "sites[0].code must be a non-empty string, got 101"),
    ("sites.0.code", ..., "sites[0]: missing key 'code'"),
    ("sites.0.evaluations", "6", "sites[0].evaluations must be a non-negative integer, got '6'"),
    ("sites.0.exact", -2, "sites[0].exact must be a non-negative integer, got -2"),
    ("sites.0.near", None, "sites[0].near must be a non-negative integer, got null"),
    ("sites.0.harmless", False, "sites[0].harmless must be a non-negative integer, got false"),
    ("sites.0.function", 5, "sites[0].function must be a string or null, got 5"),
    ("sites.0.name", [], "sites[0].name must be a string or null, got a list"),
    ("sites.0.op", 5, "sites[0].op must be a string or null, got 5"),
    ("sites.0.module", {}, "sites[0].module must be a string or null, got an object"),
    ("sites.0.dtype", 32, "sites[0].dtype must be a string or null, got 32"),
    ("sites.0.kind", 0, "sites[0].kind must be a string or null, got 0"),
    ("sites.0.backend", 1, "sites[0].backend must be a string or null, got 1"),
    ("sites.0.snippet", 1, "sites[0].snippet must be a string or null, got 1"),
    ("sites.0.histogram", [], "sites[0].histogram must be an object"),
    ("sites.0.histogram", {"abc": 1}, "sites[0].histogram has the key 'abc'"),
    ("sites.0.histogram", {"exact": "2"}, "sites[0].histogram['exact'] must be a non-negative integer, got '2'"),
    ("sites.0.per_step", {}, "sites[0].per_step must be a list"),
    ("sites.0.per_step", [[0, 3, 1]], "sites[0].per_step[0] must be a list [step, evaluations, exact, near]"),
    ("sites.0.per_step", [[0, 3, 1, "a"]], "sites[0].per_step[0] must be a list [step, evaluations, exact, near]"),
    ("sites.0.subgradient", "0", "sites[0].subgradient must be an object or null, got '0'"),
    ("sites.0.subgradient", {"value": 0}, "sites[0].subgradient.value must be a string or null, got 0"),
    ("sites.0.subgradient", {"framework": 5}, "sites[0].subgradient.framework must be a string, got 5"),
]

#: hostile JSON text that no field check can see: (id, text, what the one line says)
HOSTILE = [
    ("nested-100k-lists", "[" * 100_000 + "]" * 100_000, "JSON nested too deeply"),
    ("nested-100k-objects", '{"a":' * 100_000 + "1" + "}" * 100_000, "JSON nested too deeply"),
    ("nested-33-in-an-unknown-key", None, "extra is nested deeper than 32 levels"),
    ("5000-digit-integer", None, "holds an integer with more than 4,300 digits"),
    ("negative-5000-digit-integer", '{"format": "x", "n": -' + "9" * 5000 + "}", "holds an integer with more than"),
    ("20-digit-integer-in-a-field", None, "line must be a non-negative integer, got 99999999999999999999"),
    ("nan", '{"format": NaN}', "NaN, which is not JSON"),
    ("infinity", '{"format": -Infinity}', "-Infinity, which is not JSON"),
    ("float-overflow", '{"format": 1e999}', "a number out of range"),
    ("truncated", '{"format": "kinkcheck-trace", "sites": [', "is not valid JSON (truncated or corrupt?)"),
    ("empty", "  \n", "empty file"),
    ("top-level-list", "[]", "not a kinkcheck"),
]


def hostile_text(case: str, text: str | None, base: dict) -> str:
    if case == "nested-33-in-an-unknown-key":
        return json.dumps(base)[:-1] + ', "extra": ' + "[" * 33 + "]" * 33 + "}"
    if case in ("5000-digit-integer", "20-digit-integer-in-a-field"):
        digits = 5000 if case.startswith("5000") else 20
        return json.dumps(mutate(base, "sites.0.line" if "sites" in base else "findings.0.line", 7)).replace(
            ': 7,', ": " + "9" * digits + ",")
    return text


@pytest.fixture
def project(tmp_path):
    (tmp_path / "loss.py").write_text(LOSS)
    (tmp_path / "good.json").write_text(json.dumps(valid_trace(rank=1)))
    return tmp_path


def run_trace_command(command: str, project, name: str):
    if command == "show":
        return kinkcheck("trace", "show", name, cwd=project)
    if command == "show-json":
        return kinkcheck("trace", "show", "--json", name, cwd=project)
    if command == "report":
        return kinkcheck("report", "--no-cache", "--trace", name, "loss.py", cwd=project)
    result = kinkcheck("merge", "good.json", name, "-o", "merged.json", cwd=project)
    assert (project / "merged.json").exists() is (result.exit_code == 0)  # nothing written on exit 2
    return result


COMMANDS = ["show", "show-json", "report", "merge"]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_valid_trace_works_in_every_command(project, command):
    doc = valid_trace()
    doc["future-key"] = {"any": [1, {"thing": None}]}  # unknown keys are allowed (same version)
    doc["sites"][0]["deep-but-allowed"] = json.loads("[" * 32 + "]" * 32)  # 32 levels is the limit
    (project / "t.json").write_text(json.dumps(doc))
    result = run_trace_command(command, project, "t.json")
    assert result.exit_code == 0, result.stderr
    if command == "merge":
        assert json.loads((project / "merged.json").read_text())["ranks"] == [0, 1]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("field, value, message", TRACE_CASES,
                         ids=[f"{f}={json.dumps(v) if v is not ... else 'missing'}" for f, v, _ in TRACE_CASES])
def test_a_trace_field_of_the_wrong_type_is_one_line(project, command, field, value, message):
    (project / "t.json").write_text(json.dumps(mutate(valid_trace(), field, value)))
    result = run_trace_command(command, project, "t.json")
    assert_one_error(result, "t.json", message)


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case, text, message", HOSTILE, ids=[c for c, _, _ in HOSTILE])
def test_hostile_trace_json_is_one_line(project, command, case, text, message):
    (project / "t.json").write_text(hostile_text(case, text, valid_trace()))
    result = run_trace_command(command, project, "t.json")
    assert_one_error(result, "t.json", message)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_non_utf8_trace_is_one_line(project, command):
    (project / "t.json").write_bytes(json.dumps(valid_trace()).replace("loss", "l\u00f6ss").encode("latin-1"))
    result = run_trace_command(command, project, "t.json")
    assert_one_error(result, "t.json", "not UTF-8 text")


# -- baselines ------------------------------------------------------------------------------

BASELINE_CASES = [
    ("format", 5, "is not a kinkcheck baseline"),
    ("version", "1", "has version '1'"),
    ("findings", {}, "has a malformed header: findings must be a list of objects, got an object"),
    ("kinkcheck", 1, "has a malformed header: kinkcheck must be a string, got 1"),
    ("fingerprint", None, "has a malformed header: fingerprint must be a string, got null"),
    ("findings.0", "KC101", "has a malformed entry: findings[0] must be an object, got 'KC101'"),
    ("findings.0.fingerprint", 5, "has a malformed entry: findings[0].fingerprint must be a non-empty string, got 5"),
    ("findings.0.fingerprint", "", "findings[0].fingerprint must be a non-empty string, got ''"),
    ("findings.0.fingerprint", ..., "has a malformed entry: findings[0]: missing key 'fingerprint'"),
    ("findings.0.code", ["KC101"], "findings[0].code must be a non-empty string, got a list"),
    ("findings.0.path", 5, "findings[0].path must be a string, got 5"),
    ("findings.0.line", "5", "findings[0].line must be a non-negative integer, got '5'"),
    ("findings.0.line", -1, "findings[0].line must be a non-negative integer, got -1"),
    ("findings.0.function", 5, "findings[0].function must be a string or null, got 5"),
    ("findings.0.message", None, "findings[0].message must be a string, got null"),
]


def check_with_baseline(project):
    return kinkcheck("check", "--no-cache", "--baseline", "b.json", "loss.py", cwd=project)


def test_a_valid_baseline_works(project):
    (project / "b.json").write_text(json.dumps(valid_baseline()))
    result = check_with_baseline(project)
    assert result.exit_code == 1 and "KC101" in result.stdout, result.stderr  # a different fingerprint: new


@pytest.mark.parametrize("field, value, message", BASELINE_CASES,
                         ids=[f"{f}={json.dumps(v) if v is not ... else 'missing'}" for f, v, _ in BASELINE_CASES])
def test_a_baseline_field_of_the_wrong_type_is_one_line(project, field, value, message):
    (project / "b.json").write_text(json.dumps(mutate(valid_baseline(), field, value)))
    assert_one_error(check_with_baseline(project), "b.json", message)


@pytest.mark.parametrize("case, text, message", HOSTILE, ids=[c for c, _, _ in HOSTILE])
def test_hostile_baseline_json_is_one_line(project, case, text, message):
    (project / "b.json").write_text(hostile_text(case, text, valid_baseline()))
    assert_one_error(check_with_baseline(project), "b.json", message.replace("not a kinkcheck", "kinkcheck baseline"))
