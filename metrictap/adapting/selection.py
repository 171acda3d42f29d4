"""The ``only=`` filter: canonical names or glob patterns, checked against what can be produced.

A name selects itself and its children (``policy_loss`` also selects ``policy_loss/agent_0``
of a multi-agent run, ``q1`` selects ``q1/mean``). A typo is an error on entry, with a close
match suggested, because a filter that matches nothing silently logs nothing.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from fnmatch import fnmatchcase

from metrictap.adapting.adapter import Adapter
from metrictap.adapting.catalogue import sources

_GLOB = re.compile(r"[*?\[]")
_GLOB_RUN = re.compile(r"\*+|\?|\[[^]]*\]")
_PLACEHOLDER = re.compile(r"\{\w+\}")


class Selection:
    """Decides, once per name, whether a metric is emitted."""

    def __init__(self, only: Iterable[str] | None, catalogue: Iterable[str], framework: str) -> None:
        catalogue = tuple(catalogue)
        self.only = None if only is None else frozenset(_names(only))
        self.names = tuple(_PLACEHOLDER.sub("", entry) for entry in catalogue)  # placeholders taken as empty
        self._cache: dict[str, bool] = {}
        if self.only is not None:
            _check(self.only, catalogue, framework)

    @classmethod
    def for_adapter(cls, only: Iterable[str] | None, adapter: Adapter) -> Selection:
        """The ``only=`` filter, checked against every name the tap and *adapter* can produce."""
        return cls(only, sources(adapter), adapter.name)

    def accepts(self, name: str) -> bool:
        """Whether *name* passes the filter."""
        if self.only is None:
            return True
        verdict = self._cache.get(name)
        if verdict is None:
            verdict = self._cache[name] = any(
                name == item or name.startswith(f"{item}/") or (_GLOB.search(item) and fnmatchcase(name, item))
                for item in self.only)
        return verdict

    def covers(self, name: str) -> bool:
        """Whether *name* or a name below it (``name/...``) may pass: what cannot need not be collected at all.

        A glob with a ``/`` in it may match some child of any name, so it covers every name.
        """
        if self.only is None or self.accepts(name):
            return True
        return any(item.startswith(f"{name}/") or ("/" in item and _GLOB.search(item)) for item in self.only)


def _names(only: Iterable[str]) -> list[str]:
    if isinstance(only, str):
        raise TypeError(f"only={only!r} is a single string; pass a set of names, e.g. only={{{only!r}}}")
    if not isinstance(only, Iterable):
        raise TypeError(f"only={only!r}; accepted: None (every metric) or a set of metric names or glob patterns")
    items = list(only)
    if not items:
        raise ValueError(f"only={only!r} selects nothing, so the tap would log nothing; accepted: None (every metric) "
                         "or a non-empty set of metric names or glob patterns")
    bad = [item for item in items if not isinstance(item, str) or not item]
    if bad:
        raise TypeError(f"only= takes non-empty metric names or glob patterns, got {bad!r}")
    return items


def _check(only: frozenset[str], catalogue: tuple[str, ...], framework: str) -> None:
    patterns = [_PLACEHOLDER.sub("*", entry) for entry in catalogue]
    examples = [_PLACEHOLDER.sub("x", entry) for entry in catalogue]
    literal = sorted({entry for entry in catalogue if not _PLACEHOLDER.search(entry)})
    for item in sorted(only):
        if _GLOB.search(item):
            instance = _GLOB_RUN.sub("x", item)
            known = any(fnmatchcase(example, item) for example in examples) or any(
                fnmatchcase(instance, pattern) for pattern in patterns)
        else:
            known = any(fnmatchcase(item, pattern) or item.startswith(f"{pattern}/") for pattern in patterns)
        if not known:
            close = difflib.get_close_matches(item, literal, n=3, cutoff=0.6)
            hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
            raise ValueError(f"only= names {item!r}, which nothing the {framework} adapter or the tap produces "
                             f"matches; {hint}known names: {', '.join(literal)}")
