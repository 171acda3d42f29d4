"""Adapters: what to patch on a framework's object and where its numbers live, as data.

Each framework is one TOML file in ``metrictap.adapters`` (the repository's ``adapters/``
folder), all with the same closed schema; :class:`Adapter` is the same schema built in code.
Nothing here imports a framework: targets are matched by the qualified names of their classes.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from typing import Any, ClassVar

from metrictap._names import is_valid
from metrictap.errors import AdapterError, UnsupportedTargetError


def _strings(value: object, where: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise AdapterError(f"{where} must be a string or a list of strings, got {value!r}")
    return tuple(items)


def _boolean(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise AdapterError(f"{where} must be true or false, got {value!r}")
    return value


def _number(value: object, where: str) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise AdapterError(f"{where} must be a number, got {value!r}")
    return float(value)


def _string(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise AdapterError(f"{where} must be a string, got {value!r}")
    return value


_CONVERTERS: dict[str, Any] = {"tuple[str, ...]": _strings, "bool": _boolean, "float": _number}


def _section(cls: type[Any], data: object, where: str) -> Any:
    """Build one frozen spec from a table, refusing keys the schema does not know."""
    if not isinstance(data, dict):
        raise AdapterError(f"{where} must be a table, got {data!r}")
    known = {spec.name: spec for spec in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise AdapterError(f"{where} has unknown keys {unknown}; accepted: {sorted(known)}")
    values = {key: _CONVERTERS.get(str(known[key].type), _string)(value, f"{where}.{key}")
              for key, value in data.items()}
    try:
        return cls(**values)
    except TypeError as exc:
        raise AdapterError(f"{where}: {exc}") from None


@dataclass(frozen=True)
class Match:
    """Which objects the adapter serves, how to read their learning state, and where their run's files go."""

    classes: tuple[str, ...]
    training: str = ""
    cycle: tuple[str, ...] = ()
    agents: str = ""
    directory: str = ""


@dataclass(frozen=True)
class Update:
    """The learning-update method to time and count; the first name present wins."""

    method: tuple[str, ...]
    step: str = "timestep"


@dataclass(frozen=True)
class Transition:
    """The per-env-step method whose arguments feed the tap's own episode accounting."""

    method: str
    rewards: str = "rewards"
    terminated: str = "terminated"
    truncated: str = "truncated"
    infos: str = "infos"
    step: str = "timestep"
    success: tuple[str, ...] = ()


@dataclass(frozen=True)
class Tracking:
    """An attribute mapping tags to lists of values that the framework appends to."""

    attribute: str
    flush: str = ""
    reduce: str = "mean"
    agent_suffix: str = " ({agent})"

    REDUCERS: ClassVar[tuple[str, ...]] = ("mean", "suffix")

    def __post_init__(self) -> None:
        if self.reduce not in self.REDUCERS:
            raise AdapterError(f"tracking.reduce={self.reduce!r}; accepted: {list(self.REDUCERS)}")


@dataclass(frozen=True)
class Key:
    """How one tag (a pattern with ``{placeholders}``) is renamed, scaled or dropped."""

    match: str
    name: str = ""
    drop: str = ""
    scale: float = 1.0
    divide_by: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if bool(self.name) == bool(self.drop):
            raise AdapterError(f"key {self.match!r} needs exactly one of 'name' or 'drop'")
        if self.name and not is_valid(self.name.replace("{", "").replace("}", "")):
            raise AdapterError(f"key {self.match!r}: name {self.name!r} is not a valid metric name")


@dataclass(frozen=True)
class Probe:
    """A value read off the target at emission when no tag supplied it (``{agent}`` expands)."""

    name: str
    read: tuple[str, ...]


@dataclass(frozen=True)
class Hook:
    """A call observed while the target updates: a method of one of its attributes, or a function.

    ``target`` is ``"attribute.path:method"`` on the tracked object (``{agent}`` expands), or
    ``"module.path:function"`` with ``module = true``; ``value`` is an argument name or ``"return"``.
    ``classes`` restricts an attribute hook to objects of those class names.
    """

    name: str
    target: str
    value: str = "return"
    module: bool = False
    classes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.target.count(":") != 1:
            raise AdapterError(f"hook {self.name!r}: target {self.target!r} must look like 'path:method'")


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
        sections: dict[str, Any] = {key: _section(kind, data[key], f"{source} [{key}]")
                    for key, kind in cls._SECTIONS.items() if key in data}
        lists: dict[str, Any] = {}
        for key, kind in cls._LISTS.items():
            items = data.get(key, [])
            if not isinstance(items, list):
                raise AdapterError(f"{source} [[{key}]] must be an array of tables")
            lists[key] = tuple(_section(kind, item, f"{source} [[{key}]] #{i + 1}") for i, item in enumerate(items))
        return cls(name=data["name"], **sections, **lists)

    @classmethod
    def from_toml(cls, text: str, *, source: str = "adapter") -> Adapter:
        """Parse one adapter file's text."""
        if sys.version_info >= (3, 11):
            import tomllib  # noqa: PLC0415 - adapters load on first use, not on import
        else:  # pragma: no cover - Python 3.10
            import tomli as tomllib  # noqa: PLC0415
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
    import importlib.resources  # noqa: PLC0415

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
    frameworks = ", ".join(candidate.name for candidate in known)
    raise UnsupportedTargetError(
        f"metrictap has no adapter for {kind.__module__}.{kind.__qualname__}; known frameworks: {frameworks}. "
        "Pass the framework's agent (for skrl: runner.agent), or adapter=Adapter.from_mapping(...)"
    )
