"""Names of the files the pipeline publishes, shared by the writers (pipelines/reports) and the
checks that look for them (quality/artifacts.py), so that a check never imports a report writer."""

from __future__ import annotations

import hashlib
import re

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_file_stem(owner: str) -> str:
    """A file-name stem for an owner: letters, digits, '.', '_' and '-', never a path or a dot-file.

    Names that had to change get a short hash of the original, so two owners that sanitise to the
    same text ('sec ops' and 'sec/ops') still get different files.
    """
    stem = _UNSAFE.sub("_", owner).strip("._-")[:80]
    if stem != owner or not stem:
        digest = hashlib.sha256(owner.encode("utf-8")).hexdigest()[:8]
        stem = f"{stem or 'owner'}-{digest}"
    return stem
