"""System metrics: real psutil readings through a real tap, and NVML readings from a fake library at NVML's boundary."""

from __future__ import annotations

import os
import shutil
import sys
import time
import types

import pytest
from mlflow import MlflowClient
from mlflow.system_metrics.metrics import gpu_monitor
from mlflow.system_metrics.metrics.cpu_monitor import CPUMonitor
from mlflow.system_metrics.metrics.disk_monitor import DiskMonitor
from mlflow.system_metrics.metrics.network_monitor import NetworkMonitor

from metrictap import MlflowSink, track
from metrictap.testing import MemorySink, SyntheticAgent, synthetic_adapter

INTERVAL = 0.1


def train_for(agent: SyntheticAgent, seconds: float) -> int:
    """Train the synthetic agent for about *seconds*, in short bursts; the last timestep + 1."""
    timestep, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        agent.train(timestep, timestep + 10)
        timestep += 10
        time.sleep(0.01)
    return timestep


def system_records(sink: MemorySink, prefix: str = "system/") -> list[tuple[int | None, dict[str, float]]]:
    return [(step, metrics) for step, metrics in sink.records if any(name.startswith(prefix) for name in metrics)]


def mlflow_names(*monitors: object) -> set[str]:
    """The names MLflow's own system metrics monitor logs for *monitors*, after one sample."""
    names = set()
    for monitor in monitors:
        monitor.collect_metrics()  # type: ignore[attr-defined]
        names.update(f"system/{name}" for name in monitor.aggregate_metrics())  # type: ignore[attr-defined]
    return names


def rss_megabytes() -> float:
    """This process's resident memory as the kernel reports it in /proc (an independent reading)."""
    with open("/proc/self/status", encoding="ascii") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024 / 1e6


class TestMachine:
    def test_readings_have_mlflows_names_and_plausible_values(self):
        """A tap with system=True delivers several readings under MLflow's names, agreeing with independent readings."""
        agent, sink = SyntheticAgent(), MemorySink()
        with track(agent, sink=sink, every="step", adapter=synthetic_adapter(), system=True,
                   system_interval=INTERVAL) as tap:
            last_step = train_for(agent, 1.0)
            rss = rss_megabytes()
        records = system_records(sink)
        assert len(records) >= 5
        names = set(records[-1][1])
        assert mlflow_names(CPUMonitor(), DiskMonitor(), NetworkMonitor()) <= names
        beyond = {name for name in names - mlflow_names(CPUMonitor(), DiskMonitor(), NetworkMonitor())
                  if not name.startswith("system/gpu_")}  # GPU readings, where NVML finds one, are checked apart
        assert beyond == {"system/process_memory_usage_megabytes"}  # the one reading MLflow's monitors lack
        steps = [step for step, _ in records]
        assert steps == sorted(steps)
        assert steps[0] >= 0
        assert steps[-1] <= last_step
        for _, values in records:
            assert 0.0 <= values["system/cpu_utilization_percentage"] <= 100.0
            assert 0.0 < values["system/system_memory_usage_percentage"] <= 100.0
        values = records[-1][1]
        disk = shutil.disk_usage(os.sep)
        assert values["system/disk_available_megabytes"] == pytest.approx(disk.free / 1e6, rel=0.01)
        assert values["system/process_memory_usage_megabytes"] == pytest.approx(rss, rel=0.2)
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e6
        assert 0 < values["system/system_memory_usage_megabytes"] < total
        assert values["system/network_receive_megabytes"] >= 0.0
        assert tap.stats.points == tap.stats.delivered

    def test_readings_reach_an_mlflow_run_through_the_spool(self, tracking_store, tmp_path):
        """The readings travel the tap's delivery: the MLflow run holds each one the memory sink got."""
        run_id = MlflowClient(tracking_store).create_run("0").info.run_id
        agent, memory = SyntheticAgent(), MemorySink()
        with track(agent, sink=[MlflowSink(run_id, tracking_store), memory], adapter=synthetic_adapter(),
                   system=True, system_interval=INTERVAL, spool=tmp_path) as tap:
            train_for(agent, 0.5)
            assert tap.stats.spool.startswith(str(tmp_path))
        stored = MlflowClient(tracking_store).get_metric_history(run_id, "system/cpu_utilization_percentage")
        sent = memory.history("system/cpu_utilization_percentage")
        assert len(sent) >= 3
        assert sorted((metric.step, metric.value) for metric in stored) == sorted(sent)

    def test_node_id_names_the_node(self, monkeypatch):
        """MLFLOW_SYSTEM_METRICS_NODE_ID puts the node in every name, as MLflow's monitor does."""
        monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_NODE_ID", "node_a")
        agent, sink = SyntheticAgent(), MemorySink()
        with track(agent, sink=sink, adapter=synthetic_adapter(), system=True, system_interval=INTERVAL):
            train_for(agent, 0.3)
        assert "system/node_a/cpu_utilization_percentage" in sink.names
        assert not {name for name in sink.names if name.startswith("system/cpu")}

    def test_other_nodes_in_a_torchrun_job_get_their_own_names(self, monkeypatch):
        """In a two-node torchrun job without a node id, each node's readings are named by its GROUP_RANK."""
        monkeypatch.setenv("WORLD_SIZE", "4")
        monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
        monkeypatch.setenv("GROUP_RANK", "1")
        agent, sink = SyntheticAgent(), MemorySink()
        with track(agent, sink=sink, adapter=synthetic_adapter(), system=True, system_interval=INTERVAL,
                   ranks="all"):
            train_for(agent, 0.3)
        assert "system/node_1/cpu_utilization_percentage" in sink.names

    def test_only_the_first_process_of_a_node_samples(self, monkeypatch):
        """A process with LOCAL_RANK 1 trains tapped but leaves the machine to its node's first process."""
        monkeypatch.setenv("LOCAL_RANK", "1")
        monkeypatch.setenv("RANK", "0")
        agent, sink = SyntheticAgent(), MemorySink()
        with track(agent, sink=sink, adapter=synthetic_adapter(), system=True, system_interval=INTERVAL):
            train_for(agent, 0.3)
        assert sink.records
        assert not system_records(sink)

    def test_a_short_run_still_gets_one_reading(self):
        """A run shorter than the interval gets the reading taken when the tap ends."""
        agent, sink = SyntheticAgent(), MemorySink()
        with track(agent, sink=sink, adapter=synthetic_adapter(), system=True):
            train_for(agent, 0.3)
        assert len(system_records(sink)) == 1

    @pytest.mark.parametrize(("options", "message"), [
        ({"system": "yes"}, "system='yes'; accepted: True or False"),
        ({"system": True, "system_interval": 0}, "system_interval=0; accepted: a number of seconds > 0"),
        ({"system": True, "system_interval": float("nan")}, "system_interval=nan; accepted"),
    ])
    def test_bad_options_name_what_was_given(self, options, message):
        """A bad system or system_interval fails on entry, naming the value and what is accepted."""
        with pytest.raises((TypeError, ValueError), match=message.replace("(", r"\(")):
            track(SyntheticAgent(), sink=MemorySink(), adapter=synthetic_adapter(), **options)


