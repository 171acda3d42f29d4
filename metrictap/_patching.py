"""Patching with wrapt and undoing it exactly, plus reading call arguments by signature.

Instance patches go through ``wrapt.wrap_function_wrapper`` and come off through
``wrapt.unwrap_object``, which deletes the instance slot it created or puts back the object
that was there, so ``vars(obj)`` after a tap equals ``vars(obj)`` before it. Module functions
(such as ``torch.nn.utils.clip_grad_norm_``) are shared by every tap, so they are patched once,
reference-counted, and report to whichever tap is updating on the calling thread.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any

from metrictap._paths import MISSING

Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]

_lock = threading.Lock()
_shared: dict[tuple[str, str], list[Any]] = {}  # (module, function) -> [handle, users]
active = threading.local()  # .collector: the collector whose update runs on this thread


class ArgumentReader:
    """Reads one argument of calls to *function* by its name, whether passed by keyword or position."""

    def __init__(self, function: Callable[..., Any], name: str) -> None:
        self.name = name
        self._position: int | None = None
        self._default: object = MISSING
        import inspect  # noqa: PLC0415 - ~7 ms; only taps need it

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


class Patches:
    """An undo stack of the patches one tap applied; :meth:`undo` removes them last-in first-out."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []

    def method(self, owner: object, name: str, wrapper: Wrapper) -> None:
        """Wrap *owner*'s method *name* for as long as the tap is active."""
        import wrapt  # noqa: PLC0415 - wrapt's import costs ~60 ms; only taps need it

        handle = wrapt.wrap_function_wrapper(owner, name, wrapper)

        def unwrap() -> None:
            if wrapt.unwrap_object(owner, name, handle, missing_ok=True) is None:
                import logging  # noqa: PLC0415

                logging.getLogger("metrictap").warning("metrictap: %s.%s was replaced while tracked; left as it is now",
                               type(owner).__name__, name)

        self._undo.append(unwrap)

    def function(self, module: str, name: str, wrapper: Wrapper) -> bool:
        """Share the patch of ``module.name`` (importable only); False when it cannot be imported."""
        import wrapt  # noqa: PLC0415

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
                entry = _shared[key] = [owner, wrapt.wrap_function_wrapper(owner, name, wrapper), 0]
            entry[2] += 1

        def release() -> None:
            with _lock:
                entry[2] -= 1
                if entry[2] == 0:
                    del _shared[key]
                    wrapt.unwrap_object(entry[0], name, entry[1], missing_ok=True)

        self._undo.append(release)
        return True

    def undo(self) -> None:
        """Remove every patch, newest first; calling it again does nothing."""
        while self._undo:
            self._undo.pop()()
