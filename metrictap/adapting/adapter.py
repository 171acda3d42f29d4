"""Adapters: what to patch on a framework's object and where its numbers live, as data.

Each framework is one TOML file in ``metrictap.adapters`` (the repository's ``adapters/``
folder), all with the same closed schema (its tables are in ``_schema``); :class:`Adapter` is
the same schema built in code. Nothing here imports a framework: targets are matched by the
qualified names of their classes.

Imported where used, not at module level: ``tomllib``, ``tomli``, ``importlib``; so that ``import
metrictap`` and ``metrictap --help`` stay light and never load a framework, MLflow or a part of
metrictap that the call does not need.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, ClassVar

from metrictap.adapting.schema import Hook, Key, Match, Probe, Tracking, Transition, Update, section
from metrictap.errors import AdapterError, UnsupportedTargetError

__all__ = ["Adapter", "Hook", "Key", "Match", "Probe", "Tracking", "Transition", "Update", "find_adapter",
           "shipped_adapters"]


@dataclass(frozen=True)
class Adapter:
    """Everything metrictap needs to know about one framework.

    Built from the same schema as the files in ``adapters/``; pass one to
    ``track(..., adapter=...)`` for objects no shipped adapter knows::

        Adapter.from_mapping({"name": "mine", "match": {"classes": ["my.pkg.Agent"]},
                              "update": {"method": "learn"}})
    """

    name: str
    match: Match
    update: Update
    transition: Transition | None = None
    tracking: Tracking | None = None
    keys: tuple[Key, ...] = ()
    probes: tuple[Probe, ...] = ()
    hooks: tuple[Hook, ...] = field(default=())

    _SECTIONS: ClassVar[dict[str, type[Any]]] = {"match": Match, "update": Update, "transition": Transition,
                                                  "tracking": Tracking}
    _LISTS: ClassVar[dict[str, type[Any]]] = {"keys": Key, "probes": Probe, "hooks": Hook}

    @classmethod
    def from_mapping(cls, data: dict[str, Any], *, source: str = "adapter") -> Adapter:
        """Validate *data* against the adapter schema; errors name *source*, the key and what is accepted."""
        accepted = {"name", *cls._SECTIONS, *cls._LISTS}
        unknown = sorted(set(data) - accepted)
        if unknown:
            raise AdapterError(f"{source} has unknown sections {unknown}; accepted: {sorted(accepted)}")
        for required in ("name", "match", "update"):
            if required not in data:
                raise AdapterError(f"{source} lacks the required '{required}'")
        if not isinstance(data["name"], str):
            raise AdapterError(f"{source}: name must be a string, got {data['name']!r}")
        sections: dict[str, Any] = {key: section(kind, data[key], f"{source} [{key}]")
                    for key, kind in cls._SECTIONS.items() if key in data}
        lists: dict[str, Any] = {}
        for key, kind in cls._LISTS.items():
            items = data.get(key, [])
            if not isinstance(items, list):
                raise AdapterError(f"{source} [[{key}]] must be an array of tables")
            lists[key] = tuple(section(kind, item, f"{source} [[{key}]] #{i + 1}") for i, item in enumerate(items))
        return cls(name=data["name"], **sections, **lists)

    @classmethod
    def from_toml(cls, text: str, *, source: str = "adapter") -> Adapter:
        """Parse one adapter file's text."""
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10
            import tomli as tomllib
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise AdapterError(f"{source} is not valid TOML: {exc}") from None
        return cls.from_mapping(data, source=source)

    def serves(self, target: object) -> bool:
        """Whether *target*'s class, or one of its bases, is listed in ``match.classes``."""
        names = {f"{kind.__module__}.{kind.__qualname__}" for kind in type(target).__mro__}
        return not names.isdisjoint(self.match.classes)


def shipped_adapters() -> tuple[Adapter, ...]:
    """The adapters installed with metrictap, one per file in ``metrictap.adapters``, by file name."""
    import importlib.resources

    folder = importlib.resources.files("metrictap.adapters")
    files = sorted((item for item in folder.iterdir() if item.name.endswith(".toml")), key=lambda item: item.name)
    return tuple(Adapter.from_toml(item.read_text(encoding="utf-8"), source=f"adapters/{item.name}")
                 for item in files)


def find_adapter(target: object, adapter: Adapter | None = None) -> Adapter:
    """The adapter for *target*: the one given, else the first shipped adapter that serves it."""
    if adapter is not None:
        return adapter
    known = shipped_adapters()
    for candidate in known:
        if candidate.serves(target):
            return candidate
    kind = type(target)
    frameworks = "; ".join(f"{candidate.name} ({candidate.match.hint})" if candidate.match.hint else candidate.name
                           for candidate in known)
    raise UnsupportedTargetError(
        f"metrictap has no adapter for {kind.__module__}.{kind.__qualname__}; known frameworks: {frameworks}. "
        "Pass the object named for your framework, or adapter=Adapter.from_mapping(...)"
    )
