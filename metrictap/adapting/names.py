"""Metric names every sink accepts: MLflow's rules are the strictest, so all names follow them.

MLflow rejects a whole batch for one bad key, and framework tags such as skrl's
``Reward / Total reward (mean)`` contain characters it refuses. Unknown keys therefore pass
through a deterministic rewrite, and a registry keeps the rewritten names collision-free.

Imported where used, not at module level: ``hashlib``; so that ``import metrictap`` and ``metrictap
--help`` stay light and never load a framework, MLflow or a part of metrictap that the call does not
need.
"""

from __future__ import annotations

import re

MAX_LENGTH = 250
_QUALIFIER = re.compile(r"\s*\(([^()]*)\)")
_REJECTED = re.compile(r"[^\w.\- /]+")
_VALID = re.compile(r"[\w.\- /]+")


def is_valid(name: str) -> bool:
    """Whether *name* is emitted unchanged.

    That is: MLflow accepts it on every platform, and no path segment is empty, ``.``, ``..``
    or padded with whitespace.
    """
    if not name or len(name) > MAX_LENGTH or not _VALID.fullmatch(name) or name.startswith(".."):
        return False
    return all(part.strip() == part and part not in {"", ".", ".."} for part in name.split("/"))


def sanitize(key: str) -> str:
    """Rewrite *key* into a valid metric name.

    The rules, applied in order: a parenthesised qualifier becomes a path segment
    (``Stats / Inference time (ms)`` → ``Stats/Inference time/ms``); whitespace around ``/`` is
    dropped; every other rejected character run becomes ``_``; empty, ``.`` and ``..`` segments
    are removed, and a leading ``..`` becomes ``_``; names over 250 characters keep their first
    241 and end in a hash of the key.
    """
    if is_valid(key):
        return key
    text = _QUALIFIER.sub(lambda match: f"/{match[1]}", key)
    text = _REJECTED.sub("_", text)
    parts = [part.strip() for part in text.split("/")]
    name = "/".join(part for part in parts if part not in {"", ".", ".."}) or "_"
    if name.startswith(".."):  # MLflow reads a leading ".." as a path out of the run
        name = f"_{name.lstrip('.')}"
    if len(name) > MAX_LENGTH:
        name = _suffixed(name, key)
    return name


def _suffixed(name: str, key: str) -> str:
    import hashlib

    digest = hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:8]
    return f"{name[: MAX_LENGTH - 9].rstrip(' /')}-{digest}"


class NameRegistry:
    """Hands out one name per distinct key; a later key that would reuse a name gets a hash suffix."""

    def __init__(self) -> None:
        self._owners: dict[str, str] = {}

    def claim(self, name: str, key: str) -> str:
        """The name under which *key* is emitted, given the *name* its rule asked for."""
        owner = self._owners.setdefault(name, key)
        if owner == key:
            return name
        unique = _suffixed(name, key)
        self._owners.setdefault(unique, key)
        return unique
