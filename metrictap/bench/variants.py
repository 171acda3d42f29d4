"""What the bench compares: one training observed in different ways, each a context manager around it.

``untapped`` observes nothing; ``metrictap-*`` is a tap with a real MLflow sink; ``seed-style``
is the integration metrictap replaces, written as it logged: after every update, on the
training thread, the values skrl tracked are extracted and passed to ``mlflow.log_metrics``;
``tensorboard`` is skrl's own writer. Each context yields a dict that it fills, on leaving,
with what the variant delivered.

Imported where used, not at module level: ``mlflow``, ``metrictap``; so that ``import metrictap``
and ``metrictap --help`` stay light and never load a framework, MLflow or a part of metrictap that
the call does not need.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, redirect_stdout
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from metrictap import track
from metrictap.adapting.names import sanitize
from metrictap.bench.stopwatch import Stopwatch

if TYPE_CHECKING:
    from metrictap.sinks import Sink

FLUSH_TIMEOUT = 120.0
DOWN_TIMEOUT = 2.0  # per request and for the exit's flush, with no server to wait for
Result = dict[str, float]
# The agent attributes the seed probed after every update (skrl agents have none of them).
STANDARD_ATTRIBUTES = (
    "episode_reward", "episode_reward_mean", "episode_length", "episode_length_mean", "cumulative_rewards",
    "mean_rewards", "episode_lengths", "success_rate", "policy_loss", "value_loss", "critic_loss", "entropy",
    "learning_rate", "lr", "grad_norm", "gradient_norm", "kl_divergence", "kl", "timesteps", "timesteps_total",
    "total_timesteps", "iterations", "iterations_total", "fps", "time_elapsed", "epoch_time", "rollout_time",
    "learning_time",
)


class Store:
    """The MLflow store every run of one bench logs into: one experiment, one MLflow run per training."""

    def __init__(self, tracking_uri: str, experiment: str) -> None:
        from mlflow import MlflowClient

        self.tracking_uri = tracking_uri
        self.client = MlflowClient(tracking_uri)
        self.experiment_id: str = self.client.create_experiment(experiment)

    def create_run(self, name: str) -> str:
        """A new run in the bench's experiment; its id."""
        run_id: str = self.client.create_run(self.experiment_id, run_name=name).info.run_id
        return run_id

    def finish(self, run_id: str) -> None:
        """Mark the run FINISHED; MLflow's 'View run at' line goes to stderr, keeping stdout the report's."""
        with redirect_stdout(sys.stderr):
            self.client.set_terminated(run_id)


