"""Patching with wrapt, the one wrapper every patch goes through, undoing it exactly, and reading call arguments.

Every call a tap observes goes through :func:`guard`, which owns the policy that keeps training
safe: the original call runs outside any ``try``, so its errors propagate unchanged; what the
tap does before and after it is contained and handed to the tap's ``fail`` (which counts and logs
it, or, under ``strict``, raises it). :func:`timing` is the one hook for measuring that work: the
bench uses it to time each wrapper's own share of a call, so the tap users run carries no timing code.

Instance patches are wrapt ``FunctionWrapper`` objects and come off through
``wrapt.unwrap_object``, which deletes the instance slot it created or puts back the object
that was there, so ``vars(obj)`` after a tap equals ``vars(obj)`` before it. Where that cannot be
done, because someone wrapped the patched method during the block (``agent.update =
functools.wraps(f)(g)``), the wrapper stays beneath theirs switched off: wrapt passes calls
straight through while its ``enabled`` list is empty, a check made in C. Module functions
(such as ``torch.nn.utils.clip_grad_norm_``) are shared by every tap, so they are patched once,
reference-counted, and report to whichever tap is updating on the calling thread.

Imported where used, not at module level: ``inspect``, ``wrapt``, ``logging``; so that ``import
metrictap`` and ``metrictap --help`` stay light and never load a framework, MLflow or a part of
metrictap that the call does not need.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from metrictap.adapting.paths import MISSING

Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]
Fail = Callable[[str, BaseException], None]
Before = Callable[[Any, tuple[Any, ...], dict[str, Any]], object]
After = Callable[[Any, tuple[Any, ...], dict[str, Any], object, object], None]
Arguments = Callable[[tuple[Any, ...], dict[str, Any]], tuple[tuple[Any, ...], dict[str, Any]]]
Timer = Callable[[str, float], None]

_lock = threading.Lock()
_shared: dict[tuple[str, str], list[Any]] = {}  # (module, function) -> [module, handle, users, enabled]
active = threading.local()  # .collector: the collector whose update runs on this thread
_timer: list[Timer] = []


def guard(kind: str, fail: Fail, *, before: Before | None = None, after: After | None = None,
          updating: object = None, arguments: Arguments | None = None) -> Wrapper:
    """A wrapt wrapper that runs *before* and *after* around the original call, never letting them break it.

    *before* gets ``(instance, args, kwargs)`` and returns a token; *after* gets ``(instance, args,
    kwargs, result, token)`` once the original returned. Their exceptions go to ``fail(kind, exc)``;
    the original's propagate untouched. With *updating*, hooks attribute the calls made during the
    original, on this thread, to that collector (see :mod:`metrictap.tap.hooks`). *arguments*
    gets ``(args, kwargs)`` first and returns those the original and the observers see (a
    generator read into a list, so that both see every item).
    """

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        token = None
        if arguments is not None:
            try:
                args, kwargs = arguments(args, kwargs)
            except Exception as exc:  # noqa: BLE001 - the tap never breaks training
                fail(kind, exc)
        if before is not None:
            try:
                token = before(instance, args, kwargs)
            except Exception as exc:  # noqa: BLE001 - the tap never breaks training
                fail(kind, exc)
        if updating is None:
            result = wrapped(*args, **kwargs)
        else:
            previous = getattr(active, "collector", None)
            active.collector = updating
            try:
                result = wrapped(*args, **kwargs)
            finally:
                active.collector = previous
        if after is not None:
            try:
                after(instance, args, kwargs, result, token)
            except Exception as exc:  # noqa: BLE001
                fail(kind, exc)
        return result

    return timed(kind, wrapper, _timer[-1]) if _timer else wrapper


def timed(kind: str, body: Wrapper, timer: Timer) -> Wrapper:
    """*body*, reporting to *timer* the seconds it spent outside the original call (its exclusive time)."""
    clock = time.perf_counter

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        spent = 0.0

        def original(*call_args: Any, **call_kwargs: Any) -> Any:
            nonlocal spent
            started = clock()
            try:
                return wrapped(*call_args, **call_kwargs)
            finally:
                spent += clock() - started

        started = clock()
        try:
            return body(original, instance, args, kwargs)
        finally:
            timer(kind, clock() - started - spent)

    return wrapper


@contextmanager
def timing(timer: Timer) -> Iterator[None]:
    """Time every wrapper built inside this block: *timer(kind, seconds)* gets each call's exclusive time.

    The kinds are ``update``, ``transition``, ``flush`` and ``hook``. Only wrappers made while the
    block is open are timed (a tap builds its wrappers on entry), and only this hook reads the clock.
    """
    _timer.append(timer)
    try:
        yield
    finally:
        _timer.remove(timer)


class ArgumentReader:
    """Reads one argument of calls to *function* by its name, whether passed by keyword or position."""

    def __init__(self, function: Callable[..., Any], name: str) -> None:
        self.name = name
        self._position: int | None = None
        self._default: object = MISSING
        import inspect

        try:
            parameters = list(inspect.signature(function).parameters.values())
        except (TypeError, ValueError):
            return
        for position, parameter in enumerate(parameters):
            if parameter.name == name:
                if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
                    self._position = position
                if parameter.default is not parameter.empty:
                    self._default = parameter.default
                break

    def read(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> object:
        """The argument's value in this call, or its default, or :data:`MISSING`."""
        if self.name in kwargs:
            return kwargs[self.name]
        if self._position is not None and self._position < len(args):
            return args[self._position]
        return self._default

    def replace(self, args: tuple[Any, ...], kwargs: dict[str, Any],
                value: object) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The call's arguments with this argument, where it was passed, set to *value*."""
        if self.name in kwargs:
            return args, {**kwargs, self.name: value}
        if self._position is not None and self._position < len(args):
            return (*args[:self._position], value, *args[self._position + 1:]), kwargs
        return args, kwargs


