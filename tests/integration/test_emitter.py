import logging
import signal
import subprocess
import time
from pathlib import Path

import pytest
from children import child_command, child_env, read_until
from hypothesis import given, settings
from hypothesis import strategies as st
from mlflow import MlflowClient
from mlflow_servers import SilentServer, free_port
from skrl_runs import make_runner

from metrictap import MlflowSink, track
from metrictap.delivery.spool import Spool
from metrictap.tap import collector as _collector
from metrictap.testing import NUM_ENVS, MemorySink, SyntheticAgent, synthetic_adapter


def dead_sink(run_id="r"):
    """An MlflowSink for a server that is not there (nothing listens on the port)."""
    return MlflowSink(run_id, f"http://127.0.0.1:{free_port()}")


class TestClose:
    def test_ctrl_c_during_the_flush(self, tmp_path):
        """Ctrl-C while the exit flush waits on a hung server leaves at once, the spool intact."""
        with SilentServer() as silent:
            child = subprocess.Popen(child_command("--tracking_uri", silent.uri, "--run_id", "hung", "--timesteps",
                                                   str(16 * 10), "--flush_timeout", "120", "--spool", str(tmp_path)),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env())
            try:
                lines = [read_until(child.stdout, b"TRAINING"), read_until(child.stdout, b"LEAVING")]
                time.sleep(1.0)
                interrupted = time.monotonic()
                child.send_signal(signal.SIGINT)
                _, err = child.communicate(timeout=60)
                took = time.monotonic() - interrupted
            finally:
                child.kill()
                child.wait(30)
        assert lines == [b"TRAINING", b"LEAVING"]
        assert b"KeyboardInterrupt" in err
        assert took < 10  # not the 120 s flush deadline
        spool = Spool.open(next(tmp_path.glob("*.spool")))
        assert Path(spool.path).read_bytes().endswith(b"\n")
        assert spool.count() > 10 * 10  # ten windows, nothing delivered, nothing lost

    @pytest.mark.server
    def test_delivered_in_full_leaves_no_spool(self, mlflow_server, tmp_path):
        """A flush that delivers everything removes the spool, and stats say nothing is pending."""
        run_id = MlflowClient(mlflow_server.uri).create_run("0").info.run_id
        runner = make_runner("PPO", timesteps=32)
        with track(runner.agent, sink=MlflowSink(run_id, mlflow_server.uri), spool=tmp_path) as tap:
            runner.run()
            assert Path(tap.stats.spool).parent == tmp_path
        assert tap.stats.pending == tap.stats.spooled == 0
        assert tap.stats.delivered == tap.stats.points - sum(tap.stats.dropped.values()) > 0
        assert tap.stats.spool == ""
        assert not list(tmp_path.iterdir())


class TestAccounting:
    def test_worst_sink_counts(self, caplog, tmp_path):
        """With a down server and a memory sink, stats count what the server lacks; the memory sink has it all."""
        runner = make_runner("PPO", timesteps=16 * 6)
        memory = MemorySink()
        with caplog.at_level(logging.WARNING, logger="metrictap"), track(
                runner.agent, sink=[dead_sink(), memory], every="step", strict=False, flush_timeout=0.5,
                spool=tmp_path) as tap:
            runner.run()
        stats = tap.stats
        received = sum(len(metrics) for _, metrics in memory.records)
        assert received == stats.points - sum(stats.dropped.values())
        assert stats.delivered == 0
        assert stats.pending == stats.spooled == received
        assert Spool.open(stats.spool).count() == received
        assert len([record for record in caplog.records if "not every point" in record.getMessage()]) == 1

    def test_without_spool(self, caplog, tmp_path, monkeypatch):
        """spool=False keeps undelivered points in memory only: no file is written, and what is left is lost at exit."""
        monkeypatch.chdir(tmp_path)
        runner = make_runner("PPO", timesteps=16 * 4, directory=str(tmp_path / "runs"))
        with caplog.at_level(logging.WARNING, logger="metrictap"), track(
                runner.agent, sink=dead_sink(), every="step", strict=False, flush_timeout=0.5, spool=False) as tap:
            runner.run()
        stats = tap.stats
        assert not list(tmp_path.rglob("*.spool"))
        assert stats.spooled == 0
        assert stats.delivered == 0
        assert stats.points == stats.pending + sum(stats.dropped.values())
        assert any("are lost" in record.getMessage() for record in caplog.records)


def finished_per_window(rewards, dones, window):
    """Returns of the episodes each window of *window* steps finished, counted one step and env at a time."""
    running, per_window = [0.0] * NUM_ENVS, []
    for start in range(0, len(rewards), window):
        finished = []
        for step in range(start, min(start + window, len(rewards))):
            for env in range(NUM_ENVS):
                running[env] += rewards[step][env]
                if dones[step][env]:
                    finished.append(running[env])
                    running[env] = 0.0
        per_window.append(finished)
    return per_window


@st.composite
def episodes_case(draw):
    steps = draw(st.integers(1, 60))
    rewards = draw(st.lists(st.lists(st.integers(-5, 5).map(float), min_size=NUM_ENVS, max_size=NUM_ENVS),
                            min_size=steps, max_size=steps))
    dones = draw(st.lists(st.lists(st.booleans(), min_size=NUM_ENVS, max_size=NUM_ENVS), min_size=steps,
                          max_size=steps))
    return rewards, dones, draw(st.integers(1, 7)), draw(st.integers(1, 9)), draw(st.sampled_from([0.0, 3600.0]))


class TestEpisodeWindows:
    @settings(max_examples=60, deadline=None)
    @given(episodes_case())
    def test_each_window_gets_its_own_episodes(self, case):
        """However steps are handed over (chunk sizes, bursts), each window reports exactly the episodes it finished."""
        rewards, dones, window, chunk, handoff = case
        agent, sink = SyntheticAgent(), MemorySink()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_collector, "ROWS_PER_CHUNK", chunk)
            patch.setattr(_collector, "HANDOFF_SECONDS", handoff)
            with track(agent, sink=sink, every=window, adapter=synthetic_adapter()):
                for step, (reward, done) in enumerate(zip(rewards, dones, strict=True)):
                    agent.record_transition(rewards=reward, terminated=done, truncated=[False] * NUM_ENVS,
                                            timestep=step)
                    agent.update(timestep=step)
        expected = [sum(returns) / len(returns) if returns else None
                    for returns in finished_per_window(rewards, dones, window)]
        assert [metrics.get("episode_reward") for _, metrics in sink.records] == pytest.approx(expected)


class TestOptions:
    def test_unwritable_spool(self, tmp_path):
        """A spool directory that cannot be written is refused on entry, naming it and the ways out."""
        blocker = tmp_path / "file"
        blocker.write_text("")
        runner = make_runner("PPO", timesteps=16)
        with pytest.raises(OSError, match=r"spool=.*cannot write a spool there.*spool=False"):
            track(runner.agent, sink=dead_sink(), spool=blocker / "spools").start()
        assert "update" not in vars(runner.agent)

    @pytest.mark.parametrize(("options", "error"), [({"flush_timeout": -1}, ValueError), ({"spool": 3}, TypeError),
                                                    ({"ranks": "some"}, ValueError)])
    def test_bad_options(self, options, error):
        """Bad delivery options are refused with what is accepted."""
        runner = make_runner("PPO", timesteps=16)
        with pytest.raises(error, match="accepted"):
            track(runner.agent, sink=MemorySink(), **options)
