import pytest
import torch
from skrl_runs import make_runner

from metrictap import track
from metrictap.adapting.binding import Binding
from metrictap.emitting.messages import Close, Rows
from metrictap.tap import collector as _collector
from metrictap.tap.collector import Collector
from metrictap.tap.patching import Patches
from metrictap.tap.schedule import parse_every
from metrictap.testing import MemorySink, SyntheticAgent, synthetic_adapter

pytestmark = pytest.mark.skrl

ROLLOUTS = 16


@pytest.fixture
def ppo():
    return make_runner("PPO", timesteps=ROLLOUTS * 25 + 5)


class TestWindows:
    def test_step_emits_every_update(self, ppo):
        """every='step' closes one window per update, on skrl's timestep + 1 axis, plus the partial last one."""
        sink = MemorySink()
        with track(ppo.agent, sink=sink, every="step") as tap:
            ppo.run()
        steps = [step for step, _ in sink.records]
        assert steps == [ROLLOUTS * i for i in range(1, 26)] + [ROLLOUTS * 25 + 5]
        assert tap.stats.windows == 26

    def test_balanced_aggregates_ten_updates(self, ppo):
        """every='balanced' emits every 10 updates, each value aggregated over its window, not sampled."""
        sink = MemorySink()
        with track(ppo.agent, sink=sink, every="balanced"):
            ppo.run()
        assert [step for step, _ in sink.records] == [160, 320, 405]
        assert sink.history("iterations") == [(160, 10.0), (320, 20.0), (405, 25.0)]

    def test_aggregation_matches_the_window(self):
        """The emitted policy loss is the mean of the per-update losses skrl tracked in that window."""
        runner = make_runner("PPO", timesteps=ROLLOUTS * 10, write_interval=0)
        coarse = MemorySink()
        with track(runner.agent, sink=coarse, every=5):
            runner.run()
        losses = runner.agent.tracking_data["Loss / Policy loss"]  # never cleared with write_interval=0
        assert [value for _, value in coarse.history("policy_loss")] == pytest.approx(
            [sum(losses[:5]) / 5, sum(losses[5:10]) / 5])

    def test_time_interval(self, ppo):
        """A duration emits once that much time has passed, at the next update."""
        sink = MemorySink()
        with track(ppo.agent, sink=sink, every="1h"):
            ppo.run()
        assert len(sink.records) == 1  # only the last, partial window

    @pytest.mark.parametrize(("axis", "expected"), [(None, 405), ("timestep", 405), ("timesteps", 405 * 4),
                                                    ("iterations", 25)])
    def test_step_axis(self, ppo, axis, expected):
        """The step axis is skrl's own by default (timestep + 1), or explicitly that, env steps, or iterations."""
        sink = MemorySink()
        with track(ppo.agent, sink=sink, every="balanced", step=axis):
            ppo.run()
        assert sink.records[-1][0] == expected

    def test_timing(self, ppo):
        """The tap measures fps, counts and per-iteration times itself."""
        sink = MemorySink()
        with track(ppo.agent, sink=sink):
            ppo.run()
        last = sink.records[-2][1]
        assert last["timesteps"] == 320 * 4
        assert last["fps"] > 0
        assert 0 < last["learning_time"] < last["epoch_time"]
        assert last["rollout_time"] + last["learning_time"] == pytest.approx(last["epoch_time"])


class TestEvaluation:
    def test_eval_emits_without_updates(self, ppo):
        """Around runner.run('eval') there are no updates, yet evaluation episodes are emitted under the prefix."""
        ppo.run()
        sink = MemorySink()
        with track(ppo.agent, sink=sink, prefix="eval/", every="balanced") as tap:
            ppo.run("eval")
        assert tap.stats.updates == 0
        assert [step for step, _ in sink.records] == [160, 320, 405]
        assert {"eval/episode_reward", "eval/episode_reward_mean", "eval/episode_length", "eval/fps"} <= sink.names
        assert not any(name.endswith("loss") for name in sink.names)
        assert all(name.startswith("eval/") for name in sink.names)


def raise_it(_kind, exc):
    raise exc


def synthetic_collector(agent, posted):
    """A collector wired as a tap wires it, posting into *posted* instead of an emitter thread."""
    collector = Collector(Binding.resolve(synthetic_adapter(), agent), every=parse_every("step"),
                          step_axis="timestep", post=posted.append, fail=raise_it)
    collector.install(Patches())
    return collector


def train(collector, agent, steps, rewards, dones):
    for timestep in range(steps):
        agent.record_transition(rewards=rewards, terminated=dones, truncated=dones, timestep=timestep)
        agent.update(timestep=timestep)


class TestHandOver:
    def test_windows_wait_for_the_hand_over(self, monkeypatch):
        """Closed windows stay on the training thread until a hand-over is due, then go in order, rows first."""
        monkeypatch.setattr(_collector, "HANDOFF_SECONDS", 3600.0)
        agent, posted = SyntheticAgent(), []
        collector = synthetic_collector(agent, posted)
        train(collector, agent, 5, [0.5] * 4, [False] * 4)
        assert collector.windows == 4
        assert posted == []
        collector.close(final=True)
        assert [message.step for message in posted if isinstance(message, Close)] == [1, 2, 3, 4, 5]
        assert isinstance(posted[0], Rows)

    def test_due_hand_over_posts_at_once(self, monkeypatch):
        """Once the last hand-over is old enough, a closing window reaches the emitter in the same call."""
        monkeypatch.setattr(_collector, "HANDOFF_SECONDS", 0.0)
        agent, posted = SyntheticAgent(), []
        train(synthetic_collector(agent, posted), agent, 5, [0.5] * 4, [False] * 4)
        assert [message.step for message in posted if isinstance(message, Close)] == [1, 2, 3, 4]

    def test_final_close_of_an_idle_window_hands_over_the_rest(self, monkeypatch):
        """A final close with nothing new still posts the windows that were waiting."""
        monkeypatch.setattr(_collector, "HANDOFF_SECONDS", 3600.0)
        agent, posted = SyntheticAgent(), []
        collector = synthetic_collector(agent, posted)
        train(collector, agent, 3, [0.5] * 4, [False] * 4)
        collector.close()
        collector.close(final=True)
        assert [message.step for message in posted if isinstance(message, Close)] == [1, 2, 3]


class TestDeviceTensors:
    def test_transitions_never_read_a_value(self):
        """Rewards and dones on a data-less device pass through the training thread's whole path, windows included."""
        agent, posted = SyntheticAgent(), []
        collector = synthetic_collector(agent, posted)
        rewards, dones = torch.empty(4, 1, device="meta"), torch.empty(4, 1, device="meta", dtype=torch.bool)
        train(collector, agent, 20, rewards, dones)
        collector.close(final=True)
        rows = [row for message in posted if isinstance(message, Rows) for row in message.rewards]
        assert len(rows) == 20
        assert {row.device.type for row in rows} == {"meta"}
        assert collector.transitions == 20
