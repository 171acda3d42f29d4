"""What the training thread hands the emitter thread: per-step copies (:class:`Rows`) and window ends (:class:`Close`).

Other threads of a tap post :class:`Ready` values, already named and reduced (the system sampler's readings).

The copies are made on every env step inside the framework's own call, so they cost as little
as the data allows: tensors are copied on their own device with tensor methods (about a
microsecond of dispatch each, and no ``import`` per call), keep their shape, and are
flattened and brought to the host by the emitter thread. Nothing here reads a tensor's value,
so a CUDA device is never synchronised by the training thread.

Imported where used, not at module level: ``numpy``; so that ``import metrictap`` and ``metrictap
--help`` stay light and never load a framework, MLflow or a part of metrictap that the call does not
need.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


class Rows:
    """Per-step copies of rewards, terminated and truncated flags and (where the env gives them) success flags."""

    __slots__ = ("rewards", "successes", "terminated", "truncated")

    def __init__(self, rewards: list[Any], terminated: list[Any], truncated: list[Any],
                 successes: list[Any] | None) -> None:
        self.rewards, self.terminated, self.truncated, self.successes = rewards, terminated, truncated, successes


class Close:
    """The end of one window: its step, time, tag slices, hook values, probed values and the tap's own measures.

    *rows* is how many recorded steps, of those :class:`Rows` carried, belong to this window:
    the next *rows* after those of the windows before it. *stamped*: a step and the tag slices that
    the framework itself wrote out at that step during the window, emitted there rather than at *step*.
    """

    __slots__ = ("fallback", "hooks", "measured", "rows", "slices", "stamped", "step", "timestamp_ms")

    def __init__(self, *, step: int, timestamp_ms: int, slices: list[tuple[str, list[Any]]],
                 measured: dict[str, float], hooks: dict[str, list[Any]], fallback: dict[str, object],
                 rows: int, stamped: tuple[int, list[tuple[str, list[Any]]]] | None = None) -> None:
        self.step, self.timestamp_ms, self.slices = step, timestamp_ms, slices
        self.measured, self.hooks, self.fallback, self.rows = measured, hooks, fallback, rows
        self.stamped = stamped


class Ready:
    """Named values ready to deliver at one step and time; the emitter passes them on without ``only=`` or prefix.

    They bypass the filter and the prefix because their names are fixed by the store's own
    conventions (MLflow groups ``system/...`` names in its UI) and were asked for by name.
    """

    __slots__ = ("step", "timestamp_ms", "values")

    def __init__(self, *, step: int, timestamp_ms: int, values: dict[str, float]) -> None:
        self.step, self.timestamp_ms, self.values = step, timestamp_ms, values


def copy_row(rewards: Any, terminated: Any, truncated: Any) -> tuple[Any, Any, Any]:
    """Copy one step's rewards, terminated and truncated flags without leaving their device.

    Tensors keep their shape. The flags are cloned, not combined: inside a training loop a
    ``logical_or`` costs about three times as much as two clones (its kernel is cold there),
    so the emitter thread combines them.
    """
    if not hasattr(rewards, "detach") and isinstance(rewards, Mapping):
        rewards = sum(rewards.values())  # multi-agent: the team's reward; episodes end with the first agent's
        terminated, truncated = next(iter(terminated.values())), next(iter(truncated.values()))
    if hasattr(rewards, "detach"):
        copy = rewards.detach().clone() if rewards.requires_grad else rewards.clone()
        ended = terminated.clone()
        return copy if copy.dim() else copy.reshape(1), ended, ended if truncated is terminated else truncated.clone()
    import numpy as np

    return (np.array(rewards, dtype=np.float64).reshape(-1), np.array(terminated, dtype=bool).reshape(-1),
            np.array(truncated, dtype=bool).reshape(-1))


def env_count(flags: Any) -> int:
    """How many envs one step's done flags are for (a multi-agent mapping's: its first agent's)."""
    if isinstance(flags, Mapping):
        flags = next(iter(flags.values()))
    shape = getattr(flags, "shape", None)
    return int(shape[0]) if shape else len(flags)


def copy_flags(flags: Any, mask: Any) -> Any:
    """One step's success flags as float64, NaN where *mask* says unknown; tensors stay on their device."""
    if hasattr(flags, "detach"):
        values = flags.detach().reshape(-1).double()
        if mask is None:
            return values
        if not hasattr(mask, "detach"):
            mask = values.new_tensor(mask)
        return values.where(mask.reshape(-1).bool(), math.nan)
    import numpy as np

    values = np.asarray(flags, dtype=np.float64).reshape(-1)
    return values if mask is None else np.where(np.asarray(mask).reshape(-1), values, np.nan)


def unknown_flags(successes: list[Any], rewards: list[Any]) -> list[Any] | None:
    """A chunk's success flags, None where no step had any; steps without flags become NaN on the flags' device."""
    if all(item is None for item in successes):
        return None
    if not any(hasattr(item, "detach") for item in successes):
        return successes  # host arrays: the emitter fills the gaps
    return [item if item is not None else row.new_full((len(row),), math.nan).double()
            for item, row in zip(successes, rewards, strict=True)]
