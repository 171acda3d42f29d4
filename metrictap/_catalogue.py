"""``metrictap names``: the canonical metric table, one column per framework, written from the adapters.

Each cell says where a framework's value for that name comes from: a framework tag (with its
scale), a hook, a probed path, or the tap itself (``tap``: measured around the update and
transition calls, or the tap's own episode accounting). Generated, so the README's table says
what the adapter files say.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence

from metrictap._adapter import Adapter, Key, shipped_adapters
from metrictap._collector import MEASURED
from metrictap._episodes import CANONICAL

LEADING = ("policy_loss", "value_loss", "critic_loss", "entropy", "learning_rate", "kl_divergence", "grad_norm",
           "policy_std", "episode_reward_mean", "episode_length_mean", "episode_reward", "episode_length",
           "success_rate", "cumulative_rewards", "mean_rewards", "timesteps", "iterations", "fps", "rollout_time",
           "learning_time", "epoch_time")
_SUPERSEDED = re.compile(r"superseded by (\w+)$")
SHOWN_CLASSES = 2


def _key(rule: Key) -> str:
    text = f"`{rule.match}`"
    if rule.scale != 1.0:
        text += f" * {rule.scale:g}"
    if rule.divide_by:
        text += f" / `{rule.divide_by[0]}`"
    if rule.classes:
        more = ", …" if len(rule.classes) > SHOWN_CLASSES else ""
        text += f" ({', '.join(rule.classes[:SHOWN_CLASSES])}{more})"
    return text


def _measured(adapter: Adapter) -> dict[str, list[str]]:
    """What the tap measures itself: timing around the update, and env steps and episodes from the transition."""
    transition = adapter.transition
    names = [name for name in MEASURED if transition or name not in ("timesteps", "fps")]
    if transition and transition.rewards:
        names += [name for name in CANONICAL if name != "success_rate" or transition.success]
    return {name: ["tap"] for name in names}


def sources(adapter: Adapter) -> dict[str, list[str]]:
    """Canonical name -> where *adapter*'s framework supplies it, first source first."""
    table = _measured(adapter)
    for rule in adapter.keys:
        superseded = _SUPERSEDED.match(rule.drop)
        if rule.name:
            table.setdefault(rule.name, []).append(_key(rule))
        elif superseded and superseded[1] in table:
            table[superseded[1]].append(f"replaces `{rule.match}`")
    for hook in adapter.hooks:
        if hook.name:
            table.setdefault(hook.name, []).append(f"hook `{hook.target}`")
    for probe in adapter.probes:
        table.setdefault(probe.name, []).append(f"`{probe.read[0]}`" + (" …" if len(probe.read) > 1 else ""))
    return table


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
