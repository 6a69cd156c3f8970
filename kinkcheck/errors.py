"""The one error base: bad input, configuration or usage, never a bug of ours.

Every ``KinkcheckError`` that reaches the command line is one line on stderr,
``kinkcheck: error: <message>``, and exit 2 (``kinkcheck/cli.py``). Library code raises
these without knowing about click.
"""

from __future__ import annotations


class KinkcheckError(Exception):
    """Bad input (a config key, a baseline, a git revision): one line, exit 2."""

    exit_code = 2

    @property
    def message(self) -> str:
        return str(self)


#: a module that is not installed -> what to install (``pip install ...``): the optional
#: extras first; the rest are the dependencies whose module and distribution names agree
_INSTALL = {"torch": "'kinkcheck[torch]'", "jax": "'kinkcheck[jax]'", "jaxlib": "'kinkcheck[jax]'"}


def missing_dependency(exc: BaseException) -> str | None:
    """``rich, which is not installed (pip install rich)`` when ``exc`` says a module outside
    kinkcheck is not installed, else None (a missing part of kinkcheck is a broken install:
    an internal error). Only a module that cannot be found at all counts, never one that
    failed while importing or lacks a name."""
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return None
    top = exc.name.partition(".")[0]
    if top == "kinkcheck":
        return None
    if top != exc.name:  # a submodule: missing from an installed package is a version problem
        import importlib.util

        try:
            if importlib.util.find_spec(top) is not None:
                return None
        except (ImportError, ValueError):
            pass
    install = _INSTALL.get(top, top)
    return f"the Python package '{top}', which is not installed (pip install {install})"
