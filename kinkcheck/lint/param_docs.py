"""What a function's docstring says a parameter holds. Loss code often names its operands
``x, y`` and says which is which only in the docstring (``y : torch.Tensor`` / ``targets``,
``y: A target tensor``); the name heuristics of :func:`kinkcheck.lint.resolve.name_kind`
then read the documentation the author wrote. Like those heuristics, this is evidence of
low confidence, consulted only where the code itself does not decide.

Google (``Args:`` with ``name (type): text``), numpydoc (``name : type`` then the text
indented) and Sphinx (``:param name: text``) styles are read; a ``forward`` or ``__call__``
also reads its class's docstring, where ``nn.Module`` losses often document their inputs."""

from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING

from kinkcheck.lazyre import lazy_pattern

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context

#: words that may precede the noun of a description: articles, shapes, adjectives of data
#: (each alternative consumes its characters one way only: no backtracking blow-up on long
#: numbers, `[^\s\d]*\d\S*`)
_LEAD = (r"(?:(?:a|an|the|of|value|values|tensor|tensors|array|arrays|batch|batched|sorted|training|true|"
         r"patched|corresponding|one-hot|binary|integer|class|node|dense|sparse|float|normalized|"
         r"[^\s\d]*\d\S*|\([^)]*\)|\[[^]]*\]|`[^`]*`)\s+)*")
#: what may follow the noun: nothing, punctuation, a preposition, or a noun of data. "target"
#: and "label" are adjectives too ("target features" of domain adaptation, "target sequence"
#: of a decoder, "label embeddings" that are learnt): then the noun after them decides
_DATA_TAIL = (r"(?:$|[.,;:()\[]|\s+(?:of|for|with|in|on|from|per|as|and|or|tensors?|arrays?|values?|maps?|"
              r"images?|masks?|box(?:es)?|labels?|indices|ids|data|signals?|waveforms?|spectrograms?|"
              r"heatmaps?|keypoints|depths?|classes|class (?:indices|ids|labels))\b)")
#: a description whose noun is what the loss scores against: targets, the ground truth, labels,
#: reference data
_DATA_HEAD_RE = lazy_pattern(
    rf"^{_LEAD}(?:targets?|ground[- ]?truths?|gt|labels?|"
    r"reference (?:data|images?|signals?|tensors?|values?|samples?|audio|waveforms?|spectr\w*))"
    rf"{_DATA_TAIL}",
    re.IGNORECASE)
#: a description that speaks of what the model computes is no target, whatever else it says
_PREDICTED_RE = lazy_pattern(r"\b(pred\w*|outputs?|logits?|estimat\w*|inputs?|generated|reconstruct\w*|fake|"
                             r"network|model|learn\w*|embeddings?|features?|parameters?|hidden)\b",
                             re.IGNORECASE)
#: a bare type where numpydoc puts it (``y: torch.Tensor`` then the description, indented)
_TYPE_ONLY_RE = lazy_pattern(r"^(?:[\w.]+\.)?(?:Tensor|ndarray|Array|ArrayLike|float|int|bool|str|list|tuple|dict|"
                             r"Sequence|Optional\[.*\]|Union\[.*\])$")
_SECTION_RE = lazy_pattern(r"^(Args|Arguments|Parameters|Params|Inputs)\s*:?\s*$", re.IGNORECASE)
_OTHER_SECTION_RE = lazy_pattern(r"^(Returns?|Yields?|Raises|Examples?|Notes?|Shapes?|References?|See Also|Attributes|"
                                 r"Outputs?)\s*:?\s*$", re.IGNORECASE)


def documented_data(ctx: "Context", name: str) -> bool:
    """The docstring of the loss ``ctx`` checks (or, for a loss class's ``forward``/``__call__``,
    of its class) describes parameter ``name`` as targets, ground truth, labels or reference data.

    Only a declared loss's own docstring counts (a function named for a loss, a loss class's
    forward): that is the contract with its users, who call it. A helper's callers in the
    checked code are better evidence than its docstring, and may disagree with it (ultralytics'
    ``probiou`` documents ``obb1`` as the ground truth; its rotated-box loss hands it the
    prediction); a network's forward documents its own inputs ("target sequence" of a decoder)."""
    info = ctx.fa.ix.functions.get(ctx.qualname)
    if info is None or info.root not in ("name", "loss-class"):
        return False
    memo = ctx.fa.__dict__.setdefault("_documented_data", {})
    key = ctx.qualname
    if key not in memo:
        memo[key] = _data_params(ctx)
    return name in memo[key]


def _data_params(ctx: "Context") -> frozenset[str]:
    fn = ctx.fn
    if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return frozenset()
    args = fn.args
    names = {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)} - {"self", "cls"}
    docs = [ast.get_docstring(fn, clean=True)]
    if fn.name in ("forward", "__call__") and ctx.cls_qual:
        cls = ctx.fa.class_node(ctx.cls_qual)
        docs.append(ast.get_docstring(cls, clean=True) if cls is not None else None)
    described: dict[str, str] = {}
    for doc in docs:
        for param, text in _descriptions(doc or "", names).items():
            described.setdefault(param, text)
    return frozenset(p for p, text in described.items() if _says_data(text))


def _says_data(text: str) -> bool:
    head = " ".join(text.replace("``", "`").split()[:8])
    return bool(_DATA_HEAD_RE.match(head)) and not _PREDICTED_RE.search(head)


def _descriptions(doc: str, names: set[str]) -> dict[str, str]:
    """parameter -> the first line of its description, in any of the three styles."""
    out: dict[str, str] = {}
    lines = doc.splitlines()
    section = None  # before any section, "args" in a parameters section, "other" in any other
    for i, raw in enumerate(lines):
        line = raw.strip()
        if _SECTION_RE.match(line) or _OTHER_SECTION_RE.match(line):
            section = "args" if _SECTION_RE.match(line) else "other"
            continue
        sphinx = re.match(r"^:param\s+(?:[\w.\[\], |]+\s+)?\*{0,2}(\w+)\s*:\s*(.*)$", line)
        if sphinx:
            _add(out, names, [sphinx.group(1)], sphinx.group(2), lines, i)
            continue
        numpy = re.match(r"^(\*{0,2}\w+(?:\s*,\s*\*{0,2}\w+)*)\s+:(?:\s+\S.*)?$", line)
        if numpy and section != "other" and i + 1 < len(lines) and _indent(lines[i + 1]) > _indent(raw):
            params = [n.strip("* ") for n in numpy.group(1).split(",")]
            if len(params) == 1:  # `gt, y : Tensor` shares one description: it says which is which
                _add(out, names, params, "", lines, i)
            continue
        google = re.match(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$", line)
        if google and section == "args":
            text = google.group(2)
            if _TYPE_ONLY_RE.match(text.strip()) and i + 1 < len(lines) and _indent(lines[i + 1]) > _indent(raw):
                text = ""  # `y: torch.Tensor` then the description, indented, numpydoc-like
            _add(out, names, [google.group(1)], text, lines, i)
    return out


def _add(out: dict[str, str], names: set[str], params: list[str], text: str, lines: list[str], i: int) -> None:
    if not text.strip() and i + 1 < len(lines):
        text = lines[i + 1].strip()  # the description starts on the next, indented line
    for param in params:
        if param in names:
            out.setdefault(param, text.strip())


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip()) if line.strip() else -1
