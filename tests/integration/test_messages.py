"""Per-step copies: what they keep, and that they never read a tensor's value (which would sync a GPU).

Tensors on torch's ``meta`` device have shapes but no data: any operation that reads a value
(``.item()``, ``.cpu()``, ``.tolist()``, ``bool(t)``, conversion to numpy) raises. A copy that
succeeds on meta tensors therefore never waits for a device, which is what a CUDA step needs.
"""

import math

import numpy as np
import pytest
import torch

from metrictap.emitting.episodes import to_numpy
from metrictap.emitting.messages import copy_flags, copy_row, unknown_flags


def meta(shape, dtype=torch.float32):
    return torch.empty(shape, device="meta", dtype=dtype)


class TestNoDeviceReads:
    def test_meta_tensors_refuse_reads(self):
        """The check itself: reading a meta tensor's value raises."""
        with pytest.raises((RuntimeError, NotImplementedError)):
            meta((4, 1)).cpu()

    def test_rewards_and_dones(self):
        """A step of tensors is copied on its own device, in its own shape."""
        rewards, terminated, truncated = copy_row(meta((4, 1)), meta((4, 1), torch.bool), meta((4, 1), torch.bool))
        assert (rewards.device.type, rewards.shape, terminated.dtype) == ("meta", (4, 1), torch.bool)
        assert (truncated.device.type, truncated.shape) == ("meta", (4, 1))

    def test_multi_agent(self):
        """Per-agent tensors become the team's reward and the first agent's done flags, on the device."""
        rewards, terminated, truncated = copy_row({"a": meta((4, 1)), "b": meta((4, 1))},
                                                  {"a": meta((4, 1), torch.bool), "b": meta((4, 1), torch.bool)},
                                                  {"a": meta((4, 1), torch.bool), "b": meta((4, 1), torch.bool)})
        assert rewards.device.type == terminated.device.type == truncated.device.type == "meta"

    @pytest.mark.parametrize("mask", [None, "tensor", "host"])
    def test_success_flags(self, mask):
        """Success flags, with or without a validity mask (on the device or from the host), stay on the device."""
        masks = {None: None, "tensor": meta((4,), torch.bool), "host": np.array([True, False, True, True])}
        flags = copy_flags(meta((4,), torch.bool), masks[mask])
        assert (flags.device.type, flags.dtype, flags.shape) == ("meta", torch.float64, (4,))

    def test_steps_without_flags_in_a_chunk(self):
        """Steps that gave no flags become NaN rows on the flags' device, so the chunk stacks."""
        rows = [meta((4, 1)), meta((4, 1))]
        filled = unknown_flags([None, meta((4,), torch.float64)], rows)
        assert [(row.device.type, row.shape) for row in filled] == [("meta", (4,)), ("meta", (4,))]


class TestCopies:
    def test_copy_survives_the_buffer_being_reused(self):
        """Isaac Lab returns the same reward buffer every step: the copy keeps this step's values."""
        buffer, done = torch.tensor([[1.0], [2.0]]), torch.zeros(2, 1, dtype=torch.bool)
        cut = torch.tensor([[True], [False]])
        rewards, terminated, truncated = copy_row(buffer, done, cut)
        buffer.fill_(9.0)
        done.fill_(1)
        cut.fill_(0)
        assert rewards.tolist() == [[1.0], [2.0]]
        assert (terminated.tolist(), truncated.tolist()) == ([[False], [False]], [[True], [False]])

    def test_rows_reach_the_host_as_steps_by_envs(self):
        """The emitter thread flattens (envs, 1) tensor rows into a (steps, envs) float64 array."""
        rows = [copy_row(torch.full((3, 1), float(step)), torch.zeros(3, 1, dtype=torch.bool),
                         torch.ones(3, 1, dtype=torch.bool))[0] for step in range(2)]
        assert to_numpy(rows).shape == (2, 3)
        assert to_numpy(rows).tolist() == [[0.0] * 3, [1.0] * 3]

    def test_host_rows(self):
        """Lists and arrays are copied flat, as float64 rewards and boolean terminated and truncated flags."""
        rewards, terminated, truncated = copy_row([1, 2], [True, False], np.array([False, True]))
        assert rewards.dtype == np.float64
        assert (terminated.tolist(), truncated.tolist()) == ([True, False], [False, True])

    def test_flags_from_the_host(self):
        """Host flags become float64 with NaN where the mask says the env gave none."""
        flags = copy_flags(np.array([1, 0, 1]), np.array([True, True, False]))
        assert flags[:2].tolist() == [1.0, 0.0]
        assert math.isnan(flags[2])

    def test_chunk_without_flags(self):
        """A chunk in which no step had flags carries None; host flags are left for the emitter to fill."""
        assert unknown_flags([None, None], [np.zeros(2), np.zeros(2)]) is None
        host = [None, np.ones(2)]
        assert unknown_flags(host, [np.zeros(2), np.zeros(2)]) is host
