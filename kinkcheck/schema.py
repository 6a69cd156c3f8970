"""A small schema checker for the JSON files kinkcheck reads back (trace files, baselines).

The readers (``trace show``, ``report --trace``, ``merge``, ``check --baseline``) index,
add, sort and format these values; a field of the wrong type (``"op": 5``, ``"ranks": [0,
"a"]``) would surface as a TypeError deep inside them. One schema per file format, checked
once on load, turns any such file into one line naming the field::

    sites[3].op must be a string or null, got 5

Schemas are plain objects: :class:`Str`, :class:`Int`, :class:`Num`, :class:`Nullable`,
:class:`ListOf`, :class:`Row` (a fixed-length list), :class:`MapOf` and :class:`Obj`
(required and optional keys). Unknown keys are allowed, so files can grow keys without a
new version, but may nest at most :data:`EXTRA_DEPTH` levels: every known field has a
fixed depth, so no reader ever recurses deeply. Checking recurses only as deep as the
schema. Lists are checked in bulk with C-level builtins (``map(type, ...)``, ``min``,
``max``) first: a million per-step rows take a fraction of a second; only a failing list
is walked element by element to name the bad one.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

#: every count and line number fits in a signed 64-bit integer
INT_MAX = 2**63 - 1
#: how deeply a value under an unknown key may nest
EXTRA_DEPTH = 32


class Invalid(Exception):
    """The data does not fit the schema; ``str()`` is one line naming the field."""


def check(value: Any, schema: Schema, at: str = "") -> None:
    """Raise :class:`Invalid` for the first part of ``value`` that does not fit ``schema``."""
    schema.check(value, at)


def shown(value: Any) -> str:
    """A short rendering of a bad value for a message."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _field(at: str, key: str) -> str:
    return f"{at}.{key}" if at else key


def _types_are(values, cls: type) -> bool:
    """Is every value an instance of ``cls`` (never a bool)? One C-level pass over the list."""
    return all(issubclass(t, cls) and t is not bool for t in set(map(type, values)))


class Schema:
    #: how the expected value reads in a message ("a string", "a non-negative integer")
    expected = "a value"

    def ok(self, value: Any) -> bool:  # pragma: no cover - every schema overrides it
        raise NotImplementedError

    def all_ok(self, values: list) -> bool:
        """Does every element of ``values`` fit? (Schemas override it with bulk checks.)"""
        return all(map(self.ok, values))

    def check(self, value: Any, at: str) -> None:
        if not self.ok(value):
            self.fail(value, at)

    def fail(self, value: Any, at: str) -> None:
        raise Invalid(f"{at or 'the top level'} must be {self.expected}, got {shown(value)}")


class Str(Schema):
    def __init__(self, *, nonempty: bool = False, max_len: int = 1 << 16):
        self.nonempty, self.max_len = nonempty, max_len
        self.expected = "a non-empty string" if nonempty else "a string"

    def ok(self, value: Any) -> bool:
        return isinstance(value, str) and (len(value) > 0 or not self.nonempty) and len(value) <= self.max_len

    def all_ok(self, values: list) -> bool:
        if not values:
            return True
        if not _types_are(values, str):
            return False
        lengths = list(map(len, values))
        return max(lengths) <= self.max_len and (min(lengths) > 0 or not self.nonempty)


class Int(Schema):
    def __init__(self, *, lo: int = 0, hi: int = INT_MAX):
        self.lo, self.hi = lo, hi
        if (lo, hi) == (0, INT_MAX):
            self.expected = "a non-negative integer"
        elif hi == INT_MAX:
            self.expected = f"an integer of at least {lo}"
        else:
            self.expected = f"an integer from {lo} to {hi}"

    def ok(self, value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and self.lo <= value <= self.hi

    def all_ok(self, values: list) -> bool:
        return not values or (_types_are(values, int) and min(values) >= self.lo and max(values) <= self.hi)


class Num(Schema):
    """A finite number (int or float) of at least ``lo``."""

    def __init__(self, *, lo: float = 0.0):
        self.lo = lo
        self.expected = f"a number of at least {lo:g}"

    def ok(self, value: Any) -> bool:
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value) and value >= self.lo)


class Const(Schema):
    def __init__(self, value: Any):
        self.value = value
        self.expected = repr(value)

    def ok(self, value: Any) -> bool:
        return type(value) is type(self.value) and value == self.value


class Nullable(Schema):
    def __init__(self, inner: Schema):
        self.inner = inner
        self.expected = f"{inner.expected} or null"

    def ok(self, value: Any) -> bool:
        return value is None or self.inner.ok(value)

    def check(self, value: Any, at: str) -> None:
        if value is None or self.inner.ok(value):
            return
        if isinstance(value, (dict, list)) and isinstance(self.inner, (Obj, ListOf, MapOf)):
            self.inner.check(value, at)  # the right kind: name the field inside that is wrong
        self.fail(value, at)


