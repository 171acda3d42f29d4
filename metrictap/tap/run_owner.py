"""The MLflow run a tap starts itself, when its sink is the ``mlflow`` module and no run is active.

Such a run belongs to the tap: it ends when the tap does, FINISHED, FAILED on an exception or
KILLED on Ctrl-C. A run the caller started is left as it is. When the server did not take the
last points in time, ``mlflow.end_run`` would retry for minutes, so the run is only forgotten
by this process; the spool records its final status and ``metrictap replay`` sets it.
"""

from __future__ import annotations

from typing import Any

from metrictap.sinks.mlflow import MlflowSink, forget_active_run


class RunOwner:
    """Starts a run only where none is active, and ends only the run it started."""

    def __init__(self) -> None:
        self._run: Any = None

    def sink_for(self, module: Any) -> MlflowSink:
        """A sink for the run active in *module* (``mlflow``), started here if there is none."""
        if module.active_run() is None:
            self._run = module.start_run()
        return MlflowSink.for_active_run()

    def final_state(self, exc_type: type[BaseException] | None) -> tuple[str, str] | None:
        """The owned run's id and the status a block that ended with *exc_type* gives it; None if none is owned."""
        if self._run is None:
            return None
        status = "FINISHED" if exc_type is None else "KILLED" if issubclass(exc_type, KeyboardInterrupt) else "FAILED"
        return self._run.info.run_id, status

    def end(self, exc_type: type[BaseException] | None, *, delivered: bool) -> None:
        """End the owned run, or only forget it when not everything was *delivered*."""
        state = self.final_state(exc_type)
        if state is None:
            return
        self._run = None
        if delivered:
            import mlflow  # noqa: PLC0415 - mlflow's import costs ~1 s; only MLflow users pay it

            mlflow.end_run(state[1])
        else:
            forget_active_run()

    def abandon(self) -> None:
        """The tap's entry failed: end the run it started (FAILED), so that no run of it stays active."""
        if self._run is not None:
            self.end(RuntimeError, delivered=True)
