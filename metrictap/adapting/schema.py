"""The sections of the adapter schema: one frozen dataclass per table, closed to unknown keys.

Every framework fills the same tables. Where its numbers live is data: a method is named by a
reference (``name`` on the tracked object, ``path:name`` on an object it reaches, or
``module:qualname`` for a hook with ``module = true``), values by dotted paths and argument
names, so a new framework needs a new file rather than new code.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from metrictap.adapting.names import is_valid
from metrictap.errors import AdapterError


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


def _parts(value: object, where: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not isinstance(value, dict) or not value:
        raise AdapterError(f"{where} must be a table of labels to paths, got {value!r}")
    for label in value:
        if not is_valid(label) or "/" in label:
            raise AdapterError(f"{where}: label {label!r} is not a valid metric name segment")
    return tuple((label, _strings(paths, f"{where}.{label}")) for label, paths in value.items())


def _string(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise AdapterError(f"{where} must be a string, got {value!r}")
    return value


_CONVERTERS: dict[str, Any] = {"tuple[str, ...]": _strings, "bool": _boolean, "float": _number,
                               "tuple[tuple[str, tuple[str, ...]], ...]": _parts}


def section(cls: type[Any], data: object, where: str) -> Any:
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


def _check_reference(reference: str, where: str) -> None:
    path, _, name = reference.rpartition(":")
    if not name or ":" in path or not all(path.split(".") if path else [True]):
        raise AdapterError(f"{where}: {reference!r} is not a method reference; accepted: 'name' or 'path:name'")


@dataclasses.dataclass(frozen=True)
class Match:
    """Which objects the adapter serves, how to read their learning state, and where their run's files go.

    ``hint`` says what users should pass; ``directory`` is the path of the run's local folder (the spool is
    written there).
    """

    classes: tuple[str, ...]
    hint: str = ""
    training: str = ""
    cycle: tuple[str, ...] = ()
    agents: str = ""
    directory: str = ""


@dataclasses.dataclass(frozen=True)
class Update:
    """The learning-update method to time and count (the first reference present wins), and its step argument.

    ``axis`` is the framework's own x axis, the default of ``track(step=...)``, so that a run in
    the tracker lines up with the framework's own logs: one of :attr:`AXES` (``timestep``: the
    step argument + 1; ``timesteps``: env steps over all envs; ``iterations``: updates since the
    tap started), or a dotted path to an int on the tracked object, read when a window closes
    (rsl_rl's ``current_learning_iteration``).
    """

    method: tuple[str, ...]
    step: str = "timestep"
    axis: str = "timestep"

    AXES: ClassVar[tuple[str, ...]] = ("timestep", "timesteps", "iterations")

    def __post_init__(self) -> None:
        for reference in self.method:
            _check_reference(reference, "update.method")


@dataclasses.dataclass(frozen=True)
class Transition:
    """The per-env-step call whose arguments feed the tap's own episode accounting.

    Each field names an argument of that call; an empty one means the framework passes none.
    Without ``rewards`` the tap only counts env steps (episode metrics then come from the
    framework's own keys); without ``truncated``, ``terminated`` flags every episode end;
    without ``step`` the tap counts calls. ``begins`` names the method the framework calls first
    in each env step, before it tracks anything of that step (skrl's ``pre_interaction``): a
    window that fell due closes there, so it holds exactly the steps it names, including what the
    framework tracked after the update. Without it a due window closes in the next transition
    call, which suits frameworks that track nothing of a step before that call.
    """

    method: str
    rewards: str = "rewards"
    terminated: str = "terminated"
    truncated: str = "truncated"
    infos: str = "infos"
    step: str = "timestep"
    success: tuple[str, ...] = ()
    begins: str = ""

    def __post_init__(self) -> None:
        _check_reference(self.method, "transition.method")
        if self.begins:
            _check_reference(self.begins, "transition.begins")
        if not self.terminated:
            raise AdapterError("transition.terminated must name the argument that flags episode ends")


@dataclasses.dataclass(frozen=True)
class Tracking:
    """A mapping (at a path) of tags to lists of values that the framework appends to and ``flush`` clears."""

    attribute: str
    flush: str = ""
    reduce: str = "mean"
    agent_suffix: str = " ({agent})"

    REDUCERS: ClassVar[tuple[str, ...]] = ("mean", "suffix")

    def __post_init__(self) -> None:
        if self.reduce not in self.REDUCERS:
            raise AdapterError(f"tracking.reduce={self.reduce!r}; accepted: {list(self.REDUCERS)}")
        if self.flush:
            _check_reference(self.flush, "tracking.flush")


@dataclasses.dataclass(frozen=True)
class Key:
    """How one tag (a pattern with ``{placeholders}``) is renamed, scaled, reduced or dropped.

    ``reduce`` overrides how a window folds the tag's values: ``last`` suits values that are
    already rolling means, such as Stable-Baselines3's ``rollout/ep_rew_mean``.
    """

    match: str
    name: str = ""
    drop: str = ""
    scale: float = 1.0
    divide_by: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    reduce: str = ""

    REDUCERS: ClassVar[tuple[str, ...]] = ("", "mean", "min", "max", "last")

    def __post_init__(self) -> None:
        if bool(self.name) == bool(self.drop):
            raise AdapterError(f"key {self.match!r} needs exactly one of 'name' or 'drop'")
        if self.name and not is_valid(self.name.replace("{", "").replace("}", "")):
            raise AdapterError(f"key {self.match!r}: name {self.name!r} is not a valid metric name")
        if self.reduce not in self.REDUCERS:
            raise AdapterError(f"key {self.match!r}: reduce={self.reduce!r}; accepted: {list(self.REDUCERS[1:])}")


@dataclasses.dataclass(frozen=True)
class Probe:
    """A value read off the target at emission when no tag supplied it (``{agent}`` expands)."""

    name: str
    read: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Hook:
    """A call observed while the tap is active, and the values it yields.

    ``target`` is ``"path:method"`` on the tracked object (``{agent}`` expands), or, with
    ``module = true``, ``"module:function"`` or ``"module:Class.method"``. A class's method
    needs ``instance``: the path, on the tracked object, of the one instance whose calls count
    (Stable-Baselines3 creates its logger inside ``learn()``, after the tap is entered).

    A call yields either ``name`` with ``value`` (an argument name, or ``"return"``), emitted
    under that name; or ``tag`` (the argument that holds a tag) with ``value``, routed through
    the keys like any framework tag; or ``arguments``: argument names, each optionally followed
    by a dotted path into it, each a tag, and a mapping's items tags ``<argument>/<key>``.
    ``mean = true`` records the mean of array values. ``during = "update"`` records only the
    calls made while the target's update runs on that thread, ``"tap"`` every call.
    ``classes`` restricts an attribute hook to owners of those class names.

    ``parts`` tells apart calls over different networks' parameters, such as the gradient clips
    of frameworks that clip actor and critic separately: each label names the paths of modules on
    the tracked object, and ``parameters`` the argument that holds the parameters of a call. A
    call over every part present yields ``name`` (the total); one over only some of them yields
    ``name/<label>`` (labels joined by ``_``); one over none of them, ``name``. A generator of
    parameters is read into a list before the call, so that the call still gets all of them.

    ``stamp`` (instead of a value) names the argument of a call with which the framework writes
    out, at that step, the tags recorded since its previous such call (Stable-Baselines3's
    ``Logger.dump(step)``): the tags a window recorded before it are emitted at that step, as the
    framework logged them, and the rest at the window's own step (all at the window's step where
    ``track(step=...)`` picks another axis than the framework's own).
    """

    target: str
    name: str = ""
    value: str = "return"
    tag: str = ""
    arguments: tuple[str, ...] = ()
    mean: bool = False
    during: str = "update"
    module: bool = False
    instance: str = ""
    classes: tuple[str, ...] = ()
    parts: tuple[tuple[str, tuple[str, ...]], ...] = ()
    parameters: str = "parameters"
    stamp: str = ""

    DURING: ClassVar[tuple[str, ...]] = ("update", "tap")

    def __post_init__(self) -> None:
        label = f"hook {self.name or self.tag or self.target!r}"
        if self.target.count(":") != 1:
            raise AdapterError(f"{label}: target {self.target!r} must look like 'path:method'")
        if sum(map(bool, (self.name, self.tag, self.arguments, self.stamp))) != 1:
            raise AdapterError(f"{label} needs exactly one of 'name', 'tag', 'arguments' or 'stamp'")
        if self.arguments and self.value != "return":
            raise AdapterError(f"{label}: 'value' does not apply to 'arguments', which are read by name")
        if self.during not in self.DURING:
            raise AdapterError(f"{label}: during={self.during!r}; accepted: {list(self.DURING)}")
        if "{agent}" in self.target and not self.name:
            raise AdapterError(f"{label}: a per-agent target needs 'name', which the agent id extends")
        if self.instance and not self.module:
            raise AdapterError(f"{label}: 'instance' applies to module hooks; an attribute hook names its owner")
        if self.module and ("." in self.target.split(":")[1]) != bool(self.instance):
            raise AdapterError(f"{label}: a module hook on 'Class.method' needs 'instance'; one on a function has none")
        if self.parts and not (self.name and self.module and not self.instance):
            raise AdapterError(f"{label}: 'parts' applies to a module function hook with 'name'")
        if self.module and not self.instance and self.during != "update":
            raise AdapterError(f"{label}: a module function is shared by every tap, so only calls during an update "
                               "can be attributed to one; use during = 'update'")
