"""``track()`` and :class:`Tap`: patch on entry, collect while training runs, restore exactly on exit.

Imported where used, not at module level: ``metrictap.delivery``, ``logging``; so that ``import
metrictap`` and ``metrictap --help`` stay light and never load a framework, MLflow or a part of
metrictap that the call does not need.
"""

from __future__ import annotations

import os
import threading
import types
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from metrictap.adapting.adapter import Adapter, find_adapter
from metrictap.adapting.binding import Binding
from metrictap.adapting.catalogue import EPISODES
from metrictap.adapting.routing import Router
from metrictap.adapting.selection import Selection
from metrictap.emitting.emitter import Emitter
from metrictap.errors import AlreadyTrackedError
from metrictap.sinks import SinkLike, check_sinks, is_mlflow_module
from metrictap.sinks.mlflow import MlflowSink
from metrictap.tap.collector import Collector
from metrictap.tap.hooks import install_hooks
from metrictap.tap.options import TapOptions
from metrictap.tap.patching import Patches
from metrictap.tap.ranks import current_rank, rank_prefix
from metrictap.tap.run_owner import RunOwner
from metrictap.tap.schedule import Every
from metrictap.tap.stats import ErrorLog, TapStats
from metrictap.tap.system import SystemSampler, samples_here

if TYPE_CHECKING:  # the delivery package loads on the first entry, not on import
    from metrictap.delivery.courier import Courier

_tracked: set[int] = set()
_tracked_lock = threading.Lock()


def track(target: object, *, sink: SinkLike | Sequence[SinkLike], every: int | str | Every = "balanced",
          only: Iterable[str] | None = None, prefix: str = "", step: str | None = None,
          adapter: Adapter | None = None, depth: int = 2, strict: bool | None = None,
          flush_timeout: float = 10.0, spool: str | os.PathLike[str] | bool = True, ranks: int | str = 0,
          delivery: str = "thread", system: bool = False, system_interval: float = 10.0, start_timestep: int = 0,
          logged_through: int | None = None) -> Tap:
    """Tap *target*'s training into *sink* for the duration of a ``with`` block (or ``start()``/``stop()``).

    Args:
        target: the framework object that learns, e.g. ``runner.agent`` for skrl.
        sink: the ``mlflow`` module (bound to the run active on entry, or a run started and
            ended by the tap), an object with ``log_metrics(metrics, step)``, a callable
            ``(metrics, step)``, or a list of those.
        every: ``"step"``, ``"balanced"`` (every 10 iterations), ``"rollout"``, an int N,
            or a duration such as ``"30s"``. Values in between are aggregated, not sampled.
        only: canonical names or glob patterns to emit; None emits everything.
        prefix: prepended to every name, e.g. ``"eval/"``.
        step: the step axis: None (the framework's own, as its adapter declares: skrl's
            timestep + 1, Stable-Baselines3's env steps over all envs, rsl_rl's iteration),
            ``"timestep"`` (the framework's timestep + 1), ``"timesteps"`` (env steps over
            all envs) or ``"iterations"`` (updates since the tap started).
        adapter: an :class:`Adapter` for objects no shipped adapter knows.
        depth: how many levels of nested mappings in tracked values are flattened with ``/``.
        strict: raise errors of the tap and of sinks instead of logging and counting them; None
            reads the environment variable ``METRICTAP_STRICT`` (``1`` turns it on), so that
            a test suite can run every tap strict.
        flush_timeout: seconds that leaving the block may wait for undelivered points (0: do not
            wait; ``float("inf")``: until all are delivered); what is left stays in the spool, and
            one warning says how much and where. Ending a run the tap started takes at most 5 s more.
        spool: where MLflow sinks write every point ahead before sending it: True picks the
            run's local folder (skrl: the agent's experiment directory) or ``./metrictap-spool``;
            a directory; or False to keep undelivered points in memory only.
        ranks: which process of a distributed job emits: ``0`` (rank 0 only; others run
            untapped), another rank, or ``"all"`` (every rank, its names prefixed ``rank<N>/``).
        delivery: who sends to MLflow sinks: ``"thread"``, a thread of this process, or
            ``"process"``, a child process that sends from the spool, so that MLflow's own
            Python work (a sqlite store costs 100-150 µs per metric) never holds the
            interpreter lock that training needs. Other sinks are always served by a thread.
        system: also sample the machine (CPU, memory, disk, network, each GPU through NVML) on
            a thread of its own, under MLflow's system metric names (``system/...``), into the
            same delivery; only the first process of each node samples.
        system_interval: seconds between two samples of the machine.
        start_timestep: the run's timestep at the framework's timestep 0, so that a training
            resumed from a checkpoint continues the run's ``timestep`` and ``timesteps`` axes.
        logged_through: the last step the run already holds; windows at or before it are
            dropped (counted as ``superseded``), so that a resumed run gets no step twice.

    """
    return Tap(target, sink, TapOptions.of(every=every, only=only, prefix=prefix, step=step, adapter=adapter,
                                           depth=depth, strict=strict, flush_timeout=flush_timeout, spool=spool,
                                           ranks=ranks, delivery=delivery, system=system,
                                           system_interval=system_interval, start_timestep=start_timestep,
                                           logged_through=logged_through))


