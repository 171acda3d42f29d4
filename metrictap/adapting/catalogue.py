"""Every name a tap can produce for one adapter, and where each comes from.

One source for the ``only=`` filter and for ``metrictap names``.

A name comes from a framework tag (a ``[[keys]]`` rule, with its scale), a hook, a probed path,
or the tap itself (``tap``: timing measured around the update and transition calls, and the
tap's own episode accounting where the adapter's transition carries rewards).
"""

from __future__ import annotations

import re

from metrictap.adapting.adapter import Adapter, Key

MEASURED = ("timesteps", "iterations", "fps", "epoch_time", "rollout_time", "learning_time")
EPISODES = ("episode_reward", "episode_reward_mean", "episode_length", "episode_length_mean",
            "cumulative_rewards", "mean_rewards", "success_rate")
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
        names += [name for name in EPISODES if name != "success_rate" or transition.success]
    return {name: ["tap"] for name in names}


def sources(adapter: Adapter) -> dict[str, list[str]]:
    """Canonical name (``{placeholders}`` for families) -> where *adapter*'s framework supplies it, first first."""
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
        for label, paths in hook.parts:  # calls over only some of the parts are named by them
            table.setdefault(f"{hook.name}/{label}", []).append(
                f"hook `{hook.target}` over {', '.join(f'`{path}`' for path in paths)}")
    for probe in adapter.probes:
        table.setdefault(probe.name, []).append(f"`{probe.read[0]}`" + (" …" if len(probe.read) > 1 else ""))
    return table
