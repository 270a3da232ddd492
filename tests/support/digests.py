"""Short digests that name what a shared thing is made from: a tree of files, a set of answers."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def tree_digest(root: Path, exclude=(".git", "__pycache__", ".pytest_cache", ".ruff_cache")) -> str:
    """A digest of every file's path and content below root: equal trees give equal digests."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root)
        if any(part in exclude for part in relative.parts):
            continue
        digest.update(str(relative).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def context_key(context: dict) -> str:
    return hashlib.sha256(json.dumps(context, sort_keys=True).encode()).hexdigest()[:12]
