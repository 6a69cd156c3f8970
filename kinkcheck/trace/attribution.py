"""Which user source line an op belongs to: the first frame outside torch, numpy and kinkcheck.

Walking ``sys._getframe`` is cheap as long as the "is this file internal?" decision and the
path relativisation are cached per code object, which is what this module does.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from pathlib import Path
from typing import Any


def package_dirs(name: str) -> list[str]:
    """The directories a top-level package is (or would be) loaded from, each ending in a
    separator, found without importing it: a trace may start before torch or numpy is imported
    (a pytest session, ``import torch`` inside the block) and must still know their files."""
    out: list[str] = []
    mod = sys.modules.get(name)
    f = getattr(mod, "__file__", None)
    if f:
        out.append(os.path.dirname(os.path.abspath(f)))
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):  # a broken or half-initialised package
        spec = None
    if spec is not None:
        out.extend(os.path.abspath(p) for p in (spec.submodule_search_locations or ()))
    dirs: list[str] = []
    for d in out:
        for form in (d, os.path.realpath(d)):  # a symlinked site-packages: both spellings
            form = form.rstrip(os.sep) + os.sep
            if form not in dirs:
                dirs.append(form)
    return dirs


#: packages whose frames are never the user's line (functorch and the optimizer wrappers live
#: under torch)
INTERNAL = ("torch", "numpy", "kinkcheck")

# generated code: fx / dynamo modules and frozen stdlib are internal; <stdin>, <string> and
# notebook cells are the user's
_GENERATED_INTERNAL = ("<eval_with_key", "<torch", "<frozen")


_PREFIXES: dict[tuple[str, ...], tuple[str, ...]] = {}


def _prefixes(internal: tuple[str, ...]) -> tuple[str, ...]:
    """The internal packages' directories, cached per process once every one was found."""
    got = _PREFIXES.get(internal)
    if got is None:
        found = [package_dirs(name) for name in internal]
        got = tuple(dict.fromkeys(d for dirs in found for d in dirs))
        if all(found):
            _PREFIXES[internal] = got
    return got


class Attributor:
    """Finds the user frame of the current call and describes it as (path, line, function).

    A frame is internal when its file lies under one of the internal packages' directories.
    Those are computed once, when the trace starts, from where the packages are installed
    (not from what is already imported); the decision is cached per code object.
    """

    def __init__(self, root: str | os.PathLike, internal: tuple[str, ...] = INTERNAL):
        self.root = os.path.abspath(str(root))
        self._prefixes = _prefixes(tuple(internal))
        #: id(code) -> (code, internal?): keyed by id, since CPython hashes a code object's
        #: constants at every lookup (tens of microseconds per stack walk in a training step);
        #: the code is kept, so its id is not reused while it is cached
        self._internal: dict[int, tuple[object, bool]] = {}
        self._where: dict[object, tuple[str, str]] = {}

    def is_internal(self, code) -> bool:
        got = self._internal.get(id(code))
        if got is not None and got[0] is code:
            return got[1]
        fn = code.co_filename
        if fn.startswith("<"):
            hit = fn.startswith(_GENERATED_INTERNAL)
        else:
            absf = os.path.abspath(fn)
            hit = absf.startswith(self._prefixes) or os.path.realpath(absf).startswith(self._prefixes)
        self._internal[id(code)] = (code, hit)
        return hit

    def frame(self, depth: int = 2):
        """The first user frame above the caller, or None when the whole stack is internal."""
        f: types.FrameType | None = sys._getframe(depth)
        internal = self._internal
        while f is not None:
            code = f.f_code
            got = internal.get(id(code))
            if not (got[1] if got is not None and got[0] is code else self.is_internal(code)):
                return f
            f = f.f_back
        return None

    def describe(self, code) -> tuple[str, str]:
        """(path relative to root when under it, function qualname) for a code object, cached."""
        got = self._where.get(code)
        if got is None:
            fn = code.co_filename
            if not fn.startswith("<"):
                absf = os.path.abspath(fn)
                try:
                    rel = os.path.relpath(absf, self.root)
                except ValueError:  # another drive on Windows
                    rel = absf
                fn = absf if rel.startswith("..") else Path(rel).as_posix()
            got = (fn, getattr(code, "co_qualname", code.co_name))
            self._where[code] = got
        return got


