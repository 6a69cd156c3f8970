"""Write a file so that readers see the old content or the new, never half of it.

Caches, trace files (written by every rank at the end of training), baselines and reports
all go through here: a temp file in the same folder, then ``os.replace``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: str | os.PathLike, data: bytes | str, *, fsync: bool = False, parents: bool = True) -> Path:
    """Write ``data`` (text is UTF-8) to ``path``, creating its folder unless ``parents`` is
    false (a user's ``-o out/x.html`` with a mistyped folder should fail). Raises OSError."""
    target = Path(path)
    if parents:
        target.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return target
