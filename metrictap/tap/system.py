"""System metrics for ``track(..., system=True)``: CPU, memory, disk, network and each GPU, on their own thread.

Every ``interval`` seconds a thread of the tap reads the machine and posts the readings to the
emitter as one :class:`~metrictap.emitting.messages.Ready` message, so that they travel the way every
other point does: spooled, batched, to every sink, retried through outages, never waited on
by training.

Why metrictap samples itself instead of starting MLflow's ``SystemMetricsMonitor``: that
monitor logs straight into one MLflow run through its own batch logger, so its points reach
no other sink, skip the spool (an outage loses them) and stop at the first failed request.
Its monitor classes (``mlflow.system_metrics.metrics.*``) would give the right names, but
reusing them would tie system metrics to MLflow's import (about a second, and a dependency
for users whose sink is W&B or TensorBoard); its ``GPUMonitor`` decides whether NVML exists
when it is first imported and warns on every sample where a reading is unsupported, and none
of them reads the process's own memory or a GPU's temperature. So the readings are taken here
with psutil and NVML directly, under exactly the names MLflow's monitor gives them (the tests
compare with MLflow's own monitors), so that MLflow's UI groups them as its own; the two
readings MLflow lacks are named in the same style: ``process_memory_usage_megabytes`` and
``gpu_<i>_temperature_celsius``.

Names start with ``system/``, or ``system/<node>/`` where ``MLFLOW_SYSTEM_METRICS_NODE_ID``
names the node, as in MLflow; in a multi-node torchrun job without it, the node is
``node_<GROUP_RANK>`` so that nodes never share a name. Only the first process of each node
(``LOCAL_RANK`` 0) samples: the machine is the same for all its ranks. The step is the tap's
current step on its axis, so that the readings line up with the training curves they explain.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from metrictap.emitting.messages import Ready

PREFIX = "system/"
MEGABYTE = 1e6  # MLflow's monitors divide bytes by 1e6
NODE_VARIABLE = "MLFLOW_SYSTEM_METRICS_NODE_ID"
NVML_READINGS = ("memory", "utilization", "power", "temperature")


def check_system(system: object, interval: object) -> tuple[bool, float]:
    """``track()``'s *system* and *system_interval*, checked; psutil must be importable when *system* is on."""
    if not isinstance(system, bool):
        raise TypeError(f"system={system!r}; accepted: True or False")
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not (
            math.isfinite(interval) and interval > 0):
        raise ValueError(f"system_interval={interval!r}; accepted: a number of seconds > 0 (default 10)")
    if system:
        require_psutil()
    return system, float(interval)


def samples_here() -> bool:
    """Whether this process samples its node: the first process of a node (``LOCAL_RANK`` 0, or no launcher)."""
    local_rank = os.environ.get("LOCAL_RANK", "").strip()
    return not local_rank.isdigit() or int(local_rank) == 0


def node_prefix() -> str:
    """The name prefix: ``system/``, ``system/<node id>/``, or in a multi-node job ``system/node_<GROUP_RANK>/``."""
    node = os.environ.get(NODE_VARIABLE, "").strip()
    if not node:
        world, local_world = os.environ.get("WORLD_SIZE", ""), os.environ.get("LOCAL_WORLD_SIZE", "")
        group = os.environ.get("GROUP_RANK", "")
        if world.isdigit() and local_world.isdigit() and int(world) > int(local_world) and group.isdigit():
            node = f"node_{group}"
    return f"{PREFIX}{node}/" if node else PREFIX


def require_psutil() -> Any:
    """The psutil module, or an ImportError saying how to install it."""
    try:
        import psutil
    except ImportError as exc:
        raise ImportError("track(..., system=True) reads the machine with psutil, which is not installed; "
                          "install it with: pip install 'metrictap[system]'") from exc
    return psutil


