"""Routes from a framework's tags to emitted names, resolved once per tag and cached.

An adapter's ``[[keys]]`` rules rename, scale or drop tags; every other tag passes through
under its sanitised name. Multi-agent tags (``Loss / Policy loss (agent_0)``) are routed as
their single-agent tag with the agent id appended as a path segment (``policy_loss/agent_0``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from metrictap.adapting.adapter import Key
from metrictap.adapting.binding import Binding
from metrictap.adapting.names import NameRegistry, sanitize
from metrictap.adapting.paths import MISSING, first

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True, slots=True)
class Route:
    """Where one tag's values go: the emitted *name*, how a window reduces them, and a factor."""

    name: str
    reduce: str = "mean"
    factor: float = 1.0


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A regex for a rule's ``match``: literal text, with each ``{name}`` capturing one or more characters."""
    parts = _PLACEHOLDER.split(pattern)
    regex = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+)" for i, part in enumerate(parts))
    return re.compile(regex)


def suffix_reducer(tag: str) -> str:
    """Skrl's writer rule: a ``(min)`` tag reduces by min, ``(max)`` by max, anything else by mean."""
    if tag.endswith("(min)"):
        return "min"
    if tag.endswith("(max)"):
        return "max"
    return "mean"


class Router:
    """Maps each tag of one bound target to a :class:`Route`, or to the reason it is dropped."""

    def __init__(self, binding: Binding) -> None:
        adapter = binding.adapter
        self._rules = [(compile_pattern(rule.match), rule) for rule in adapter.keys
                       if not rule.classes or not binding.classes.isdisjoint(rule.classes)]
        self._target = binding.target
        self._suffixes = {adapter.tracking.agent_suffix.replace("{agent}", agent): agent
                          for agent in binding.agents} if adapter.tracking else {}
        self._by_suffix = adapter.tracking is not None and adapter.tracking.reduce == "suffix"
        self._names = NameRegistry()
        for rule in adapter.keys:
            if rule.name and not _PLACEHOLDER.search(rule.name):
                self._names.claim(rule.name, rule.name)
        self._cache: dict[str, Route | str] = {}

    def route(self, tag: str) -> Route | str:
        """The route for *tag*, or why it is dropped.

        The reason is ``"superseded"`` for a rule that drops the tag, or ``"unresolved"`` when a
        rule's ``divide_by`` reads nothing usable on the target.
        """
        cached = self._cache.get(tag)
        if cached is None:
            cached = self._cache[tag] = self._resolve(tag)
        return cached

    def _resolve(self, tag: str) -> Route | str:
        base, agent = tag, ""
        for suffix, candidate in self._suffixes.items():
            if tag.endswith(suffix):
                base, agent = tag[: -len(suffix)], candidate
                break
        reduce = suffix_reducer(base) if self._by_suffix else "mean"
        for pattern, rule in self._rules:
            found = pattern.fullmatch(base)
            if found:
                return self._apply(rule, found.groupdict(), agent, reduce)
        name = sanitize(tag)
        return Route(self._names.claim(name, tag), reduce)

    def _apply(self, rule: Key, captures: dict[str, str], agent: str, reduce: str) -> Route | str:
        if rule.drop:
            return "superseded"
        factor = rule.scale
        if rule.divide_by:
            divisor = first(self._target, rule.divide_by, agent)
            if divisor is MISSING or not isinstance(divisor, (int, float)) or not divisor:
                return "unresolved"
            factor /= float(divisor)
        name = sanitize(rule.name.format(**captures))
        if agent:
            name = f"{name}/{sanitize(agent)}"
        return Route(self._names.claim(name, name), rule.reduce or reduce, factor)