class Tap:
    """An active or resting tap on one target; create it with :func:`track`."""

    def __init__(self, target: object, sink: SinkLike | Sequence[SinkLike], options: TapOptions) -> None:
        self.target, self.options = target, options
        self.every, self.strict = options.every, options.strict
        self.adapter = find_adapter(target, options.adapter)
        Binding.resolve(self.adapter, target)  # a target that does not fit its adapter fails here, not on entry
        self._sinks = check_sinks(sink)
        self.selection = Selection.for_adapter(options.only, self.adapter)
        options.check_prefix(self.selection.names, self.adapter.name)
        self._errors = ErrorLog()
        self._binding: Binding | None = None
        self._collector: Collector | None = None
        self._emitter: Emitter | None = None
        self._sampler: SystemSampler | None = None
        self._patches = Patches()
        self._couriers: list[Courier] = []
        self._spool_folder: str | None = None
        self._run_owner = RunOwner()
        self._rank_prefix: str | None = ""

    def __repr__(self) -> str:
        state = "active" if self._collector else "resting"
        return f"<Tap {state} on {type(self.target).__name__} via {self.adapter.name}, every={self.every}>"

    def __enter__(self) -> Tap:  # noqa: PYI034 - Tap is not meant to be subclassed
        self._rank_prefix = rank_prefix(self.options.ranks, current_rank())
        if self._rank_prefix is None:  # another rank emits: this one trains untapped
            self._last = TapStats()
            return self
        with _tracked_lock:
            if id(self.target) in _tracked:
                raise AlreadyTrackedError(
                    f"{type(self.target).__name__} at {id(self.target):#x} is already tracked by an active tap; "
                    "leave that tap first (one tap per object at a time)")
            _tracked.add(id(self.target))
        try:
            self._start()
        except BaseException:
            self._abort()
            raise
        return self

    def _abort(self) -> None:
        """Undo what a failed entry did: patches, spools and delivery children, the run it started."""
        self._patches.undo()
        emitter, self._emitter = self._emitter, None
        if emitter is not None and emitter.thread.is_alive():  # the entry failed after delivery had started
            emitter.close(0.0)
        for courier in self._couriers:
            courier.discard()
        self._couriers = []
        self._collector = self._binding = None
        self._run_owner.abandon()
        with _tracked_lock:
            _tracked.discard(id(self.target))

    def _start(self) -> None:
        from metrictap.delivery import couriers_for

        self._errors.clear()
        options = self.options
        binding = Binding.resolve(self.adapter, self.target)  # again: the owners may have changed since
        for sink in self._sinks:
            if isinstance(sink, MlflowSink):
                sink.check_run()
        sinks = [self._run_owner.sink_for(sink) if is_mlflow_module(sink) else sink for sink in self._sinks]
        collector = Collector(binding, every=options.every, step_axis=options.step or binding.adapter.update.axis,
                              post=self._post, fail=self._fail, episodes=any(map(self.selection.covers, EPISODES)),
                              start_timestep=options.start_timestep)
        self._spool_folder = options.spool_folder(binding.directory)
        self._couriers = couriers = couriers_for(sinks, self._spool_folder, self._errors.record,
                                                 process=options.delivery == "process",
                                                 owned_run=self._run_owner.run_id)
        self._emitter = Emitter(Router(binding), couriers, self.selection,
                                prefix=f"{self._rank_prefix}{options.prefix}", depth=options.depth,
                                logged_through=options.logged_through,
                                on_error=self._errors.record)
        collector.install(self._patches)
        hooks = [hook for hook in self.adapter.hooks if not hook.name or self.selection.covers(hook.name)]
        install_hooks(hooks, binding, collector, self._patches)
        self._binding, self._collector = binding, collector
        self._emitter.start()
        if options.system and samples_here():
            self._sampler = SystemSampler(self._emitter.post, collector.current_step,
                                          interval=options.system_interval, on_error=self._errors.record)
            self._sampler.start()

    def _post(self, message: object) -> None:
        if self._emitter is not None:
            self._emitter.post(message)

    def _fail(self, kind: str, exc: BaseException) -> None:
        """Record an error on the training thread; under ``strict`` raise it too (background threads only record)."""
        self._errors.record(kind, exc)
        if self.strict:
            raise exc

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: types.TracebackType | None) -> None:
        """Restore, flush and report; every step runs even when one fails, and none replaces the training's error.

        A failure of the tap's own is recorded (counted and logged once); under ``strict`` it is
        raised at the end, and only when the block itself ended without an exception.
        """
        collector, emitter = self._collector, self._emitter
        if collector is None or emitter is None:
            return
        try:
            for failure in self._patches.undo():
                self._errors.record("restore", failure)
        finally:
            with _tracked_lock:
                _tracked.discard(id(self.target))
        if self._sampler is not None:  # its last sample must reach the emitter before the emitter closes
            try:
                self._sampler.stop()
            except Exception as error:  # noqa: BLE001 - reported below under strict, never lost otherwise
                self._errors.record("system metrics", error)
            self._sampler = None
        try:
            collector.close(final=True)
        except Exception as error:  # noqa: BLE001 - reported below under strict, never lost otherwise
            self._errors.record("close", error)
        finished = False
        try:
            finished = emitter.close(self.options.flush_timeout, self._run_owner.final_state(exc_type))
        except Exception as error:  # noqa: BLE001 - Ctrl-C passes: it leaves at once, the spool intact
            self._errors.record("flush", error)
        finally:
            self._collector, self._couriers = None, []
            try:
                report = emitter.report(self.options.flush_timeout)
                if report:
                    import logging

                    logging.getLogger("metrictap").warning("%s", report)
                self._run_owner.end(exc_type, delivered=finished, spool_folder=self._spool_folder)
            except Exception as error:  # noqa: BLE001
                self._errors.record("run end", error)
            self._last = self._snapshot(collector, emitter)
        if self.strict and exc_type is None and self._errors.first is not None:
            raise self._errors.first

    def start(self) -> Tap:
        """Enter the tap outside a ``with`` block (notebooks); pair with :meth:`stop`."""
        return self.__enter__()

    def stop(self) -> None:
        """Leave the tap: restore the target, flush, and report through :attr:`stats`."""
        self.__exit__(None, None, None)

    @property
    def update_method(self) -> Any:
        """The target's update method as it is now: the tapped one while the tap is active."""
        return getattr(*Binding.resolve(self.adapter, self.target).update)

    @property
    def active(self) -> bool:
        """Whether the target is patched right now."""
        return self._collector is not None

    @property
    def stats(self) -> TapStats:
        """A snapshot of the counters of the current (or last) activation."""
        collector, emitter = self._collector, self._emitter
        if collector is None or emitter is None:
            return getattr(self, "_last", TapStats())
        return self._snapshot(collector, emitter)

    def _snapshot(self, collector: Collector, emitter: Emitter) -> TapStats:
        points, delivered, spooled, dropped = emitter.counts()
        pending = points - delivered - sum(dropped.values())
        return TapStats(updates=collector.updates, iterations=collector.iterations,
                        transitions=collector.transitions, windows=collector.windows, points=points,
                        delivered=delivered, pending=pending, spooled=min(spooled, pending), spool=emitter.spool,
                        queued=emitter.queued(),
                        throttled=sum(getattr(courier.sink, "budget_waited", 0.0) for courier in emitter.couriers),
                        dropped=dict(dropped), errors=dict(self._errors.counts))
