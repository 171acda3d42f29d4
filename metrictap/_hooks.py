"""Adapter hooks: values a framework computes and throws away, caught while the target updates.

skrl computes the KL divergence for its KL-adaptive scheduler and the gradient norm when it
clips gradients, and logs neither. A hook wraps the call that receives (or returns) such a
value and records it, but only while the tracked target's own update runs on that thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from metrictap._adapter import Hook
from metrictap._collector import Collector
from metrictap._patching import ArgumentReader, Patches, active
from metrictap._paths import MISSING, expand, resolve

Record = tuple[str, ArgumentReader | None]  # metric name, reader of the argument (None: the return value)


def _value(record: Record, args: tuple[Any, ...], kwargs: dict[str, Any], result: object) -> object:
    _, reader = record
    return result if reader is None else reader.read(args, kwargs)


def _function_wrapper(key: str) -> Callable[..., Any]:
    def observe(wrapped: Callable[..., Any], _instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = wrapped(*args, **kwargs)
        collector = getattr(active, "collector", None)
        if collector is not None:
            try:
                for record in collector.function_hooks.get(key, ()):
                    collector.on_hook(record[0], _value(record, args, kwargs, result))
            except Exception as exc:  # noqa: BLE001 - the tap never breaks training
                collector.fail("hook", exc)
        return result

    return observe


def _method_wrapper(collector: Collector, record: Record) -> Callable[..., Any]:
    def observe(wrapped: Callable[..., Any], _instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = wrapped(*args, **kwargs)
        if getattr(active, "collector", None) is collector:
            try:
                collector.on_hook(record[0], _value(record, args, kwargs, result))
            except Exception as exc:  # noqa: BLE001
                collector.fail("hook", exc)
        return result

    return observe


def install_hooks(hooks: Sequence[Hook], target: object, collector: Collector, patches: Patches) -> None:
    """Patch every hook of the adapter that applies to *target*; hooks that find nothing are skipped."""
    agents = collector.agents()
    for hook in hooks:
        path, method = hook.target.split(":")
        if hook.module:
            function = resolve(__import__(path, fromlist=["_"]), method) if _importable(path) else MISSING
            if function is MISSING:
                continue
            record = (hook.name, None if hook.value == "return" else ArgumentReader(function, hook.value))  # type: ignore[arg-type]
            key = hook.target
            if key not in collector.function_hooks and not patches.function(path, method, _function_wrapper(key)):
                continue
            collector.function_hooks.setdefault(key, []).append(record)
            continue
        for concrete, agent in expand(path, agents):
            owner = resolve(target, concrete)
            if owner is MISSING or not callable(getattr(owner, method, None)):
                continue
            if hook.classes and {kind.__name__ for kind in type(owner).__mro__}.isdisjoint(hook.classes):
                continue
            name = f"{hook.name}/{agent}" if agent else hook.name
            reader = None if hook.value == "return" else ArgumentReader(getattr(owner, method), hook.value)
            patches.method(owner, method, _method_wrapper(collector, (name, reader)))


def _importable(module: str) -> bool:
    import importlib.util  # noqa: PLC0415

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