class Matches(Str):
    """A string from a fixed set or matching ``pattern`` in full; ``expected`` says what in words."""

    def __init__(self, pattern: str, expected: str):
        import re

        super().__init__()
        self.regex = re.compile(pattern)
        self.expected = expected

    def ok(self, value: Any) -> bool:
        return isinstance(value, str) and len(value) <= self.max_len and self.regex.fullmatch(value) is not None

    def all_ok(self, values: list) -> bool:
        return all(map(self.ok, values))


class ListOf(Schema):
    def __init__(self, item: Schema):
        self.item = item
        self.expected = f"a list of {_plural(item.expected)}"

    def ok(self, value: Any) -> bool:
        return isinstance(value, list) and self.item.all_ok(value)

    def check(self, value: Any, at: str) -> None:
        if not isinstance(value, list):
            self.fail(value, at)
        if self.item.all_ok(value):
            return
        for i, item in enumerate(value):
            if not self.item.ok(item):
                self.item.check(item, f"{at}[{i}]")


class Row(Schema):
    """A list of exactly ``width`` values, each fitting ``item`` (``[step, evaluations, ...]``)."""

    def __init__(self, width: int, item: Schema, names: str):
        self.width, self.item = width, item
        self.expected = f"a list [{names}] of {_plural(item.expected)}"

    def ok(self, value: Any) -> bool:
        return isinstance(value, list) and len(value) == self.width and self.item.all_ok(value)

    def all_ok(self, values: list) -> bool:
        if not values:
            return True
        if not _types_are(values, list) or set(map(len, values)) != {self.width}:
            return False
        return self.item.all_ok(list(itertools.chain.from_iterable(values)))


class MapOf(Schema):
    """An object whose keys fit ``key`` and whose values fit ``value``."""

    def __init__(self, key: Schema, value: Schema):
        self.key, self.value = key, value
        self.expected = f"an object of {key.expected} to {value.expected}"

    def ok(self, value: Any) -> bool:
        return isinstance(value, dict) and self.key.all_ok(list(value)) and self.value.all_ok(list(value.values()))

    def check(self, value: Any, at: str) -> None:
        if not isinstance(value, dict):
            self.fail(value, at)
        for k, v in value.items():
            if not self.key.ok(k):
                raise Invalid(f"{at or 'the top level'} has the key {shown(k)}, which is not {self.key.expected}")
            self.value.check(v, f"{at}[{k!r}]")


class Obj(Schema):
    """An object with ``required`` and ``optional`` keys; other keys are allowed when their
    values nest at most :data:`EXTRA_DEPTH` levels."""

    expected = "an object"

    def __init__(self, required: Mapping[str, Schema] | None = None, optional: Mapping[str, Schema] | None = None):
        self.required = dict(required or {})
        self.optional = dict(optional or {})
        self.known = frozenset(self.required) | frozenset(self.optional)

    def ok(self, value: Any) -> bool:
        if not isinstance(value, dict):
            return False
        for key, schema in self.required.items():
            if key not in value or not schema.ok(value[key]):
                return False
        for key, schema in self.optional.items():
            if key in value and not schema.ok(value[key]):
                return False
        return len(value) == len(self.known & value.keys()) or self._extra_ok(value)

    def _extra_ok(self, value: dict) -> bool:
        return not any(_deeper_than(v, EXTRA_DEPTH) for k, v in value.items() if k not in self.known)

    def check(self, value: Any, at: str) -> None:
        if not isinstance(value, dict):
            self.fail(value, at)
        for key, schema in self.required.items():
            if key not in value:
                raise Invalid(f"{at + ': ' if at else ''}missing key {key!r}")
            schema.check(value[key], _field(at, key))
        for key, schema in self.optional.items():
            if key in value:
                schema.check(value[key], _field(at, key))
        for key, v in value.items():
            if key not in self.known and _deeper_than(v, EXTRA_DEPTH):
                raise Invalid(f"{_field(at, str(key)[:40])} is nested deeper than {EXTRA_DEPTH} levels")


def _deeper_than(value: Any, limit: int) -> bool:
    """Does ``value`` nest more than ``limit`` containers deep? (Iterative: no recursion.)"""
    if not isinstance(value, (dict, list)):
        return False
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return False


def _plural(expected: str) -> str:
    """"a non-negative integer" -> "non-negative integers" (for "a list of ...")."""
    words = expected.split(" ", 1)
    if len(words) == 2 and words[0] in ("a", "an"):
        head, _, tail = words[1].partition(" or ")
        return head + "s" + (f" or {tail}" if tail else "")
    return expected