class ModuleStack:
    """Names the nn.Module whose forward is running (``features.3 (ReLU)``), read from the
    call stack when a kink op is counted: the ``Module._call_impl`` frames on it are the
    running modules, innermost first, and the outermost one names the others.

    No module hooks: a global forward hook sends every module call of the model (not just
    the few around a kink op) through torch's slow hook path. Frames are per thread, so
    other threads' modules never show up; names come from the outermost module's
    ``named_modules()``, computed once per outermost module.
    """

    def __init__(self, thread_id: int | None = None):
        self.thread_id = thread_id
        self._names: dict[int, tuple[object, dict[int, str]]] = {}
        #: (id(outermost), id(innermost)) -> (outermost, innermost, label): a kink op's module
        #: named without the f-string and the name tables again (cleared when it grows large)
        self._labels: dict[tuple[int, int], tuple[object, object, str]] = {}
        #: the code of ``Module._call_impl``, compared by identity (hashing a code object
        #: hashes its constants)
        self._code: object = None

    def install(self):
        from torch.nn.modules import module as _m

        self._code = _m.Module._call_impl.__code__

    def remove(self):
        self._names.clear()
        self._labels.clear()

    def current(self, depth: int = 2) -> str | None:
        """``features.3 (ReLU)`` for the innermost running module, or None outside modules."""
        call_impl = self._code
        calls = []
        f: types.FrameType | None = sys._getframe(depth)
        while f is not None:
            if f.f_code is call_impl:
                calls.append(f)
            f = f.f_back
        return self._label(calls)

    def locate(self, att: Attributor, depth: int = 2) -> tuple[types.FrameType | None, str | None]:
        """``(att.frame(d), self.current(d))`` for the frame ``depth`` above the caller, from
        one walk of the stack (a kink op asks for both)."""
        call_impl = self._code
        internal = att._internal
        user = None
        calls = []
        f: types.FrameType | None = sys._getframe(depth)
        while f is not None:
            code = f.f_code
            if user is None:
                got = internal.get(id(code))
                if not (got[1] if got is not None and got[0] is code else att.is_internal(code)):
                    user = f
            if code is call_impl:
                calls.append(f)
            f = f.f_back
        return user, self._label(calls)

    def _label(self, calls: list) -> str | None:
        """The label of the modules whose ``_call_impl`` frames are ``calls`` (innermost first):
        the innermost names itself, the outermost names the others (their ``self`` read from
        those two frames only)."""
        inner: Any = None
        root: Any = None
        for f in calls:
            inner = f.f_locals.get("self")
            if inner is not None:
                break
        if inner is None:
            return None
        for f in reversed(calls):
            root = f.f_locals.get("self")
            if root is not None:
                break
        key = (id(root), id(inner))
        got = self._labels.get(key)
        if got is not None and got[0] is root and got[1] is inner:
            return got[2]
        label, found = self._name(root, inner)
        if found:  # a module not (yet) under the outermost one is looked up again next time
            if len(self._labels) >= 4096:  # modules made afresh every step: start again
                self._labels.clear()
            self._labels[key] = (root, inner, label)
        return label

    def _name(self, root: Any, inner: Any) -> tuple[str, bool]:
        entry = self._names.get(id(root))
        if entry is None or entry[0] is not root:
            names = {id(m): n for n, m in root.named_modules(remove_duplicate=False)}
            entry = (root, names)
            self._names[id(root)] = entry
        name = entry[1].get(id(inner))
        if name is None:  # a module created during forward: rebuild once
            entry[1].update({id(m): n for n, m in root.named_modules(remove_duplicate=False)})
            name = entry[1].get(id(inner))
        cls = type(inner).__name__
        if name is None:
            return f"? ({cls})", False
        return (f"{name} ({cls})" if name else cls), True
