"""How often a tap emits: a count of training iterations or a wall-clock interval.

Values collected between two emissions are aggregated over the window, so a sparse schedule
loses resolution, never data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PRESETS = {"step": 1, "rollout": 1, "balanced": 10}
_UNITS = {"ms": 0.001, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_DURATION = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|sec|m|min|h)$")
CHOICES = "'step', 'balanced' (every 10 iterations), 'rollout', a positive int N, or a duration such as '30s'"


@dataclass(frozen=True)
class Every:
    """An emission schedule: every *iterations* iterations, or every *seconds* of wall time.

    An iteration is one learning update (all update calls made at one timestep). While the
    target does not learn (evaluation), an iteration is one data-collection cycle of env steps.
    """

    iterations: int | None = None
    seconds: float | None = None
    label: str = ""

    def due(self, iterations: int, seconds: float) -> bool:
        """Whether a window that spans *iterations* iterations and *seconds* seconds is complete."""
        if self.seconds is not None:
            return seconds >= self.seconds
        return iterations >= (self.iterations or 1)

    def __str__(self) -> str:
        return self.label


def parse_every(value: object) -> Every:
    """Normalise the shorthands users pass as ``every=`` (or ``--mlflow_log_interval``)."""
    if isinstance(value, Every):
        return value
    if callable(getattr(value, "total_seconds", None)):  # a datetime.timedelta
        return _seconds(float(value.total_seconds()), value)  # type: ignore[attr-defined]
    if isinstance(value, int) and not isinstance(value, bool):
        if value >= 1:
            return Every(iterations=value, label=str(value))
    elif isinstance(value, str):
        text = value.strip().lower()
        if text in _PRESETS:
            return Every(iterations=_PRESETS[text], label=text)
        if text.isdigit() and int(text) >= 1:
            return Every(iterations=int(text), label=text)
        match = _DURATION.match(text)
        if match:
            return _seconds(float(match[1]) * _UNITS[match[2]], value)
    raise ValueError(f"every={value!r} is not a schedule; accepted: {CHOICES}")


def _seconds(seconds: float, given: object) -> Every:
    if seconds <= 0:
        raise ValueError(f"every={given!r} is not a schedule: a duration must be positive; accepted: {CHOICES}")
    return Every(seconds=seconds, label=f"{seconds:g}s")