class FakeNvml(types.ModuleType):
    """``pynvml`` for two GPUs, replaying fixed readings; the second GPU does not report power."""

    class NVMLError(Exception):
        pass

    class NVMLError_NotSupported(NVMLError):  # noqa: N801, N818 - NVML's own names
        pass

    NVML_TEMPERATURE_GPU = 0

    def __init__(self) -> None:
        super().__init__("pynvml")
        self.calls: list[str] = []

    def nvmlInit(self) -> None:  # noqa: N802
        self.calls.append("init")

    def nvmlShutdown(self) -> None:  # noqa: N802
        self.calls.append("shutdown")

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802
        return 2

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:  # noqa: N802
        return index

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> types.SimpleNamespace:  # noqa: N802
        return types.SimpleNamespace(used=(handle + 1) * 3_000_000_000, total=80_000_000_000, free=0)

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> types.SimpleNamespace:  # noqa: N802
        return types.SimpleNamespace(gpu=40 + handle, memory=7)

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:  # noqa: N802
        if handle == 1:
            raise self.NVMLError_NotSupported
        return 250_000

    def nvmlDeviceGetEnforcedPowerLimit(self, _handle: int) -> int:  # noqa: N802
        return 700_000

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:  # noqa: N802
        assert sensor == self.NVML_TEMPERATURE_GPU
        return 61 + handle


@pytest.fixture
def nvml(monkeypatch: pytest.MonkeyPatch) -> FakeNvml:
    """The fake NVML library as ``pynvml`` for metrictap and for MLflow's own GPU monitor."""
    fake = FakeNvml()
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setattr(gpu_monitor, "pynvml", fake, raising=False)
    return fake


class TestGpus:
    def test_each_gpu_is_read_under_mlflows_names(self, nvml):
        """Every GPU reading MLflow's GPUMonitor takes from the same library comes out under its name and value."""
        agent, sink = SyntheticAgent(), MemorySink()
        with track(agent, sink=sink, adapter=synthetic_adapter(), system=True, system_interval=INTERVAL) as tap:
            train_for(agent, 0.4)
        monitor = gpu_monitor.GPUMonitor()
        monitor.collect_metrics()
        theirs = {f"system/{name}": value for name, value in monitor.aggregate_metrics().items()}
        ours = system_records(sink)[-1][1]
        assert set(theirs) == {name for name in ours if name.startswith("system/gpu_")} - {
            "system/gpu_0_temperature_celsius", "system/gpu_1_temperature_celsius"}
        for name, value in theirs.items():
            assert ours[name] == pytest.approx(value, abs=0.05)  # MLflow rounds to one decimal
        assert ours["system/gpu_0_temperature_celsius"] == 61.0
        assert ours["system/gpu_1_temperature_celsius"] == 62.0
        assert "system/gpu_1_power_usage_watts" not in ours  # unsupported there, and not an error
        assert tap.stats.errors == {}
        assert nvml.calls.count("shutdown") == 1

    def test_a_failing_reading_is_counted_and_sampling_goes_on(self, nvml, monkeypatch):
        """An NVML error other than 'not supported' is counted as an error; the other readings keep coming."""
        monkeypatch.setenv("METRICTAP_STRICT", "0")

        def broken(handle):
            raise nvml.NVMLError("GPU is lost")

        monkeypatch.setattr(nvml, "nvmlDeviceGetUtilizationRates", broken)
        agent, sink = SyntheticAgent(), MemorySink()
        with track(agent, sink=sink, adapter=synthetic_adapter(), system=True, system_interval=INTERVAL) as tap:
            train_for(agent, 0.4)
        records = system_records(sink)
        assert tap.stats.errors["system gpu"] == 2 * len(records)
        assert "system/gpu_0_utilization_percentage" not in sink.names
        assert "system/gpu_1_memory_usage_megabytes" in records[-1][1]
