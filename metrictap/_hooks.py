"""Adapter hooks: calls observed while a tap is active, and the values they carry.

skrl computes the KL divergence for its KL-adaptive scheduler and the gradient norm when it
clips gradients, and logs neither; rsl_rl hands its losses to its logger's ``log`` call;
Stable-Baselines3 records every number through ``Logger.record``. A hook wraps such a call and
records what its adapter says the call carries (see :class:`~metrictap._schema.Hook`).

Who a call belongs to: a method of an object the target reaches is patched on that object, so
its calls are the tap's; a module function is shared by every tap, patched once, and belongs
to the tap whose update runs on the calling thread; a class's method is patched on the class
and belongs to the tap whose target holds the calling instance at the hook's ``instance`` path.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from metrictap._collector import Collector
from metrictap._patching import ArgumentReader, Patches, Wrapper, active
from metrictap._paths import MISSING, expand, resolve
from metrictap._schema import Hook


class Capture:
    """What one hook takes from one call, read by the signature of the function it observes."""

    def __init__(self, hook: Hook, function: Callable[..., Any], agent: str = "") -> None:
        self.name = f"{hook.name}/{agent}" if agent and hook.name else hook.name
        self._mean = hook.mean
        self._value = None if hook.value == "return" else ArgumentReader(function, hook.value)
        self._tag = ArgumentReader(function, hook.tag) if hook.tag else None
        self._arguments = [(spec, ArgumentReader(function, spec.partition(".")[0]), spec.partition(".")[2])
                           for spec in hook.arguments]

    def record(self, collector: Collector, args: tuple[Any, ...], kwargs: dict[str, Any], result: object) -> None:
        """Hand the values of one call to *collector*."""
        for spec, reader, path in self._arguments:
            value = reader.read(args, kwargs)
            self._tags(collector, spec, resolve(value, path) if path and value is not MISSING else value)
        if self._arguments:
            return
        value = result if self._value is None else self._value.read(args, kwargs)
        if self._tag is None:
            collector.on_hook(self.name, self._averaged(value))
            return
        tag = self._tag.read(args, kwargs)
        if isinstance(tag, str):
            self._tags(collector, tag, value)

    def _tags(self, collector: Collector, tag: str, value: object) -> None:
        if value is MISSING or value is None:
            return
        if isinstance(value, Mapping):
            for key, item in value.items():
                collector.on_tag(f"{tag}/{key}", self._averaged(item))
        else:
            collector.on_tag(tag, self._averaged(value))

    def _averaged(self, value: Any) -> Any:
        """The mean of an array value where the hook asks for it, computed where the array lives (no host sync)."""
        if not self._mean:
            return value
        if hasattr(value, "detach"):
            return value.detach().float().mean()
        return value.mean() if getattr(value, "ndim", 0) else value


def _function_wrapper(key: str) -> Wrapper:
    def observe(wrapped: Callable[..., Any], _instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = wrapped(*args, **kwargs)
        collector = getattr(active, "collector", None)
        if collector is not None:
            try:
                for capture in collector.function_hooks.get(key, ()):
                    capture.record(collector, args, kwargs, result)
            except Exception as exc:  # noqa: BLE001 - the tap never breaks training
                collector.fail("hook", exc)
        return result

    return observe


def _method_wrapper(collector: Collector, capture: Capture, during: str, instance: str = "") -> Wrapper:
    def observe(wrapped: Callable[..., Any], owner: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = wrapped(*args, **kwargs)
        try:
            if (during == "tap" or getattr(active, "collector", None) is collector) and (
                    not instance or owner is resolve(collector.target, instance)):
                capture.record(collector, args, kwargs, result)
        except Exception as exc:  # noqa: BLE001
            collector.fail("hook", exc)
        return result

    return observe


def install_hooks(hooks: Sequence[Hook], target: object, collector: Collector, patches: Patches) -> None:
    """Patch every hook of the adapter that applies to *target*; hooks that find nothing are skipped."""
    agents = collector.state.agents
    for hook in hooks:
        path, method = hook.target.split(":")
        if hook.module:
            _install_module_hook(hook, path, method, collector, patches)
            continue
        for concrete, agent in expand(path, agents):
            owner = resolve(target, concrete)
            if owner is MISSING or not callable(getattr(owner, method, None)):
                continue
            if hook.classes and {kind.__name__ for kind in type(owner).__mro__}.isdisjoint(hook.classes):
                continue
            capture = Capture(hook, getattr(owner, method), agent)
            patches.method(owner, method, _method_wrapper(collector, capture, hook.during))


def _install_module_hook(hook: Hook, module: str, qualname: str, collector: Collector, patches: Patches) -> None:
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
        patches.method(owner, name, _method_wrapper(collector, capture, hook.during, hook.instance))
        return
    if hook.target not in collector.function_hooks and not patches.function(module, name,
                                                                             _function_wrapper(hook.target)):
        return
    collector.function_hooks.setdefault(hook.target, []).append(Capture(hook, function))


def _importable(module: str) -> bool:
    import importlib.util  # noqa: PLC0415

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
