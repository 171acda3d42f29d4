"""The training-thread half of a tap: observe calls, copy what must be copied, close windows.

Everything here runs inside the framework's own calls, so it does as little as it can: it
times updates, copies each step's rewards and done flags on their own device (no host sync),
slices the tag lists the framework appended to, and hands windows to the emitter thread,
which does the arithmetic, the naming and the delivery.

Windows are handed over in bursts, at most every ``HANDOFF_SECONDS``: each hand-over wakes the
emitter thread, and a woken thread takes the GIL (and, on a busy machine, the core) from the
training thread, so one wake per burst costs training far less than one per window. The
emitter delivers at most once a second anyway. The steps recorded during a burst go over as
one :class:`Rows`, ahead of the burst's windows, each of which says how many of those steps
are its own: the emitter then brings them to the host in one conversion instead of one per
window.

Imported where used, not at module level: ``logging``; so that ``import metrictap`` and ``metrictap
--help`` stay light and never load a framework, MLflow or a part of metrictap that the call does not
need.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from metrictap.adapting.binding import Binding
from metrictap.adapting.paths import MISSING
from metrictap.emitting.messages import Close, Rows, copy_flags, copy_row, env_count, unknown_flags
from metrictap.tap.patching import ArgumentReader, Fail, Patches, guard
from metrictap.tap.schedule import Every
from metrictap.tap.state import StateReader

ROWS_PER_CHUNK = 256
HANDOFF_SECONDS = 0.2


class Collector:
    """Observes one bound target's update, transition and flush calls for one tap."""

    def __init__(self, binding: Binding, *, every: Every, step_axis: str, post: Callable[[object], None],
                 fail: Fail, episodes: bool = True, start_timestep: int = 0) -> None:
        adapter = binding.adapter
        self._start = start_timestep  # the framework's timestep 0 is this one of the run (a resumed run goes on)
        self.binding, self.every, self.step_axis = binding, every, step_axis
        self._episodes = episodes  # False when only= selects no episode metric: then no step is copied
        self._post, self.fail = post, fail
        self.updates = self.iterations = self.transitions = self.windows = 0
        self._cycle = binding.cycle
        self._training_attr = adapter.match.training
        self._slices: list[tuple[str, list[Any]]] = []
        self._hooks: dict[str, list[Any]] = {}
        self._tagged: dict[str, list[Any]] = {}
        self._stamped: dict[str, list[Any]] = {}  # tags the framework wrote out at _stamp_step, within this window
        self._stamp_step: int | None = None
        self._stamps = step_axis == adapter.update.axis  # a framework's own steps are on its own axis only
        self._rewards: list[Any] = []
        self._terminated: list[Any] = []
        self._truncated: list[Any] = []
        self._successes: list[Any] = []
        self._num_envs = 0
        self._timestep = start_timestep - 1
        self._update_timestep: object = MISSING
        now = time.perf_counter()
        self._opened = self._last_update_end = now
        self._window_iterations = self._window_cycles = self._cycle_steps = self._window_rows = 0
        self._env_steps_opened = self._env_steps = 0
        self._learning = self._rollout = 0.0
        self._due = self._dirty = False
        self._outbox: list[object] = []
        self._handed = now
        self._success_keys = adapter.transition.success if adapter.transition else ()
        self._odd_keys: set[str] = set()  # info keys whose success flags could not be read
        self.state = StateReader(binding)
        self.readers: dict[str, ArgumentReader] = {}

    def install(self, patches: Patches) -> None:
        """Patch the bound update, transition and flush methods, each through :func:`~metrictap.tap.patching.guard`."""
        binding, adapter = self.binding, self.binding.adapter
        self._read("update", getattr(*binding.update), {"step": adapter.update.step})
        transition = adapter.transition
        if transition and binding.transition:
            self._read("transition", getattr(*binding.transition), {
                "rewards": transition.rewards, "terminated": transition.terminated,
                "truncated": transition.truncated, "infos": transition.infos, "step": transition.step})
            patches.method(*binding.transition, guard("transition", self.fail, before=self._snapshot,
                                                      after=self._after_transition))
            if binding.begins:
                patches.method(*binding.begins, guard("transition", self.fail, before=self._step_begins))
        patches.method(*binding.update, guard("update", self.fail, before=_started, after=self._after_update,
                                              updating=self))
        if binding.flush:
            patches.method(*binding.flush, guard("tracking", self.fail, before=self._before_flush,
                                                 after=self._after_flush))

    def _read(self, role: str, method: Callable[..., Any], names: dict[str, str]) -> None:
        """Prepare to read *names* (role -> argument name; an empty name reads MISSING) from calls to *method*."""
        for key, name in names.items():
            self.readers[f"{role}.{key}"] = ArgumentReader(method, name)

    def _after_update(self, _instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], _result: object,
                      start: Any) -> None:
        end = time.perf_counter()
        self.updates += 1
        self._dirty = True
        timestep = self.readers["update.step"].read(args, kwargs)
        if timestep is MISSING or timestep != self._update_timestep:
            self.iterations += 1
            self._window_iterations += 1
            self._rollout += max(0.0, start - self._last_update_end)
            self._update_timestep = timestep
        self._learning += end - start
        self._last_update_end = end
        if isinstance(timestep, int):
            self._timestep = timestep + self._start
        self._due = self.every.due(self._window_iterations, end - self._opened)

    def _step_begins(self, *_call: object) -> None:
        """An env step begins: close a due window before the step tracks anything of its own."""
        if self._due:
            self.close()

    def _snapshot(self, _instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        """Copy rewards and dones before the framework may alter them."""
        read = self.readers
        rewards, terminated = read["transition.rewards"].read(args, kwargs), read["transition.terminated"].read(
            args, kwargs)
        if rewards is MISSING or not self._episodes:  # no episode accounting here: count env steps only
            return None, terminated, None, None
        truncated = read["transition.truncated"].read(args, kwargs)
        copies = copy_row(rewards, terminated, terminated if truncated is MISSING else truncated)
        success = None
        if self._success_keys and "transition.infos" in read:
            success = self._success(read["transition.infos"].read(args, kwargs))
        return *copies, success

    def _success(self, infos: object) -> Any:
        if not isinstance(infos, Mapping):
            return None
        for key in self._success_keys:
            flags = infos.get(key)
            if flags is not None:
                try:
                    return copy_flags(flags, infos.get(f"_{key}"))
                except (TypeError, ValueError, RuntimeError) as exc:  # a bad optional input costs only itself
                    self._odd_flags(key, flags, exc)
                    return None
        return None

    def _odd_flags(self, key: str, flags: object, error: BaseException) -> None:
        """Say once per key that its success flags are unreadable: ``success_rate`` leaves those steps out."""
        if key in self._odd_keys:
            return
        self._odd_keys.add(key)
        import logging

        logging.getLogger("metrictap").warning(
            "metrictap: infos[%r] holds %s, not per-env success flags (%s); success_rate leaves such steps out, "
            "everything else of them is counted", key, type(flags).__name__, error)

    def _after_transition(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], _result: object,
                          row: Any) -> None:
        if self._due:
            self.close()
        self.transitions += 1
        self._dirty = True
        timestep = self.readers["transition.step"].read(args, kwargs)
        self._timestep = timestep + self._start if isinstance(timestep, int) else self._timestep + 1
        if row is not None:
            rewards, terminated, truncated, success = row
            # A copy's shape, not len(): len() of a tensor is a Python function in torch.
            self._num_envs = env_count(terminated) if rewards is None else rewards.shape[0]
            self._env_steps += self._num_envs
            if rewards is not None:
                self._rewards.append(rewards)
                self._terminated.append(terminated)
                self._truncated.append(truncated)
                self._successes.append(success)
                self._window_rows += 1
                if len(self._rewards) >= ROWS_PER_CHUNK:
                    self._hand_over(time.perf_counter(), force=True)
        if self._training_attr and not getattr(instance, self._training_attr, True):
            self._cycle_steps += 1
            if self._cycle_steps >= self._cycle:
                self._cycle_steps = 0
                self._window_cycles += 1
                if self.every.due(self._window_cycles, time.perf_counter() - self._opened):
                    if self.binding.begins:  # after what the framework tracks later in this step
                        self._due = True
                    else:
                        self.close()

    def _before_flush(self, _instance: Any, _args: tuple[Any, ...], _kwargs: dict[str, Any]) -> None:
        """The framework is about to clear its tag lists: read what is new before it goes."""
        self.state.new_tracked(self._slices)

    def _after_flush(self, *_call: object) -> None:
        self.state.forget()

    def on_hook(self, name: str, value: object) -> None:
        """Record one observed value (a KL divergence, a gradient norm) for the current window."""
        self._hooks.setdefault(name, []).append(value)

    def on_tag(self, tag: str, value: object) -> None:
        """Record one value of a framework tag seen in a call (routed through the adapter's keys on emission)."""
        self._tagged.setdefault(tag, []).append(value)
        self._dirty = True

    def on_stamp(self, step: object) -> None:
        """The framework wrote out, at *step*, the tags recorded so far: they are stamped with that step."""
        if self._stamps and isinstance(step, int) and self._tagged:
            for tag, values in self._tagged.items():
                self._stamped.setdefault(tag, []).extend(values)
            self._tagged, self._stamp_step = {}, step

    def _hand_over(self, now: float, *, force: bool = False) -> None:
        """Post the recorded steps, then the closed windows, if the last hand-over is ``HANDOFF_SECONDS`` old."""
        if force or (self._outbox and now - self._handed >= HANDOFF_SECONDS):
            if self._rewards:
                self._post(Rows(self._rewards, self._terminated, self._truncated,
                                unknown_flags(self._successes, self._rewards)))
                self._rewards, self._terminated, self._truncated, self._successes = [], [], [], []
            outbox, self._outbox, self._handed = self._outbox, [], now
            for message in outbox:
                self._post(message)

    def close(self, *, final: bool = False) -> None:
        """End the window now; everything gathered reaches the emitter within ``HANDOFF_SECONDS`` (at once if final)."""
        self._due = False
        now = time.perf_counter()
        if final and not self._dirty:
            self._hand_over(now, force=True)
            return
        self.state.new_tracked(self._slices)
        probed = self.state.probe() if self._window_iterations else {}
        step, stamped = self._step(), None
        if self._stamp_step is not None and self._stamp_step != step:
            stamped = (self._stamp_step, list(self._stamped.items()))
        else:  # written out at the window's own step (or not at all): one point
            self._slices.extend(self._stamped.items())
        self._slices.extend(self._tagged.items())
        self._outbox.append(Close(step=step, timestamp_ms=time.time_ns() // 1_000_000, slices=self._slices,
                                  measured=self._measure(now), hooks=self._hooks, fallback=probed,
                                  rows=self._window_rows, stamped=stamped))
        self.windows += 1
        self._slices, self._hooks, self._tagged, self._window_rows = [], {}, {}, 0
        self._stamped, self._stamp_step = {}, None
        self._opened, self._env_steps_opened = now, self._env_steps
        self._window_iterations = self._window_cycles = 0
        self._learning, self._rollout, self._dirty = 0.0, 0.0, False
        self._hand_over(now, force=final)

    def current_step(self) -> int:
        """The step a window closing now would have; other threads (the system sampler) read it too."""
        return self._step()

    def _step(self) -> int:
        if self.step_axis == "iterations":
            return self.iterations
        if self.step_axis == "timesteps":
            return (self._timestep + 1) * self._num_envs
        if self.step_axis == "timestep":
            return self._timestep + 1
        step = self.binding.read(self.step_axis)  # the framework's own counter, checked on entry
        return step if isinstance(step, int) else self.iterations

    def _measure(self, now: float) -> dict[str, float]:
        measured: dict[str, float] = {}
        if self._num_envs:
            measured["timesteps"] = float((self._timestep + 1) * self._num_envs)
            if now > self._opened and self._env_steps > self._env_steps_opened:
                measured["fps"] = (self._env_steps - self._env_steps_opened) / (now - self._opened)
        if self.iterations:
            measured["iterations"] = float(self.iterations)
        updates = self._window_iterations
        if updates:
            measured["learning_time"] = self._learning / updates
            measured["rollout_time"] = self._rollout / updates
            measured["epoch_time"] = (self._learning + self._rollout) / updates
        return measured


def _started(*_call: object) -> float:
    return time.perf_counter()

