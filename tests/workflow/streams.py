"""Run a CLI entry point in this process on byte streams (not terminals), as a pipe or a file
would give them: shared by the fast-path and the output-encoding tests (a module of its own, not
conftest, so a whole-suite run never finds another folder's file under the same name)."""

from __future__ import annotations

import io
import sys


def run_bytes(main, argv: list[str], *, encoding: str = "utf-8", stdin: bytes = b"",
              err_errors: str = "strict") -> tuple[int, bytes, bytes]:
    """(exit code, stdout bytes, stderr bytes) of ``main(argv)``; stdout declares ``encoding``
    with strict errors (what ``PYTHONIOENCODING`` gives it), stderr ``err_errors``."""
    saved = sys.stdin, sys.stdout, sys.stderr
    out, err = io.BytesIO(), io.BytesIO()
    streams = (io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"),
               io.TextIOWrapper(out, encoding=encoding, errors="strict", write_through=True),
               io.TextIOWrapper(err, encoding=encoding, errors=err_errors, write_through=True))
    sys.stdin, sys.stdout, sys.stderr = streams
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
    printed = out.getvalue(), err.getvalue()
    for stream in streams:
        stream.detach()
    return code, *printed
