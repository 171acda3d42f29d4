"""Dotted paths into live objects, as adapter files spell them (``optimizer.param_groups.0.lr``).

A part indexes a mapping by key, a sequence by position, anything else by attribute, so one
path reads skrl 2.x's dataclass configs and 1.4.x's dict configs alike. A method is named
``name`` on the tracked object itself or ``path:name`` on the object at ``path`` (rsl_rl's
``alg:update``), so the framework's numbers may live on any object the target reaches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

MISSING = object()


def resolve(root: object, path: str) -> object:
    """The object at *path* below *root*, or :data:`MISSING` where any part is absent."""
    current = root
    for part in path.split("."):
        # Exact dicts and lists are tested first: for them the ABC checks cost more than the lookup itself.
        if type(current) is dict or isinstance(current, Mapping):
            current = current.get(part, MISSING)
        elif part.isdigit() and (type(current) is list
                                 or (isinstance(current, Sequence) and not isinstance(current, str))):
            index = int(part)
            current = current[index] if index < len(current) else MISSING
        else:
            current = getattr(current, part, MISSING)
        if current is MISSING:
            return MISSING
    return current


def first(root: object, paths: Sequence[str], agent: str = "") -> object:
    """The first of *paths* that resolves (``{agent}`` filled in), indexed by *agent* if it is per-agent."""
    for path in paths:
        value = resolve(root, path.replace("{agent}", agent))
        if value is not MISSING:
            if agent and isinstance(value, Mapping):
                value = value.get(agent, MISSING)
                if value is MISSING:
                    continue
            return value
    return MISSING


def method_at(root: object, reference: str) -> tuple[object, str] | None:
    """The owner and name of the method *reference* (``name`` or ``path:name``) names below *root*, or None."""
    path, _, name = reference.rpartition(":")
    owner = resolve(root, path) if path else root
    if owner is MISSING or not callable(getattr(owner, name, None)):
        return None
    return owner, name


def expand(path: str, agents: Sequence[str]) -> list[tuple[str, str]]:
    """``(path, agent)`` pairs: one per agent where *path* contains ``{agent}``, else the path itself."""
    if "{agent}" not in path:
        return [(path, "")]
    return [(path.replace("{agent}", agent), agent) for agent in agents]
