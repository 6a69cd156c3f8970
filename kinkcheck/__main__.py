"""``kinkcheck`` (the console script) and ``python -m kinkcheck``.

``kinkcheck check PATH...``, the pre-commit hook's run, starts without importing click
(``kinkcheck/commands/fast.py``: the same run, the same output); every other invocation is
the click app of ``kinkcheck/cli.py``.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None, prog_name: str = "kinkcheck") -> None:
    """Entry point. Exit codes: 0 clean, 1 undocumented kinks, 2 usage or internal error."""
    args = sys.argv[1:] if argv is None else list(argv)
    from kinkcheck.commands.fast import parse, run

    parsed = parse(args)
    if parsed is not None:
        params, debug = parsed
        sys.exit(run(params, debug=debug, own_process=argv is None))  # no argv: the program itself
    from kinkcheck.cli import main as click_main

    click_main(args, prog_name=prog_name)


if __name__ == "__main__":
    main()