class SeedLogger:
    """The seed's per-update logging, installed as it was: a plain function assigned over the update method.

    Two changes keep it a fair peer: it logs the values appended since the previous update (the
    seed's own extractor dropped every list longer than one element, so it logged almost
    nothing), and names are made MLflow-valid (one ``(ms)`` in a name made MLflow reject the
    seed's whole batch). What it costs stays what the seed cost: extraction, the attribute
    probes and one ``mlflow.log_metrics`` per update, all on the training thread.
    """

    def __init__(self, agent: Any, mlflow: Any, *, method: str, synchronous: bool,
                 stopwatch: Stopwatch | None) -> None:
        self.agent, self.mlflow, self.synchronous, self.method = agent, mlflow, synchronous, method
        self.original = getattr(agent, self.method)
        self.logged = self.calls = self.errors = 0
        self._seen: dict[str, int] = {}
        self._names: dict[str, str] = {}
        self._body = stopwatch.exclusive(self.log_after, "update") if stopwatch else self.log_after

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """The update, as the trainer calls it, followed by the seed's logging."""
        return self._body(self.original, self.agent, args, kwargs)

    def log_after(self, wrapped: Callable[..., Any], _agent: Any, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> Any:
        """Run the update, then extract and log what it tracked (the seed's wrapper body)."""
        result = wrapped(*args, **kwargs)
        timestep = kwargs["timestep"] if "timestep" in kwargs else args[0]
        try:
            metrics = self.extract()
            if metrics:
                self.mlflow.log_metrics(metrics, step=timestep, synchronous=self.synchronous)
                self.logged += len(metrics)
                self.calls += 1
        except Exception:  # noqa: BLE001 - the seed logged a warning and went on; the bench counts instead
            self.errors += 1
        return result

    def extract(self) -> dict[str, float]:
        """One float per tag from what this update appended, then the standard attributes."""
        metrics: dict[str, float] = {}
        for tag, values in self.agent.tracking_data.items():
            start, size = self._seen.get(tag, 0), len(values)
            if size > start:
                numbers = [float(value.item() if hasattr(value, "item") else value) for value in values[start:size]]
                name = self._names.get(tag) or self._names.setdefault(tag, sanitize(tag))
                metrics[name] = math.fsum(numbers) / len(numbers)
                self._seen[tag] = size
        for name in STANDARD_ATTRIBUTES:
            value = getattr(self.agent, name, None)
            if isinstance(value, (int, float)):
                metrics[name] = float(value)
        return metrics


Around = Callable[[Any, Store, Stopwatch | None], AbstractContextManager[Result]]


@dataclass(frozen=True)
class Variant:
    """One way of observing the training; *tensorboard* runs it with skrl's writer on."""

    name: str
    summary: str
    around: Around
    tensorboard: bool = False
    reads_tracking: bool = False  # reads skrl's tracked values, through wrappers whose cost the stopwatch times
    tracking_only: bool = False  # switches skrl's tracking on as the readers do, and reads nothing


@contextmanager
def _quiet(logger: str) -> Iterator[None]:
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


@contextmanager
def _untapped(_agent: Any, _store: Store, _stopwatch: Stopwatch | None) -> Iterator[Result]:
    yield {}


class Discard:
    """A sink that drops what it gets: the tap's own cost, without a store's."""

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Drop *metrics*."""


def unreachable_server() -> str:
    """The URI of a tracking server that refuses every connection: a loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def _tapped(every: str, *, sink_kind: str = "store", delivery: str = "thread") -> Around:
    @contextmanager
    def around(agent: Any, store: Store, stopwatch: Stopwatch | None) -> Iterator[Result]:
        from metrictap import MlflowSink

        result: Result = {}
        run_id = store.create_run(f"metrictap every={every}")
        sink: Sink = Discard()
        if sink_kind == "store":
            sink = MlflowSink(run_id, store.tracking_uri)
        elif sink_kind == "down":
            sink = MlflowSink(run_id, unreachable_server(), timeout=DOWN_TIMEOUT)
        # Refused requests are the server-down variant's point: neither errors to raise nor news to log.
        down = sink_kind == "down"
        quiet = _quiet("metrictap") if down else nullcontext()
        with stopwatch.installed() if stopwatch else nullcontext(), quiet:
            tap = track(agent, sink=sink, every=every, strict=False if down else None, delivery=delivery,
                        flush_timeout=DOWN_TIMEOUT if down else FLUSH_TIMEOUT)
            with tap:
                yield result
        store.finish(run_id)
        stats = tap.stats
        lost = stats.pending - stats.spooled + stats.dropped.get("sink_error", 0)
        result.update(metrics=stats.delivered, updates=stats.updates, windows=stats.windows, spooled=stats.spooled,
                      lost=lost, errors=sum(stats.errors.values()))

    return around


def _seed(*, synchronous: bool) -> Around:
    @contextmanager
    def around(agent: Any, store: Store, stopwatch: Stopwatch | None) -> Iterator[Result]:
        import mlflow

        result: Result = {}
        mlflow.set_tracking_uri(store.tracking_uri)
        mlflow.start_run(run_id=store.create_run("seed-style"))
        method = track(agent, sink=Discard()).update_method.__name__  # the one skrl's trainer calls on this line
        logger = SeedLogger(agent, mlflow, method=method, synchronous=synchronous, stopwatch=stopwatch)
        setattr(agent, logger.method, logger)
        try:
            yield result
        finally:
            delattr(agent, logger.method)
            with redirect_stdout(sys.stderr):
                mlflow.end_run()
        result.update(metrics=logger.logged, updates=logger.calls, errors=logger.errors)

    return around


@contextmanager
def _tensorboard(agent: Any, _store: Store, _stopwatch: Stopwatch | None) -> Iterator[Result]:
    result: Result = {}
    yield result
    agent.writer.flush()
    folder = agent.experiment_dir
    result["event_bytes"] = sum(os.path.getsize(os.path.join(folder, name)) for name in os.listdir(folder)
                                if name.startswith("events."))


VARIANTS = {variant.name: variant for variant in (
    Variant("untapped", "no tracking at all", _untapped),
    Variant("skrl-tracking", "no observer, with skrl's tracking on as every reader needs it (SAC tracks only then)",
            _untapped, tracking_only=True),
    Variant("metrictap-step", 'track(every="step"), MLflow sink', _tapped("step"), reads_tracking=True),
    Variant("metrictap-balanced", 'track(every="balanced"), MLflow sink', _tapped("balanced"), reads_tracking=True),
    Variant("metrictap-step-process", 'track(every="step", delivery="process"), MLflow sink',
            _tapped("step", delivery="process"), reads_tracking=True),
    Variant("metrictap-balanced-process", 'track(every="balanced", delivery="process"), MLflow sink',
            _tapped("balanced", delivery="process"), reads_tracking=True),
    Variant("metrictap-discard", 'track(every="step") into a sink that drops everything: the tap without a store',
            _tapped("step", sink_kind="discard"), reads_tracking=True),
    Variant("metrictap-server-down", 'track(every="step") to a tracking server that refuses connections: '
            "every point goes to the spool, for replay", _tapped("step", sink_kind="down"), reads_tracking=True),
    Variant("seed-style", "mlflow.log_metrics after every update, synchronous", _seed(synchronous=True),
            reads_tracking=True),
    Variant("seed-async", "as seed-style with synchronous=False (the seed's own call)", _seed(synchronous=False),
            reads_tracking=True),
    Variant("tensorboard", "skrl's TensorBoard writer (write_interval)", _tensorboard, tensorboard=True),
)}
DEFAULT_VARIANTS = ("untapped", "metrictap-step", "metrictap-balanced", "seed-style", "tensorboard")
