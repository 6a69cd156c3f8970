"""Write a file so that readers see the old content or the new, never half of it.

Caches, trace files (written by every rank at the end of training), baselines and reports
all go through here: a temp file in the same folder, then ``os.replace``.

Where a write may land is checked first (:func:`ensure_regular_target`): never a device, a
FIFO, a socket or a directory, never anything in ``/proc``, ``/sys`` or ``/dev`` (a run as
root would otherwise rename a report over ``/dev/null``). A symbolic link is not followed:
the rename replaces the link itself and leaves the file it pointed to alone, so a link
planted in a checkout cannot make a report overwrite a file elsewhere. New files get the
mode ``open()`` would give them (0o666 less the umask); a file that is replaced keeps its
mode.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

#: Pseudo file systems whose entries are kernel or device interfaces, never report files.
FORBIDDEN_ROOTS: tuple[str, ...] = ("/proc", "/sys", "/dev")
#: ...except the shared-memory tmpfs, which holds ordinary files.
ALLOWED_UNDER_FORBIDDEN: tuple[str, ...] = ("/dev/shm",)


class UnsafeTarget(OSError):
    """A path that must not be written; an OSError so that ``except OSError`` callers
    print ``strerror`` as their one line."""


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _forbidden(real: str) -> str | None:
    if any(_under(real, ok) for ok in ALLOWED_UNDER_FORBIDDEN):
        return None
    return next((root for root in FORBIDDEN_ROOTS if _under(real, root)), None)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def ensure_regular_target(path: str | os.PathLike) -> Path:
    """``path`` if a file may be written there, else :class:`UnsafeTarget` saying why.

    Refused: an existing entry that is not a regular file or a symlink (a device, FIFO,
    socket or directory); a symlink whose target is in /proc, /sys or /dev or is not a
    regular file (``-o /dev/stdout`` is refused rather than replaced); a folder in /proc,
    /sys or /dev (``/dev/shm`` is allowed)."""
    target = Path(path)
    name = str(path)
    try:
        st = os.lstat(target)
    except OSError:  # missing (or unreadable: the write will say why)
        st = None
    if st is not None and stat.S_ISLNK(st.st_mode):
        real = os.path.realpath(target)
        where = next(filter(None, map(_forbidden, [*_hops(target), real])), None)
        if where:
            raise UnsafeTarget(errno.EPERM, f"is a symbolic link into {where}; refusing to write there", name)
        try:
            pointed = os.stat(real)
        except OSError:
            pointed = None  # a dangling link: the rename replaces the link
        if pointed is not None and not stat.S_ISREG(pointed.st_mode):
            raise UnsafeTarget(errno.EINVAL, f"is a symbolic link to {_kind(pointed.st_mode)}; refusing to write there", name)
    elif st is not None and not stat.S_ISREG(st.st_mode):
        raise UnsafeTarget(errno.EISDIR if stat.S_ISDIR(st.st_mode) else errno.EINVAL,
                           f"is {_kind(st.st_mode)}, not a regular file; refusing to write there", name)
    where = _forbidden(os.path.realpath(target.parent))
    if where:
        raise UnsafeTarget(errno.EPERM, f"refusing to write into {where} (not a place for a file)", name)
    return target


def _hops(link: Path, limit: int = 40) -> list[str]:
    """Every path a chain of symlinks passes through (``/dev/stdout`` -> ``/proc/self/fd/1``
    -> ...), so that a link into /proc is refused even when /proc points back out again."""
    out, current = [], str(link)
    for _ in range(limit):
        try:
            nxt = os.readlink(current)
        except OSError:
            break
        current = os.path.normpath(os.path.join(os.path.dirname(current), nxt))
        out.append(current)
    return out


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (``os.umask`` sets
    it, which races with other threads writing files)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mode_for(target: Path) -> int:
    try:
        st = os.lstat(target)
        if stat.S_ISREG(st.st_mode):
            return stat.S_IMODE(st.st_mode) & 0o777
    except OSError:
        pass
    return 0o666 & ~current_umask()


def write_atomic(path: str | os.PathLike, data: bytes | str, *, fsync: bool = False, parents: bool = True,
                 mode: int | None = None) -> Path:
    """Write ``data`` (text is UTF-8) to ``path``, creating its folder unless ``parents`` is
    false (a user's ``-o out/x.html`` with a mistyped folder should fail). ``mode`` fixes the
    permissions (a private cache may want 0o600); by default a new file gets 0o666 less the
    umask and a replaced file keeps its mode. Raises OSError (:class:`UnsafeTarget` for a
    path that is refused)."""
    target = Path(path)
    ensure_regular_target(target)
    if parents:
        target.parent.mkdir(parents=True, exist_ok=True)
    # a file name that is not UTF-8 (read as surrogates) is written as a `\udcff` escape, which a
    # JSON reader turns back into the same name
    payload = data.encode("utf-8", "backslashreplace") if isinstance(data, str) else data
    final_mode = _mode_for(target) if mode is None else mode
    import tempfile  # only when writing: a cached or --no-cache run never pays for it

    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            if hasattr(os, "fchmod"):
                os.fchmod(fh.fileno(), final_mode)
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