class Gpus:
    """Per-GPU readings through NVML (``nvidia-ml-py``'s ``pynvml`` module), or nothing where NVML is absent.

    A reading a device does not support (``NVMLError_NotSupported``, e.g. power on some boards)
    is left out from then on, quietly: it was never there to lose.
    """

    def __init__(self) -> None:
        self._nvml: Any = None
        self._handles: list[Any] = []
        self._unsupported: set[tuple[int, str]] = set()
        try:
            import pynvml
        except ImportError:
            return
        try:
            pynvml.nvmlInit()
            self._handles = [pynvml.nvmlDeviceGetHandleByIndex(index) for index in range(pynvml.nvmlDeviceGetCount())]
        except pynvml.NVMLError as exc:  # no driver or no GPU: the CPU readings go on alone
            logging.getLogger("metrictap").debug("metrictap: no GPU readings (NVML: %s)", exc)
            return
        self._nvml = pynvml

    @property
    def count(self) -> int:
        """How many GPUs are read."""
        return len(self._handles) if self._nvml is not None else 0

    def read(self, on_error: Callable[[str, BaseException], None]) -> dict[str, float]:
        """One reading of every GPU, named as MLflow's ``GPUMonitor`` names them (without the prefix)."""
        values: dict[str, float] = {}
        for index, handle in enumerate(self._handles if self._nvml is not None else ()):
            for reading in NVML_READINGS:
                if (index, reading) in self._unsupported:
                    continue
                try:
                    values.update(self._read(index, handle, reading))
                except self._nvml.NVMLError_NotSupported:
                    self._unsupported.add((index, reading))
                except self._nvml.NVMLError as exc:
                    on_error("system gpu", exc)
        return values

    def _read(self, index: int, handle: Any, reading: str) -> dict[str, float]:
        nvml, name = self._nvml, f"gpu_{index}_"
        if reading == "memory":
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            return {f"{name}memory_usage_percentage": memory.used / memory.total * 100,
                    f"{name}memory_usage_megabytes": memory.used / MEGABYTE}
        if reading == "utilization":
            return {f"{name}utilization_percentage": float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)}
        if reading == "power":
            milliwatts = nvml.nvmlDeviceGetPowerUsage(handle)
            limit = nvml.nvmlDeviceGetEnforcedPowerLimit(handle)
            return {f"{name}power_usage_watts": milliwatts / 1000,
                    f"{name}power_usage_percentage": milliwatts / limit * 100}
        return {f"{name}temperature_celsius": float(nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU))}

    def close(self) -> None:
        """Release NVML."""
        if self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()
            except self._nvml.NVMLError as exc:
                logging.getLogger("metrictap").debug("metrictap: nvmlShutdown failed: %s", exc)
            self._nvml = None


class SystemSampler:
    """The sampling thread of one tap activation: ``start()``, then ``stop()`` before the emitter closes.

    ``stop()`` takes one last sample, so that a run shorter than the interval still gets one
    reading, unless the one before is less than ``min(interval, 1 s)`` old (CPU utilisation is
    measured between two samples: over a shorter span it says little).
    """

    def __init__(self, post: Callable[[object], None], step: Callable[[], int], *, interval: float,
                 on_error: Callable[[str, BaseException], None]) -> None:
        self._psutil = require_psutil()
        self._post, self._step, self.interval, self._on_error = post, step, interval, on_error
        self._prefix = node_prefix()
        self._stopping = threading.Event()
        self._process: Any = None
        self._network = (0.0, 0.0)
        self._gpus: Gpus | None = None
        self._last = 0.0
        self.samples = 0
        self.thread = threading.Thread(target=self._run, name="metrictap-system", daemon=True)

    def start(self) -> None:
        """Take the baselines (CPU time, network counters) and start the thread."""
        self._process = self._psutil.Process()
        self._psutil.cpu_percent(None)  # utilisation is measured from one call to the next
        counters = self._psutil.net_io_counters()
        self._network = (counters.bytes_recv / MEGABYTE, counters.bytes_sent / MEGABYTE)
        self._gpus = Gpus()
        self._last = time.monotonic()
        self.thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """End the thread after its last sample (waiting at most *timeout* seconds) and release NVML."""
        self._stopping.set()
        self.thread.join(timeout)
        if not self.thread.is_alive() and self._gpus is not None:
            self._gpus.close()

    def read(self) -> dict[str, float]:
        """One reading of the machine, named as MLflow's system metrics monitor names it."""
        psutil = self._psutil
        memory = psutil.virtual_memory()
        disk = psutil.disk_usage(os.sep)
        network = psutil.net_io_counters()
        values = {
            "cpu_utilization_percentage": float(psutil.cpu_percent(None)),
            "system_memory_usage_megabytes": memory.used / MEGABYTE,
            "system_memory_usage_percentage": memory.used / memory.total * 100,
            "process_memory_usage_megabytes": self._process.memory_info().rss / MEGABYTE,
            "disk_usage_percentage": float(disk.percent),
            "disk_usage_megabytes": disk.used / MEGABYTE,
            "disk_available_megabytes": disk.free / MEGABYTE,
            "network_receive_megabytes": network.bytes_recv / MEGABYTE - self._network[0],
            "network_transmit_megabytes": network.bytes_sent / MEGABYTE - self._network[1],
        }
        if self._gpus is not None:
            values.update(self._gpus.read(self._on_error))
        return values

    def _run(self) -> None:
        while not self._stopping.wait(max(0.0, self._last + self.interval - time.monotonic())):
            self._sample()
        if not self.samples or time.monotonic() - self._last >= min(self.interval, 1.0):
            self._sample()

    def _sample(self) -> None:
        self._last = time.monotonic()
        try:
            values = self.read()
            self._post(Ready(step=self._step(), timestamp_ms=time.time_ns() // 1_000_000,
                             values={self._prefix + name: value for name, value in values.items()}))
            self.samples += 1
        except Exception as exc:  # noqa: BLE001 - a failed reading never stops training or the next reading
            self._on_error("system", exc)
