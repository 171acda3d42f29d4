"""Type-checked uses of the public API; mypy must accept each line and reject the ones marked to fail."""

from typing import Any

import mlflow_like

from metrictap import MlflowSink, Sink, Tap, TapStats, track
from metrictap.testing import MemorySink

agent: Any = object()

module_sink: Sink = mlflow_like
tap: Tap = track(agent, sink=mlflow_like)
track(agent, sink=MemorySink(), every="30s", only={"policy_loss"}, prefix="eval/")
track(agent, sink=[MemorySink(), MlflowSink("run-id")], every=10)
track(agent, sink=lambda metrics, step: None)
stats: TapStats = tap.stats
with track(agent, sink=MemorySink()) as active:
    active_stats: TapStats = active.stats

track(agent, sink=42)  # type: ignore[arg-type]


class WrongSink:
    def log_metrics(self, metrics: list[float]) -> None:
        """Takes the wrong argument type."""


wrong: Sink = WrongSink()  # type: ignore[assignment]
