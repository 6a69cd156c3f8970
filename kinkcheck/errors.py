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
