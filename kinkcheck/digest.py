"""Short digests for keys (the settings fingerprint, the catalog's cache file, the functions
of a cache entry) that load no extra library: BLAKE2 is built into CPython, while
``import hashlib`` loads OpenSSL, about 3 ms of a one-file check that never reads or writes
its cache. Not for anything secret (the cache's MAC stays on hashlib's HMAC-SHA256)."""

from __future__ import annotations

try:
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - a Python built without its own BLAKE2
    from hashlib import blake2b

__all__ = ["blake2b", "short_hash"]


def short_hash(data: str | bytes, chars: int = 16) -> str:
    """``chars`` hex digits of the BLAKE2b digest of ``data`` (text is hashed as UTF-8)."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    return blake2b(raw, digest_size=(chars + 1) // 2).hexdigest()[:chars]
