"""``@record`` (kinkcheck/record.py) behaves as ``@dataclass(frozen=True, slots=True)`` and
compiles nothing when a class is defined or unpickled: the catalog's classes are records,
and the one-file check (the pre-commit hook) loads them from its cache on every run."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
import sys
from dataclasses import FrozenInstanceError, dataclass, field

import pytest

from kinkcheck import catalog
from kinkcheck.record import field_names, record, replace

#: audit events that mean Python source was compiled (``exec`` of a string compiles it)
_COMPILED: list[str] = []
_COUNTING = [False]


def _audit(event: str, args) -> None:
    if _COUNTING[0] and event == "compile":
        _COMPILED.append(str(args[1]))


sys.addaudithook(_audit)


def compiled_during(fn) -> list[str]:
    """The sources compiled while ``fn()`` ran (audit events; a hook cannot be removed, so it
    only counts while asked)."""
    _COMPILED.clear()
    _COUNTING[0] = True
    try:
        fn()
    finally:
        _COUNTING[0] = False
    return list(_COMPILED)


def define(decorator, name: str = "Point"):
    """The same class under ``decorator``, named ``name`` (a module-level name: pickle finds it)."""

    class Point:
        """A point, with a label and tags."""

        x: int
        y: int = 0
        label: str = field(default="", compare=False)
        tags: tuple[str, ...] = field(default_factory=tuple)
        extra: dict = field(default_factory=dict, repr=False, hash=False)

        def norm1(self) -> int:
            return abs(self.x) + abs(self.y)

    cls = decorator(Point)
    cls.__qualname__ = cls.__name__ = name
    return cls


Record = define(record, "Record")
Dataclass = define(dataclass(frozen=True, slots=True), "Dataclass")
#: a record never built through __init__ in this process (the catalog's case: loaded from its cache)
Unbuilt = define(record, "Unbuilt")


@pytest.mark.parametrize("cls", [Record, Dataclass], ids=["record", "dataclass"])
def test_a_record_is_built_and_compared_as_the_frozen_dataclass(cls):
    p = cls(1, 2, label="a", tags=("t",))
    assert (p.x, p.y, p.label, p.tags, p.extra, p.norm1()) == (1, 2, "a", ("t",), {}, 3)
    assert cls(1).extra is not cls(1).extra  # a fresh factory value each time
    assert p == cls(1, 2, label="other", tags=("t",))  # label is not compared
    assert p != cls(1, 3, tags=("t",)) and p != (1, 2)
    assert hash(p) == hash(cls(1, 2, label="b", tags=("t",), extra={"k": 1}))  # extra is not hashed
    assert repr(p) == f"{cls.__name__}(x=1, y=2, label='a', tags=('t',))"  # extra has repr=False
    assert str(inspect.signature(cls)) == ("(x: 'int', y: 'int' = 0, label: 'str' = '', tags: 'tuple[str, ...]' = "
                                           "<factory>, extra: 'dict' = <factory>) -> None")
    assert cls.__match_args__ == ("x", "y", "label", "tags", "extra")
    assert not hasattr(p, "__dict__") and cls.__doc__ == "A point, with a label and tags."
    with pytest.raises(FrozenInstanceError, match="cannot assign to field 'x'"):
        p.x = 5  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        del p.y  # type: ignore[misc]
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'x'"):
        cls()
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        cls(1, z=2)


@pytest.mark.parametrize("cls", [Record, Dataclass], ids=["record", "dataclass"])
def test_dataclasses_functions_and_copies_work_on_records(cls):
    p = cls(1, 2, label="a")
    assert dataclasses.is_dataclass(p)
    assert [f.name for f in dataclasses.fields(cls)] == ["x", "y", "label", "tags", "extra"]
    assert dataclasses.replace(p, y=7) == cls(1, 7)
    assert dataclasses.asdict(p) == {"x": 1, "y": 2, "label": "a", "tags": (), "extra": {}}
    assert pickle.loads(pickle.dumps(p)) == p and pickle.loads(pickle.dumps(p)).label == "a"
    assert copy.copy(p) == p and copy.deepcopy(p) == p


def test_record_helpers_need_no_dataclass_fields():
    p = Record(1, 2, label="a")
    assert field_names(Record) == ("x", "y", "label", "tags", "extra")
    assert replace(p, y=3) == Record(1, 3) and replace(p, y=3).label == "a"
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        replace(p, z=1)


def test_defining_a_record_compiles_nothing_and_its_init_once():
    classes: list[type] = []
    assert compiled_during(lambda: classes.append(define(record))) == []
    cls = classes[0]
    assert len(compiled_during(lambda: cls(1))) == 1  # __init__, on the first call
    assert compiled_during(lambda: cls(2)) == []
    # what dataclasses does for the same class: one compiled source per generated method
    assert len(compiled_during(lambda: define(dataclass(frozen=True, slots=True)))) >= 5


def test_an_unpickled_record_needs_no_init():
    made = object.__new__(Unbuilt)  # as pickle.loads makes it (no __init__ to compile)
    for name, value in zip(field_names(Unbuilt), (1, 2, "", ("t",), {})):
        object.__setattr__(made, name, value)
    data = pickle.dumps(made)
    loaded: list = []
    assert compiled_during(lambda: loaded.append(pickle.loads(data))) == []
    assert Unbuilt.__init__.__name__ == "_first_init"  # still not compiled
    assert str(inspect.signature(Unbuilt)) == str(inspect.signature(Dataclass))  # compiles it
    assert type(loaded[0]) is Unbuilt and (loaded[0].x, loaded[0].y, loaded[0].tags) == (1, 2, ("t",))


def test_the_catalog_loads_from_its_cache_without_compiling(tmp_path, monkeypatch):
    monkeypatch.setenv("KINKCHECK_CATALOG_CACHE", str(tmp_path))
    catalog.load.cache_clear()
    parsed = catalog.load()  # parses the TOML files, writes the cache
    assert list(tmp_path.glob("catalog-*.marshal"))
    catalog.load.cache_clear()
    loaded: list = []
    try:
        assert compiled_during(lambda: loaded.append(catalog.load())) == []
    finally:
        catalog.load.cache_clear()
    assert loaded[0] is not parsed
    assert [repr(rule) for rule in loaded[0].values()] == [repr(rule) for rule in parsed.values()]
    assert loaded[0]["KC101"].match == parsed["KC101"].match and loaded[0]["KC101"].docs == parsed["KC101"].docs


@pytest.mark.parametrize("body, error", [
    ("x: int = dataclasses.field(default=0, init=False)", "init=False"),
    ("x: int = dataclasses.field(default=0, kw_only=True)", "kw_only"),
    ("x: 'typing.ClassVar[int]' = 0", "ClassVar"),
    ("x: list = []", "mutable default"),
])
def test_what_a_record_does_not_support_fails_when_defined(body, error):
    namespace: dict = {"dataclasses": dataclasses, "record": record}
    with pytest.raises((TypeError, ValueError), match=error):
        exec(f"@record\nclass Bad:\n    {body}\n", namespace)  # noqa: S102 - the class under test