class Patches:
    """An undo stack of the patches one tap applied; :meth:`undo` removes them last-in first-out."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []

    def method(self, owner: object, name: str, wrapper: Wrapper) -> None:
        """Wrap *owner*'s method *name* for as long as the tap is active."""
        import wrapt

        enabled = [True]  # emptied, the wrapper passes every call straight through
        handle = wrapt.wrap_object(owner, name, wrapt.FunctionWrapper, (wrapper, enabled))
        self._undo.append(lambda: _unwrap(owner, name, handle, enabled))

    def function(self, module: str, name: str, wrapper: Wrapper) -> bool:
        """Share the patch of ``module.name`` (importable only); False when it cannot be imported."""
        import wrapt

        key = (module, name)
        with _lock:
            entry = _shared.get(key)
            if entry is None:
                try:
                    owner = importlib.import_module(module)
                except ImportError:
                    return False
                if not callable(getattr(owner, name, None)):
                    return False
                enabled = [True]
                handle = wrapt.wrap_object(owner, name, wrapt.FunctionWrapper, (wrapper, enabled))
                entry = _shared[key] = [owner, handle, 0, enabled]
            entry[2] += 1

        def release() -> None:
            with _lock:
                entry[2] -= 1
                if entry[2] == 0:
                    del _shared[key]
                    _unwrap(entry[0], name, entry[1], entry[3])

        self._undo.append(release)
        return True

    def on_undo(self, callback: Callable[[], None]) -> None:
        """Run *callback* when the patches come off, in the same last-in first-out order."""
        self._undo.append(callback)

    def undo(self) -> list[Exception]:
        """Remove every patch, newest first, each even when another failed; the failures (again: nothing, none)."""
        failures = []
        while self._undo:
            try:
                self._undo.pop()()
            except Exception as exc:  # noqa: BLE001, PERF203 - one failed step must not leave the others applied
                failures.append(exc)
        return failures


def _unwrap(owner: object, name: str, handle: Any, enabled: list[bool]) -> None:
    """Take *handle* off ``owner.name``; where it cannot come off, leave it switched off and say so once."""
    import wrapt

    try:
        removed = wrapt.unwrap_object(owner, name, handle, missing_ok=True)
    except wrapt.WrapperNotOutermostError:
        removed = None
    if removed is None:
        enabled.clear()
        import logging

        logging.getLogger("metrictap").warning(
            "metrictap: %s.%s was wrapped or replaced while tracked; it is left as it is now, with the tap's "
            "wrapper beneath it passing every call straight through", getattr(owner, "__name__", type(owner).__name__),
            name)
