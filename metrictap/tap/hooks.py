"""Adapter hooks: calls observed while a tap is active, and the values they carry.

skrl computes the KL divergence for its KL-adaptive scheduler and the gradient norm when it
clips gradients, and logs neither; rsl_rl hands its losses to its logger's ``log`` call;
Stable-Baselines3 records every number through ``Logger.record``. A hook wraps such a call and
records what its adapter says the call carries (see :class:`~metrictap.adapting.schema.Hook`).

Who a call belongs to: a method of an object the target reaches is patched on that object, so
its calls are the tap's; a module function is shared by every tap, patched once, and belongs
to the tap whose update runs on the calling thread; a class's method is patched on the class
and belongs to the tap whose target holds the calling instance at the hook's ``instance`` path.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from metrictap.adapting.binding import Binding
from metrictap.adapting.paths import MISSING, expand, resolve
from metrictap.adapting.schema import Hook
from metrictap.tap.patching import ArgumentReader, Patches, active, guard

_captures: dict[str, dict[int, list[Capture]]] = {}  # module function hook -> id(recorder) -> its captures


class Recorder(Protocol):
    """**Protocol**: where hooks put what they observe (a tap's collector)."""

    def on_hook(self, name: str, value: object) -> None:
        """Record *value* under the canonical *name*."""

    def on_tag(self, tag: str, value: object) -> None:
        """Record *value* of the framework tag *tag*."""

    def on_stamp(self, step: object) -> None:
        """The framework wrote out, at *step*, the tags recorded so far."""

    def fail(self, kind: str, exc: BaseException) -> None:
        """Count (or, when strict, raise) an error of the tap's own."""


class Capture:
    """What one hook takes from one call, read by the signature of the function it observes."""

    def __init__(self, hook: Hook, function: Callable[..., Any], agent: str = "",
                 binding: Binding | None = None) -> None:
        self.name = f"{hook.name}/{agent}" if agent and hook.name else hook.name
        self._binding, self._parts = binding, hook.parts
        self._parameters = ArgumentReader(function, hook.parameters) if hook.parts else None
        self._part_ids: list[tuple[str, str, frozenset[int]]] | None = None  # label, agent, parameter ids
        self._mean = hook.mean
        self._value = None if hook.value == "return" else ArgumentReader(function, hook.value)
        self._tag = ArgumentReader(function, hook.tag) if hook.tag else None
        self._stamp = ArgumentReader(function, hook.stamp) if hook.stamp else None
        self._arguments = [(spec, ArgumentReader(function, spec.partition(".")[0]), spec.partition(".")[2])
                           for spec in hook.arguments]

    def prepare(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The call's arguments, a generator of parameters read into a list that the call and :meth:`record` share."""
        if self._parameters is None:
            return args, kwargs
        value: Any = self._parameters.read(args, kwargs)
        if value is MISSING or isinstance(value, (list, tuple)) or hasattr(value, "detach"):
            return args, kwargs
        return self._parameters.replace(args, kwargs, list(value))

    def _named(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        """The hook's name, extended by the labels of the parts a call covers when it covers only some of them.

        Parts of a multi-agent target (paths with ``{agent}``) are told apart per agent, whose id ends the name.
        """
        value: Any = MISSING if self._parameters is None else self._parameters.read(args, kwargs)
        if value is MISSING or self._binding is None:
            return self.name
        called = {id(item) for item in ([value] if hasattr(value, "detach") else value)}
        if self._part_ids is None:  # a network's parameters stay the same objects: resolved once per tap
            self._part_ids = self._resolve_parts(self._binding)
        covered = [(label, agent) for label, agent, ids in self._part_ids if ids and not ids.isdisjoint(called)]
        agents = {agent for _, agent in covered}
        if len(agents) != 1:  # no known network, or a clip across agents
            return self.name
        agent = agents.pop()
        present = [label for label, owner, ids in self._part_ids if ids and owner == agent]
        labels = [label for label, _ in covered]
        name = self.name if labels == present else f"{self.name}/{'_'.join(labels)}"
        return f"{name}/{agent}" if agent else name

    def _resolve_parts(self, binding: Binding) -> list[tuple[str, str, frozenset[int]]]:
        """Each part's parameter ids, per agent where its paths name one."""
        ids: dict[tuple[str, str], set[int]] = {}
        for label, paths in self._parts:
            for path in paths:
                for concrete, agent in expand(path, binding.agents):
                    ids.setdefault((label, agent), set()).update(map(id, _parameters(binding, concrete)))
        return [(label, agent, frozenset(items)) for (label, agent), items in ids.items()]

    def record(self, recorder: Recorder, args: tuple[Any, ...], kwargs: dict[str, Any], result: object) -> None:
        """Hand the values of one call to *recorder*."""
        for spec, reader, path in self._arguments:
            value = reader.read(args, kwargs)
            self._tags(recorder, spec, resolve(value, path) if path and value is not MISSING else value)
        if self._arguments:
            return
        if self._stamp is not None:
            recorder.on_stamp(self._stamp.read(args, kwargs))
            return
        value = result if self._value is None else self._value.read(args, kwargs)
        if self._tag is None:
            recorder.on_hook(self._named(args, kwargs), self._averaged(value))
            return
        tag = self._tag.read(args, kwargs)
        if isinstance(tag, str):
            self._tags(recorder, tag, value)

    def _tags(self, recorder: Recorder, tag: str, value: object) -> None:
        if value is MISSING or value is None:
            return
        if isinstance(value, Mapping):
            for key, item in value.items():
                recorder.on_tag(f"{tag}/{key}", self._averaged(item))
        else:
            recorder.on_tag(tag, self._averaged(value))

    def _averaged(self, value: Any) -> Any:
        """The mean of an array value where the hook asks for it, computed where the array lives (no host sync)."""
        if not self._mean:
            return value
        if hasattr(value, "detach"):
            return value.detach().float().mean()
        return value.mean() if getattr(value, "ndim", 0) else value


def _parameters(binding: Binding, path: str) -> list[Any]:
    """The parameters of the module at *path* below the bound target, or none where there is no module."""
    module: Any = binding.read(path)
    return list(module.parameters()) if callable(getattr(module, "parameters", None)) else []


def _updating_fail(kind: str, exc: BaseException) -> None:
    """Report an error of a shared hook to the tap whose update runs on this thread."""
    recorder: Recorder | None = getattr(active, "collector", None)
    if recorder is not None:
        recorder.fail(kind, exc)


def _function_observer(key: str) -> Callable[..., None]:
    def after(_instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], result: object, _token: object) -> None:
        recorder = getattr(active, "collector", None)
        if recorder is not None:
            for capture in _captures.get(key, {}).get(id(recorder), ()):
                capture.record(recorder, args, kwargs, result)

    return after


def _function_arguments(key: str) -> Callable[..., tuple[tuple[Any, ...], dict[str, Any]]]:
    def arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        recorder = getattr(active, "collector", None)
        if recorder is not None:
            for capture in _captures.get(key, {}).get(id(recorder), ()):
                args, kwargs = capture.prepare(args, kwargs)
        return args, kwargs

    return arguments


def _method_observer(binding: Binding, recorder: Recorder, capture: Capture, during: str,
                     instance: str = "") -> Callable[..., None]:
    def after(owner: Any, args: tuple[Any, ...], kwargs: dict[str, Any], result: object, _token: object) -> None:
        if (during == "tap" or getattr(active, "collector", None) is recorder) and (
                not instance or owner is binding.read(instance)):
            capture.record(recorder, args, kwargs, result)

    return after


def install_hooks(hooks: Sequence[Hook], binding: Binding, recorder: Recorder, patches: Patches) -> None:
    """Patch every hook of the adapter that applies to the bound target; hooks that find nothing are skipped."""
    for hook in hooks:
        if hook.module:
            _install_module_hook(hook, binding, recorder, patches)
            continue
        path, method = hook.target.split(":")
        for concrete, agent in expand(path, binding.agents):
            owner = binding.read(concrete)
            if owner is MISSING or not callable(getattr(owner, method, None)):
                continue
            if hook.classes and {kind.__name__ for kind in type(owner).__mro__}.isdisjoint(hook.classes):
                continue
            capture = Capture(hook, getattr(owner, method), agent)
            patches.method(owner, method, guard("hook", recorder.fail, after=_method_observer(
                binding, recorder, capture, hook.during)))


def _forget(key: str, recorder: int) -> None:
    _captures.get(key, {}).pop(recorder, None)


def _install_module_hook(hook: Hook, binding: Binding, recorder: Recorder, patches: Patches) -> None:
    module, qualname = hook.target.split(":")
    if not _importable(module):
        return
    owner_name, _, name = qualname.rpartition(".")
    imported = __import__(module, fromlist=["_"])
    owner = resolve(imported, owner_name) if owner_name else imported
    function = getattr(owner, name, None)
    if not callable(function):
        return
    if hook.instance:  # a class's method: read arguments as an instance's call passes them, without self
        capture = Capture(hook, functools.partial(function, None))
        patches.method(owner, name, guard("hook", recorder.fail, after=_method_observer(
            binding, recorder, capture, hook.during, hook.instance)))
        return
    mine = _captures.get(hook.target, {}).get(id(recorder))
    if mine is None:
        if not patches.function(module, name, guard("hook", _updating_fail, after=_function_observer(hook.target),
                                                     arguments=_function_arguments(hook.target))):
            return
        mine = _captures.setdefault(hook.target, {}).setdefault(id(recorder), [])
        patches.on_undo(functools.partial(_forget, hook.target, id(recorder)))
    mine.append(Capture(hook, function, binding=binding))


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
