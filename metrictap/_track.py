"""``track()`` and :class:`Tap`: patch on entry, collect while training runs, restore exactly on exit."""

from __future__ import annotations

import os
import threading
import types
from collections.abc import Iterable, Sequence
from typing import Any

from metrictap._adapter import Adapter, find_adapter
from metrictap._collector import MEASURED, Collector
from metrictap._emitter import Emitter, couriers_for
from metrictap._episodes import CANONICAL
from metrictap._every import Every, parse_every
from metrictap._hooks import install_hooks
from metrictap._keys import Router
from metrictap._names import is_valid
from metrictap._patching import Patches
from metrictap._paths import method_at
from metrictap._ranks import check_ranks, current_rank, rank_prefix
from metrictap._run_owner import RunOwner
from metrictap._selection import Selection
from metrictap._stats import ErrorLog, TapStats
from metrictap.errors import AlreadyTrackedError, UnsupportedTargetError
from metrictap.sinks import SinkLike, check_sinks, is_mlflow_module

STEP_AXES = ("timestep", "timesteps", "iterations")
DELIVERIES = ("thread", "process")
_tracked: set[int] = set()
_tracked_lock = threading.Lock()


def selection(adapter: Adapter, only: Iterable[str] | None) -> Selection:
    """The ``only=`` filter, checked against every name the tap and *adapter* can produce."""
    catalogue = [*CANONICAL, *MEASURED, *(rule.name for rule in adapter.keys if rule.name),
                 *(probe.name for probe in adapter.probes), *(hook.name for hook in adapter.hooks if hook.name)]
    return Selection(only, catalogue, adapter.name)


