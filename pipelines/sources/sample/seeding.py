"""Deterministic randomness and identifiers for the sample tenant.

Every random stream is seeded from (tenant seed, tenant name, day, stream name) through numpy's
SeedSequence with integer entropy taken from SHA-256, never from Python's salted hash(): the same
inputs give the same rows in every process, whatever was generated before.
"""

from __future__ import annotations

import hashlib
import uuid

import numpy as np


def _words(text: str) -> list[int]:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 32, 4)]


def rng_for(seed: int, tenant: str, stream: str, day: int = -1) -> np.random.Generator:
    """A Generator for one (tenant seed, tenant, stream, day ordinal); day -1 = the static world."""
    entropy = [seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF, day + 1, *_words(f"{tenant}\x1f{stream}")]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


def stable_guid(*parts: object) -> str:
    """A GUID (random-UUID layout) derived from the parts; lower-case like Sentinel's ids."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def stable_hex(length: int, *parts: object) -> str:
    """A lower-case hex string (a fake hash or a 40-hex DeviceId) derived from the parts."""
    out = ""
    counter = 0
    while len(out) < length:
        out += hashlib.sha256("\x1f".join(map(str, (*parts, counter))).encode("utf-8")).hexdigest()
        counter += 1
    return out[:length]


def stable_int(*parts: object) -> int:
    """A non-negative 63-bit integer derived from the parts."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def zipf_weights(n: int, exponent: float) -> np.ndarray:
    """Normalised Zipf-like weights 1/rank^exponent for ranks 1..n (heavy-tailed popularity)."""
    w = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** exponent
    return w / w.sum()
