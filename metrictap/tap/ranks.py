"""Which process of a distributed job emits: by default rank 0 only, as skrl's own writer does.

Every rank of a data-parallel job trains the same policy on its own environments; logging them
all would multiply requests and, on one run, interleave curves under one name. The rank comes
from ``torch.distributed`` once a process group exists (only if torch is already imported: this
module never imports it), else from the variables launchers set: ``RANK`` (torchrun, Isaac Lab),
``JAX_RANK`` (skrl's JAX launcher), then ``LOCAL_RANK``.
"""

from __future__ import annotations

import os
import sys

ALL = "all"
VARIABLES = ("RANK", "JAX_RANK", "LOCAL_RANK")


def check_ranks(ranks: object) -> int | str:
    """*ranks* as given to ``track()``, or a ValueError naming it and what is accepted."""
    if ranks == ALL or (isinstance(ranks, int) and not isinstance(ranks, bool) and ranks >= 0):
        return ranks
    raise ValueError(f"ranks={ranks!r}; accepted: an int >= 0 (only that rank emits, 0 by default) "
                     f"or {ALL!r} (every rank emits, its metrics named rank<N>/...)")


def current_rank() -> int:
    """The rank of the calling process in its distributed job; 0 outside one."""
    torch = sys.modules.get("torch")
    distributed = getattr(torch, "distributed", None)
    if distributed is not None and distributed.is_available() and distributed.is_initialized():
        return int(distributed.get_rank())
    for name in VARIABLES:
        value = os.environ.get(name, "").strip()
        if value.isdigit():
            return int(value)
    return 0


def rank_prefix(ranks: int | str, rank: int) -> str | None:
    """The name prefix this rank emits under (``""`` or ``"rank<N>/"``), or None if it does not emit."""
    if ranks == ALL:
        return f"rank{rank}/"
    return "" if rank == ranks else None
