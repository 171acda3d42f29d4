"""The tap's own episode accounting, computed off the training thread from recorded transitions.

skrl's ``Reward / …`` and ``Episode / …`` tags are rolling means that repeat on every step and
exist only when TensorBoard writing is on. Instead, the training thread records each step's
rewards and done flags (a copy on the rewards' own device, no host sync), and this module
replays them in chunks, vectorised over time and envs, to find every finished episode exactly.

A reward that is not finite (NaN, ±inf) is counted and left out of ``cumulative_rewards`` and
``mean_rewards``, so one bad step does not poison them for the rest of the run; the episode it
falls in has no finite return, so it is counted as a non-finite episode and left out of every
episode mean. The next episode of that env starts clean.

Imported where used, not at module level: ``numpy``, ``torch``; so that ``import metrictap`` and
``metrictap --help`` stay light and never load a framework, MLflow or a part of metrictap that the
call does not need.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

RECENT = 100
STEPWISE = 8


def to_numpy(rows: list[Any]) -> Any:
    """Stack per-step rows (tensors on any device, or arrays) into one host float64 array of shape (steps, envs)."""
    import numpy as np

    if hasattr(rows[0], "detach"):
        import torch

        return torch.stack(rows).detach().to("cpu", torch.float64).reshape(len(rows), -1).numpy()
    return np.stack([np.asarray(row, dtype=np.float64) for row in rows]).reshape(len(rows), -1)


class Episodes:
    """Running per-env returns and lengths, the last 100 finished episodes, and window totals."""

    def __init__(self) -> None:
        self._return: Any = None
        self._length: Any = None
        self._recent: deque[tuple[float, float]] = deque(maxlen=RECENT)
        self._recent_means: tuple[float, float] | None = None
        self._successes: deque[float] = deque(maxlen=RECENT)
        self.cumulative = 0.0
        self._finished: list[tuple[float, float]] = []
        self._reward_sum = 0.0
        self._reward_count = 0
        self.non_finite_rewards = self.non_finite_episodes = 0  # since the last take_skipped()

    def add(self, rewards: Any, dones: Any, successes: Any = None) -> None:
        """Account for T steps of N envs: *rewards*, *dones* and optional *successes* (NaN = unknown), each (T, N).

        Short chunks (a window per update closes after one step) are replayed step by step: a
        vectorised pass costs some fifteen numpy calls whatever T is, a step about five.
        """
        import numpy as np

        steps, envs = rewards.shape
        if self._return is None or self._return.shape[0] != envs:
            self._return, self._length = np.zeros(envs), np.zeros(envs)
        done = dones.astype(bool)
        finite = np.isfinite(rewards)
        bad = int(finite.size - np.count_nonzero(finite))
        if bad:  # a cumulative sum across episodes would carry it for ever: step by step, it stays in its episode
            self._replay(rewards, done, successes)
            total = float(rewards[finite].sum())
            self.non_finite_rewards += bad
        elif steps <= STEPWISE:
            total = self._replay(rewards, done, successes)
        else:
            total = self._vectorised(rewards, done, successes)
        self.cumulative += total
        self._reward_sum += total
        self._reward_count += steps * envs - bad

    def _replay(self, rewards: Any, done: Any, successes: Any) -> float:
        for step in range(rewards.shape[0]):
            self._return += rewards[step]
            self._length += 1
            ended = done[step]
            if ended.any():
                self._finish(self._return[ended], self._length[ended], None if successes is None else
                             successes[step][ended])
                self._return[ended] = 0.0
                self._length[ended] = 0.0
        return float(rewards.sum())

    def _vectorised(self, rewards: Any, done: Any, successes: Any) -> float:
        import numpy as np

        steps, envs = rewards.shape
        running = np.cumsum(rewards, axis=0)
        index = np.broadcast_to(np.arange(steps)[:, None], (steps, envs))
        latest = np.maximum.accumulate(np.where(done, index, -1), axis=0)
        previous = np.vstack([np.full((1, envs), -1), latest[:-1]])
        base = np.where(previous >= 0, np.take_along_axis(running, np.maximum(previous, 0), axis=0),
                        -self._return)
        length = np.where(previous >= 0, index - previous, index + 1 + self._length)
        self._finish((running - base)[done], length[done], None if successes is None else successes[done])
        last = latest[-1]
        ended = last >= 0
        tail = running[-1] - np.take_along_axis(running, np.maximum(last, 0)[None, :], axis=0)[0]
        self._return = np.where(ended, tail, self._return + running[-1])
        self._length = np.where(ended, steps - 1 - last, self._length + steps)
        return float(running[-1].sum())

    def _finish(self, returns: Any, lengths: Any, flags: Any) -> None:
        """Record finished episodes (in step, then env order) and their success flags where known."""
        import numpy as np

        finished = list(zip(returns.tolist(), lengths.tolist(), strict=True))
        if not np.isfinite(returns).all():
            kept = [episode for episode in finished if math.isfinite(episode[0])]
            self.non_finite_episodes += len(finished) - len(kept)
            finished = kept
        self._finished.extend(finished)
        if finished:
            self._recent.extend(finished)
            self._recent_means = None
        if flags is not None:
            self._successes.extend(flags[~np.isnan(flags)].tolist())

    def take_skipped(self) -> dict[str, int]:
        """Non-finite rewards and episodes left out since the last call, by reason, for ``tap.stats.dropped``."""
        skipped = {"non_finite_reward": self.non_finite_rewards, "non_finite_episode": self.non_finite_episodes}
        self.non_finite_rewards = self.non_finite_episodes = 0
        return {reason: count for reason, count in skipped.items() if count}

    def close(self) -> dict[str, float]:
        """The canonical episode metrics for the window that ends now, then start a new window."""
        values: dict[str, float] = {"cumulative_rewards": self.cumulative}
        if self._finished:
            values["episode_reward"] = math.fsum(r for r, _ in self._finished) / len(self._finished)
            values["episode_length"] = math.fsum(n for _, n in self._finished) / len(self._finished)
        if self._recent:
            if self._recent_means is None:  # windows far outnumber finished episodes: sum 100 only when they change
                self._recent_means = (math.fsum(r for r, _ in self._recent) / len(self._recent),
                                      math.fsum(n for _, n in self._recent) / len(self._recent))
            values["episode_reward_mean"], values["episode_length_mean"] = self._recent_means
        if self._successes:
            values["success_rate"] = math.fsum(self._successes) / len(self._successes)
        if self._reward_count:
            values["mean_rewards"] = self._reward_sum / self._reward_count
        else:
            del values["cumulative_rewards"]
        self._finished, self._reward_sum, self._reward_count = [], 0.0, 0
        return values
