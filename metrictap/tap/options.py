"""A tap's keyword options, validated once into one frozen :class:`TapOptions`.

:func:`~metrictap.track` documents each option; this module checks them, so that every mistake is
a ``ValueError`` or ``TypeError`` on the call that made it, naming the option, what was given
and what is accepted, before anything is patched. ``only=`` is checked later, against the names
the target's adapter can produce (:mod:`metrictap.adapting.selection`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from metrictap.adapting.adapter import Adapter
from metrictap.adapting.names import is_valid
from metrictap.adapting.schema import Update
from metrictap.tap.ranks import check_ranks
from metrictap.tap.schedule import Every, parse_every
from metrictap.tap.system import check_system

STEP_AXES = Update.AXES
MAX_NAME = 250  # MLflow's limit on a metric name
DELIVERIES = ("thread", "process")


@dataclass(frozen=True)
class TapOptions:
    """Everything :func:`~metrictap.track` takes besides the target and the sink, normalised and checked."""

    every: Every
    only: Iterable[str] | None = None
    prefix: str = ""
    step: str | None = None
    adapter: Adapter | None = None
    depth: int = 2
    strict: bool = False
    flush_timeout: float = 10.0
    spool: str | os.PathLike[str] | bool = True
    ranks: int | str = 0
    delivery: str = "thread"
    system: bool = False
    system_interval: float = 10.0
    start_timestep: int = 0
    logged_through: int | None = None

    @classmethod
    def of(cls, *, every: int | str | Every = "balanced", only: Iterable[str] | None = None, prefix: str = "",
           step: str | None = None, adapter: Adapter | None = None, depth: int = 2, strict: bool | None = None,
           flush_timeout: float = 10.0, spool: str | os.PathLike[str] | bool = True, ranks: int | str = 0,
           delivery: str = "thread", system: bool = False, system_interval: float = 10.0, start_timestep: int = 0,
           logged_through: int | None = None) -> TapOptions:
        """Validate and normalise the options as ``track()`` received them."""
        schedule = parse_every(every)
        if strict is None:
            strict = os.environ.get("METRICTAP_STRICT", "").lower() in {"1", "true", "yes"}
        _check_types(strict=strict, prefix=prefix, adapter=adapter)
        if step is not None and step not in STEP_AXES:
            raise ValueError(f"step={step!r}; accepted: None (the framework's own axis), "
                             f"{', '.join(map(repr, STEP_AXES))}")
        if prefix and not is_valid(prefix.rstrip("/") or "/"):
            raise ValueError(f"prefix={prefix!r} is not a valid metric name prefix; "
                             "use letters, digits, _ - . / and spaces")
        if not isinstance(depth, int) or depth < 0:
            raise ValueError(f"depth={depth!r}; accepted: an int >= 0")
        if not isinstance(flush_timeout, (int, float)) or not flush_timeout >= 0:
            raise ValueError(f"flush_timeout={flush_timeout!r}; accepted: a number of seconds >= 0")
        if not isinstance(spool, (bool, str, os.PathLike)):
            raise TypeError(f"spool={spool!r}; accepted: True, False or a directory")
        if delivery not in DELIVERIES:
            raise ValueError(f"delivery={delivery!r}; accepted: {', '.join(map(repr, DELIVERIES))}")
        if delivery == "process" and spool is False:
            raise ValueError("delivery='process' sends from the spool file; accepted with spool=True or a directory, "
                             "not spool=False")
        system, system_interval = check_system(system, system_interval)
        check_resume(start_timestep, logged_through)
        return cls(every=schedule, only=only, prefix=prefix, step=step, adapter=adapter, depth=depth,
                   strict=strict, flush_timeout=flush_timeout, spool=spool, ranks=check_ranks(ranks),
                   delivery=delivery, system=system, system_interval=system_interval,
                   start_timestep=start_timestep, logged_through=logged_through)

    def check_prefix(self, names: Iterable[str], framework: str) -> None:
        """Refuse a prefix that would push one of *names* (those the adapter produces) past MLflow's length limit."""
        longest = max(names, key=len, default="")
        if len(self.prefix) + len(longest) > MAX_NAME:
            raise ValueError(f"prefix= is {len(self.prefix)} characters long: with it, {longest!r}, a name the "
                             f"{framework} adapter produces, would pass MLflow's {MAX_NAME}-character limit on metric "
                             f"names; accepted: a prefix of at most {MAX_NAME - len(longest)} characters")

    def spool_folder(self, run_folder: str | None) -> str | None:
        """Where spools go: the directory given, else the run's own folder, else ``./metrictap-spool``.

        The run's folder is the adapter's ``match.directory`` on the target (skrl: the agent's
        experiment directory), so that the spool sits beside the checkpoints of the run it belongs
        to. None means no spool (``spool=False``).
        """
        if self.spool is False:
            return None
        if self.spool is not True:
            return os.fspath(self.spool)
        return run_folder or os.path.join(os.getcwd(), "metrictap-spool")


def _check_types(*, strict: object, prefix: object, adapter: object) -> None:
    """Options of the wrong type fail here, with what is accepted, instead of deep inside the tap."""
    if not isinstance(strict, bool):
        raise TypeError(f"strict={strict!r}; accepted: True, False or None (read METRICTAP_STRICT)")
    if not isinstance(prefix, str):
        raise TypeError(f"prefix={prefix!r}; accepted: a string such as 'eval/'")
    if adapter is not None and not isinstance(adapter, Adapter):
        raise TypeError(f"adapter={adapter!r}; accepted: None (the shipped adapters) or a metrictap.Adapter, "
                        "e.g. Adapter.from_toml(text)")


def check_resume(start_timestep: object, logged_through: object) -> None:
    """A ValueError naming *start_timestep* or *logged_through* (the options of a resumed run) if malformed."""
    if isinstance(start_timestep, bool) or not isinstance(start_timestep, int) or start_timestep < 0:
        raise ValueError(f"start_timestep={start_timestep!r}; accepted: an int >= 0")
    if logged_through is not None and (isinstance(logged_through, bool) or not isinstance(logged_through, int)):
        raise ValueError(f"logged_through={logged_through!r}; accepted: an int (a step) or None")
