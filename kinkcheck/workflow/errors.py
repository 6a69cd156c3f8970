"""The one error type of the workflow options (baseline, --diff)."""

from __future__ import annotations

from kinkcheck.errors import KinkcheckError


class WorkflowError(KinkcheckError):
    """Bad workflow input (an unreadable baseline, a git revision that does not exist):
    one line on stderr, exit 2 (see :class:`kinkcheck.errors.KinkcheckError`)."""
