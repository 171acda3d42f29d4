"""``metrictap names``: the canonical metric table, one column per framework, written from the adapters.

Each cell says where a framework's value for that name comes from (see
:func:`metrictap.adapting.catalogue.sources`). Generated, so the README's table says what the
adapter files say.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from metrictap.adapting.adapter import Adapter, shipped_adapters
from metrictap.adapting.catalogue import sources

LEADING = ("policy_loss", "value_loss", "critic_loss", "entropy", "learning_rate", "kl_divergence", "grad_norm",
           "policy_std", "episode_reward_mean", "episode_length_mean", "episode_reward", "episode_length",
           "success_rate", "cumulative_rewards", "mean_rewards", "timesteps", "iterations", "fps", "rollout_time",
           "learning_time", "epoch_time")


def markdown(adapters: Sequence[Adapter]) -> str:
    """The table: one row per canonical name (core names first), one column per adapter."""
    columns = [sources(adapter) for adapter in adapters]
    names = [name for name in LEADING if any(name in column for column in columns)]
    names += sorted({name for column in columns for name in column} - set(names))
    lines = ["| name | " + " | ".join(adapter.name for adapter in adapters) + " |",
             "|---" * (len(adapters) + 1) + "|"]
    lines += [f"| `{name}` | " + " | ".join(", ".join(column.get(name, ["—"])) for column in columns) + " |"
              for name in names]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser, _name: str) -> None:
    """The command takes no options: it prints the table for every shipped adapter."""
    parser.epilog = "Cells: a framework tag (* scale), a hook, a probed path, or 'tap' (measured by metrictap)."


def run(_args: argparse.Namespace) -> int:
    """Print the table."""
    print(markdown(shipped_adapters()))  # noqa: T201 - the command's output
    return 0
