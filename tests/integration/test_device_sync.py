"""The training thread never makes a device wait: no tensor operation the tap calls there reads a tensor's value.

A CUDA device runs ahead of the Python thread that queues its work; an operation that needs a
value on the host (``.item()``, ``if tensor``, a boolean mask's size) stops that thread until
the device has caught up. The tap promises to copy rewards and done flags on their device and
leave every read to the emitter thread. Proving it needs no GPU: a ``TorchFunctionMode``,
which torch keeps per thread, sees every tensor operation on the training thread while real
trainings run tapped, and the test fails on any value-reading operation whose caller is
metrictap's own code. Operations inside the framework (skrl's own ``.item()`` calls, the env's)
are the framework's, even when they run inside a call that the tap wraps: an operation is
attributed to the nearest calling frame outside torch, numpy and the standard library.
"""

from __future__ import annotations

import sys
import sysconfig
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import numpy as np
import pytest
import rsl_rl_runs
import sb3_runs
import skrl_runs
import torch
from skrl.envs.wrappers.torch import wrap_env
from skrl.utils.runner.torch import Runner
from torch.overrides import TorchFunctionMode

from metrictap import track
from metrictap.bench.vector_env import VectorCartpole, isaac_cartpole_config
from metrictap.testing import MemorySink

# Operations that bring a value to the host, whatever their arguments.
READS_VALUES = frozenset({
    "item", "tolist", "numpy", "cpu", "__bool__", "__float__", "__int__", "__index__", "__complex__", "__array__",
    "__repr__", "__format__", "__str__", "__contains__", "nonzero", "argwhere", "masked_select", "unique",
    "unique_consecutive", "equal", "allclose", "is_nonzero",
})
STANDARD_LIBRARY = sysconfig.get_paths()["stdlib"]
INSTALLED = (sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"])
SKIPPED_PACKAGES = ("torch", "numpy")
# The bench's env is metrictap's code on the framework's side of the tap: its syncs are the env's own.
ENVS = (VectorCartpole.__module__,)


def _to_host(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether a ``Tensor.to`` call moves to the host: a CPU device, or another tensor that lives there."""
    for target in (*args[1:], kwargs.get("device"), kwargs.get("other")):
        if isinstance(target, torch.Tensor):
            return target.device.type == "cpu"
        if isinstance(target, (str, torch.device)):
            return torch.device(target).type == "cpu"
    return False


def _boolean_index(index: object) -> bool:
    """Whether an index selects by a boolean mask (its size, the count of True values, is read on the host)."""
    if isinstance(index, tuple):
        return any(map(_boolean_index, index))
    if isinstance(index, torch.Tensor):
        return index.dtype == torch.bool
    return isinstance(index, np.ndarray) and index.dtype == np.bool_


def _waits(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    if name in READS_VALUES:
        return True
    if name == "to":
        return _to_host(args, kwargs)
    return name == "__getitem__" and len(args) > 1 and _boolean_index(args[1])


def _caller(frame: FrameType | None) -> FrameType | None:
    """The frame whose code asked for the operation: the nearest outside torch, numpy and the standard library.

    A tap's wrapper that is calling the framework's function it wraps (its ``wrapped``) asks for
    nothing itself: what runs inside that call is the framework's, so the search goes on above.
    """
    callee = None
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        path = frame.f_code.co_filename
        standard = path.startswith(STANDARD_LIBRARY) and not path.startswith(INSTALLED)
        outside = module.partition(".")[0] not in SKIPPED_PACKAGES and not standard
        if outside and (callee is None or not _calls_wrapped(frame, callee)):
            return frame
        callee, frame = frame, frame.f_back
    return None


def _calls_wrapped(frame: FrameType, callee: FrameType) -> bool:
    """Whether *frame* is a wrapper (a ``wrapped`` local) whose call in progress is that wrapped function's."""
    function = frame.f_locals.get("wrapped")
    while function is not None:
        function = getattr(function, "__func__", function)
        if getattr(function, "__code__", None) is callee.f_code:
            return True
        function = getattr(function, "__wrapped__", None)
    return False


class DeviceWaits(TorchFunctionMode):
    """Records each value-reading tensor operation called from metrictap's code, and counts the tap's copies.

    The count of ``clone`` calls from metrictap shows the mode saw the tap at work, so that an
    empty record means no waits rather than nothing observed.
    """

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[str] = []
        self.tap_clones = 0

    def __torch_function__(self, func: Callable[..., Any], types: Any, args: tuple[Any, ...] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name == "clone" or _waits(name, args, kwargs):
            caller = _caller(sys._getframe(1))  # the stack is what attributes an operation
            module = "" if caller is None else caller.f_globals.get("__name__", "")
            if module.partition(".")[0] == "metrictap" and module not in ENVS:
                if name == "clone":
                    self.tap_clones += 1
                else:
                    self.waits.append(f"{name} in {module}.{caller.f_code.co_name} line {caller.f_lineno}")
        return func(*args, **kwargs)


@contextmanager
def watched() -> Iterator[DeviceWaits]:
    """Watch the calling thread's tensor operations for as long as the block runs."""
    with DeviceWaits() as mode:
        yield mode


def _skrl(algorithm: str) -> Callable[[], Any]:
    def train(sink: MemorySink) -> None:
        runner = skrl_runs.make_runner(algorithm, timesteps=300, write_interval=50)
        with track(runner.agent, sink=sink, every="step"):
            runner.run()

    return train


def _isaac_shaped(algorithm: str) -> Callable[[], Any]:
    def train(sink: MemorySink) -> None:
        env = wrap_env(VectorCartpole(64), wrapper="isaaclab", verbose=False)
        runner = Runner(env, isaac_cartpole_config(algorithm, timesteps=48, skrl_major=skrl_runs.SKRL_MAJOR,
                                                   directory="runs", write_interval=16))
        with track(runner.agent, sink=sink, every="step"):
            runner.run()

    return train


def _rsl_rl(sink: MemorySink) -> None:
    runner = rsl_rl_runs.make_runner()
    with track(runner, sink=sink, every="step"):
        runner.learn(4)


def _sb3(algorithm: str) -> Callable[[], Any]:
    def train(sink: MemorySink) -> None:
        model = sb3_runs.make_model(algorithm)
        with track(model, sink=sink, every="step"):
            model.learn(256, log_interval=1)

    return train


TRAININGS = {
    "skrl PPO": _skrl("PPO"), "skrl SAC": _skrl("SAC"), "skrl DQN": _skrl("DQN"),
    "skrl PPO, Isaac-shaped torch env": _isaac_shaped("PPO"), "skrl SAC, Isaac-shaped torch env": _isaac_shaped("SAC"),
    "rsl_rl PPO": _rsl_rl, "Stable-Baselines3 PPO": _sb3("PPO"), "Stable-Baselines3 SAC": _sb3("SAC"),
}


@pytest.mark.parametrize("training", TRAININGS)
def test_training_thread_never_waits_for_a_device(training):
    """A real tapped training calls no value-reading tensor operation from metrictap's frames on its thread."""
    sink = MemorySink()
    with watched() as mode:
        TRAININGS[training](sink)
    assert mode.waits == []
    assert mode.tap_clones > 0 or training.startswith("Stable-Baselines3")  # SB3's rewards arrive as numpy arrays
    assert sink.names  # the tap delivered: it was working while watched


@pytest.mark.parametrize(("expression", "operation"), [
    ("rewards.sum().item()", "item"), ("bool(rewards.sum())", "__bool__"), ("float(rewards.sum())", "__float__"),
    ("rewards[rewards > 0]", "__getitem__"), ("rewards.to('cpu')", "to"), ("rewards.tolist()", "tolist"),
    ("rewards.nonzero()", "nonzero"), ("rewards.unique()", "unique"), ("rewards.masked_select(rewards > 0)",
                                                                       "masked_select"),
])
def test_a_wait_in_metrictap_code_is_caught(expression, operation):
    """The watch records a value-reading operation whose caller is a metrictap module, and ignores it elsewhere."""
    rewards = torch.ones(4)
    code = compile(expression, "metrictap_probe.py", "exec")
    with watched() as mode:
        exec(code, {"__name__": "metrictap._probe", "rewards": rewards})  # noqa: S102 - a frame in metrictap's name
        exec(code, {"__name__": "skrl.agents.probe", "rewards": rewards})  # noqa: S102
    assert mode.waits == [f"{operation} in metrictap._probe.<module> line 1"]