def track(target: object, *, sink: SinkLike | Sequence[SinkLike], every: int | str | Every = "balanced",
          only: Iterable[str] | None = None, prefix: str = "", step: str = "timestep",
          adapter: Adapter | None = None, depth: int = 2, strict: bool | None = None,
          flush_timeout: float = 10.0, spool: str | os.PathLike[str] | bool = True, ranks: int | str = 0,
          delivery: str = "thread") -> Tap:
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
        step: the step axis: ``"timestep"`` (the framework's timestep + 1, as skrl's
            TensorBoard), ``"timesteps"`` (env steps over all envs) or ``"iterations"``.
        adapter: an :class:`Adapter` for objects no shipped adapter knows.
        depth: how many levels of nested mappings in tracked values are flattened with ``/``.
        strict: raise errors of the tap and of sinks instead of logging and counting them; None
            reads the environment variable ``METRICTAP_STRICT`` (``1`` turns it on), so that
            a test suite can run every tap strict.
        flush_timeout: seconds that leaving the block may wait for undelivered points; what is
            left stays in the spool, and one warning says how much and where.
        spool: where MLflow sinks write every point ahead before sending it: True picks the
            run's local folder (skrl: the agent's experiment directory) or ``./metrictap-spool``;
            a directory; or False to keep undelivered points in memory only.
        ranks: which process of a distributed job emits: ``0`` (rank 0 only; others run
            untapped), another rank, or ``"all"`` (every rank, its names prefixed ``rank<N>/``).
        delivery: who sends to MLflow sinks: ``"thread"``, a thread of this process, or
            ``"process"``, a child process that sends from the spool, so that MLflow's own
            Python work (a sqlite store costs 100-150 µs per metric) never holds the
            interpreter lock that training needs. Other sinks are always served by a thread.

    """
    return Tap(target, sink=sink, every=every, only=only, prefix=prefix, step=step, adapter=adapter,
               depth=depth, strict=strict, flush_timeout=flush_timeout, spool=spool, ranks=ranks,
               delivery=delivery)


class Tap:
    """An active or resting tap on one target; create it with :func:`track`."""

    def __init__(self, target: object, *, sink: SinkLike | Sequence[SinkLike], every: int | str | Every,
                 only: Iterable[str] | None, prefix: str, step: str, adapter: Adapter | None, depth: int,
                 strict: bool | None, flush_timeout: float, spool: str | os.PathLike[str] | bool = True,
                 ranks: int | str = 0, delivery: str = "thread") -> None:
        if strict is None:
            strict = os.environ.get("METRICTAP_STRICT", "").lower() in {"1", "true", "yes"}
        self.target, self.every, self.strict = target, parse_every(every), strict
        self.adapter = find_adapter(target, adapter)
        self._find_update()
        self._sinks = check_sinks(sink)
        if step not in STEP_AXES:
            raise ValueError(f"step={step!r}; accepted: {', '.join(map(repr, STEP_AXES))}")
        if prefix and not is_valid(prefix.rstrip("/") or "/"):
            raise ValueError(f"prefix={prefix!r} is not a valid metric name prefix; "
                             "use letters, digits, _ - . / and spaces")
        if not isinstance(depth, int) or depth < 0:
            raise ValueError(f"depth={depth!r}; accepted: an int >= 0")
        self.selection = selection(self.adapter, only)
        if not isinstance(flush_timeout, (int, float)) or not flush_timeout >= 0:
            raise ValueError(f"flush_timeout={flush_timeout!r}; accepted: a number of seconds >= 0")
        if not isinstance(spool, (bool, str, os.PathLike)):
            raise TypeError(f"spool={spool!r}; accepted: True, False or a directory")
        self.prefix, self.step, self.depth, self.flush_timeout = prefix, step, depth, flush_timeout
        if delivery not in DELIVERIES:
            raise ValueError(f"delivery={delivery!r}; accepted: {', '.join(map(repr, DELIVERIES))}")
        if delivery == "process" and spool is False:
            raise ValueError("delivery='process' sends from the spool file; accepted with spool=True or a directory, "
                             "not spool=False")
        self.spool, self.ranks, self.delivery = spool, check_ranks(ranks), delivery
        self._errors = ErrorLog()
        self._collector: Collector | None = None
        self._emitter: Emitter | None = None
        self._patches = Patches()
        self._run_owner = RunOwner()
        self._rank_prefix: str | None = ""

    def _find_update(self) -> tuple[object, str]:
        """The update method's owner and name, looked up on each entry (the owner may be an attribute's value)."""
        update = next(filter(None, (method_at(self.target, name) for name in self.adapter.update.method)), None)
        if update is None:
            raise UnsupportedTargetError(
                f"{type(self.target).__name__} matches the {self.adapter.name} adapter but has none of its update "
                f"methods {list(self.adapter.update.method)}")
        return update

    def __repr__(self) -> str:
        state = "active" if self._collector else "resting"
        return f"<Tap {state} on {type(self.target).__name__} via {self.adapter.name}, every={self.every}>"

    def __enter__(self) -> Tap:  # noqa: PYI034 - Tap is not meant to be subclassed
        self._rank_prefix = rank_prefix(self.ranks, current_rank())
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
            self._patches.undo()
            with _tracked_lock:
                _tracked.discard(id(self.target))
            raise
        return self

    def _start(self) -> None:
        self._errors.clear()
        sinks = [self._run_owner.sink_for(sink) if is_mlflow_module(sink) else sink for sink in self._sinks]
        collector = Collector(self.adapter, self.target, every=self.every, step_axis=self.step, post=self._post,
                              fail=self._fail, episodes=any(map(self.selection.covers, CANONICAL)))
        router = Router(self.adapter, self.target, collector.state.agents)
        from metrictap._spool import spool_directory  # noqa: PLC0415 - keeps `import metrictap` light

        couriers = couriers_for(sinks, spool_directory(self.spool, self.target, self.adapter),
                                self._errors.record, process=self.delivery == "process")
        self._emitter = Emitter(router, couriers, self.selection, prefix=f"{self._rank_prefix}{self.prefix}",
                                depth=self.depth, on_error=self._errors.record)
        update = self._find_update()
        collector.bind("update", getattr(*update), {"step": self.adapter.update.step})
        transition = self.adapter.transition
        env_step = method_at(self.target, transition.method) if transition else None
        if transition and env_step:
            collector.bind("transition", getattr(*env_step), {
                "rewards": transition.rewards, "terminated": transition.terminated,
                "truncated": transition.truncated, "infos": transition.infos, "step": transition.step})
            self._patches.method(*env_step, collector.on_transition)
        self._patches.method(*update, collector.on_update)
        tracking = self.adapter.tracking
        flush = method_at(self.target, tracking.flush) if tracking and tracking.flush else None
        if flush:
            self._patches.method(*flush, collector.on_flush)
        hooks = [hook for hook in self.adapter.hooks if not hook.name or self.selection.covers(hook.name)]
        install_hooks(hooks, self.target, collector, self._patches)
        self._collector = collector
        self._emitter.start()

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
        collector, emitter = self._collector, self._emitter
        if collector is None or emitter is None:
            return
        self._patches.undo()
        with _tracked_lock:
            _tracked.discard(id(self.target))
        try:
            collector.close(final=True)
        except Exception as error:  # noqa: BLE001 - reported below under strict, never lost otherwise
            self._errors.record("close", error)
        finished = False
        try:
            finished = emitter.close(self.flush_timeout, self._run_owner.final_state(exc_type))
        finally:  # Ctrl-C during the flush leaves at once, the spool intact and named in the warning
            self._last = self.stats
            self._collector = None
            report = emitter.report(self.flush_timeout)
            if report:
                import logging  # noqa: PLC0415

                logging.getLogger("metrictap").warning("%s", report)
            self._run_owner.end(exc_type, delivered=finished)
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
        return getattr(*self._find_update())

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
        points, delivered, spooled, dropped = emitter.counts()
        pending = points - delivered - sum(dropped.values())
        return TapStats(updates=collector.updates, iterations=collector.iterations,
                        transitions=collector.transitions, windows=collector.windows, points=points,
                        delivered=delivered, pending=pending, spooled=min(spooled, pending), spool=emitter.spool,
                        dropped=dict(dropped), errors=dict(self._errors.counts))
