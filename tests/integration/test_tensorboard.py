"""Trackers beyond MLflow through the one sink protocol: TensorBoard's SummaryWriter and wandb.log-style callables."""

from __future__ import annotations

from typing import Any

import pytest
from event_files import scalars
from rsl_rl_runs import make_runner
from torch.utils.tensorboard import SummaryWriter

from metrictap import track
from metrictap.sinks import check_sinks
from metrictap.sinks.tensorboard import WriterSink
from metrictap.testing import MemorySink


class WandbRun:
    """Keeps what ``wandb.log`` would receive; ``log`` has wandb.log's exact signature."""

    def __init__(self) -> None:
        self.calls: list[tuple[int | None, dict[str, Any], bool | None, bool | None]] = []

    def log(self, data: dict[str, Any], step: int | None = None, commit: bool | None = None,
            sync: bool | None = None) -> None:
        self.calls.append((step, dict(data), commit, sync))


class TestWriterSink:
    def test_recognised(self, tmp_path):
        """A SummaryWriter instance is wrapped as a sink; the class itself is refused with what a sink may be."""
        writer = SummaryWriter(log_dir=str(tmp_path))
        sinks = check_sinks([writer, WandbRun().log])
        assert isinstance(sinks[0], WriterSink)
        assert sinks[0].writer is writer
        with pytest.raises(TypeError, match="pass an instance") as info:
            check_sinks(SummaryWriter)
        assert "add_scalar(tag, value, global_step)" in str(info.value)
        writer.close()

    def test_training_into_tensorboard_and_wandb(self, tmp_path):
        """One training delivers the same windows to TensorBoard's event file, a wandb.log callable and memory."""
        runner = make_runner()
        writer, wandb, memory = SummaryWriter(log_dir=str(tmp_path / "tb")), WandbRun(), MemorySink()
        with track(runner, sink=[writer, wandb.log, memory], every="step") as tap:
            runner.learn(3)
        logged = scalars(tmp_path / "tb")  # read before close: each delivery was flushed
        writer.close()
        assert set(logged) == memory.names
        for name in memory.names:
            assert [step for step, _ in logged[name]] == [step for step, _ in memory.history(name)]
            assert [value for _, value in logged[name]] == pytest.approx([v for _, v in memory.history(name)])
        assert [(step, data) for step, data, _, _ in wandb.calls] == memory.records
        steps = [step for step, *_ in wandb.calls]
        assert steps == sorted(set(steps))  # wandb drops a step that does not increase
        assert {(commit, sync) for _, _, commit, sync in wandb.calls} == {(None, None)}
        assert tap.stats.delivered == tap.stats.points

    def test_failing_sink_isolated(self, tmp_path, monkeypatch):
        """A writer whose add_scalar fails loses only its own deliveries; the SummaryWriter beside it gets them all."""
        monkeypatch.delenv("METRICTAP_STRICT")

        class Broken:
            def add_scalar(self, *_: object) -> None:
                raise OSError("disk full")

        runner = make_runner()
        writer = SummaryWriter(log_dir=str(tmp_path))
        with track(runner, sink=[Broken(), writer], every="step", only={"policy_loss"}) as tap:
            runner.learn(3)
        writer.close()
        assert [step for step, _ in scalars(tmp_path)["policy_loss"]] == [0, 1, 2]  # rsl_rl's own axis: its iterations
        assert tap.stats.errors == {"sink WriterSink": 3}
