"""Real rsl_rl trainings (OnPolicyRunner, PPO) tapped through adapters/rsl_rl.toml, checked against its own logs."""

import logging
import math
import statistics

import pytest
import torch
import wrapt
from event_files import scalars
from mlflow.utils.validation import _validate_metric_name
from rsl_rl_runs import EPISODE_STEPS, make_runner

from metrictap import track
from metrictap.testing import MemorySink

ITERATIONS = 8
CANONICAL = {"policy_loss", "value_loss", "entropy", "learning_rate", "kl_divergence", "grad_norm/actor",
             "grad_norm/critic", "policy_std",
             "episode_reward", "episode_reward_mean", "episode_length", "episode_length_mean", "cumulative_rewards",
             "mean_rewards", "fps", "rollout_time", "learning_time", "epoch_time", "timesteps", "iterations"}
SAME_AS_RSL_RL = {"policy_loss": "Loss/surrogate", "value_loss": "Loss/value", "entropy": "Loss/entropy",
                  "learning_rate": "Loss/learning_rate", "policy_std": "Policy/mean_std",
                  "episode_reward_mean": "Train/mean_reward", "episode_length_mean": "Train/mean_episode_length",
                  "Episode_Reward/swing": "Episode_Reward/swing",
                  "Episode_Termination/time_out": "Episode_Termination/time_out"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One training with rsl_rl's own TensorBoard logging on, tapped every iteration on the default axis."""
    log_dir = tmp_path_factory.mktemp("rsl_rl")
    runner = make_runner(log_dir=str(log_dir))
    sink = MemorySink()
    with track(runner, sink=sink, every="step", strict=True) as tap:
        runner.learn(ITERATIONS)
    return runner, sink, tap, scalars(log_dir)


class TestTraining:
    def test_canonical_names(self, trained):
        """A PPO training emits the canonical metrics and Isaac Lab's episode extras, valid, finite, without errors."""
        _, sink, tap, _ = trained
        assert CANONICAL | {"Episode_Reward/swing", "Episode_Termination/time_out"} <= sink.names
        assert not tap.stats.errors
        assert not tap.stats.dropped
        for _, metrics in sink.records:
            for name, value in metrics.items():
                _validate_metric_name(name)
                assert math.isfinite(value)
        assert [step for step, _ in sink.records] == list(range(ITERATIONS))
        assert tap.stats.iterations == ITERATIONS

    @pytest.mark.parametrize(("name", "tag"), sorted(SAME_AS_RSL_RL.items()))
    def test_same_numbers_as_rsl_rl(self, trained, name, tag):
        """Each canonical value equals what rsl_rl itself wrote to TensorBoard, at the same step (its iteration)."""
        _, sink, _, logged = trained
        ours = sink.history(name)
        assert [step for step, _ in ours] == [step for step, _ in logged[tag]]
        assert [value for _, value in ours] == pytest.approx([value for _, value in logged[tag]], rel=1e-5)

    def test_episodes_match_the_env(self, trained):
        """Episode statistics come from the tap's own accounting and agree with every episode the env finished."""
        runner, sink, _, _ = trained
        finished = runner.env.finished
        assert {length for _, length in finished} == {EPISODE_STEPS}
        assert {value for _, value in sink.history("episode_length")} == {float(EPISODE_STEPS)}
        assert sink.last("episode_reward_mean") == pytest.approx(statistics.mean(r for r, _ in finished[-100:]))
        assert sink.last("episode_reward_mean") == pytest.approx(statistics.mean(runner.logger.rewbuffer))
        steps = ITERATIONS * runner.cfg["num_steps_per_env"] * runner.env.num_envs
        assert sink.last("timesteps") == steps == runner.logger.tot_timesteps


def owners(runner):
    """The objects the rsl_rl adapter patches."""
    return runner, runner.alg, runner.logger, runner.alg.actor, torch.nn.utils


def snapshot(runner):
    """Every attribute of the patched objects, by identity: equal snapshots mean the exact same objects."""
    return [{name: id(value) for name, value in vars(owner).items()} for owner in owners(runner)]


def unpatched(runner):
    """After training (which changes attribute values) no patched object holds a wrapper."""
    wrappers = (wrapt.ObjectProxy, wrapt.FunctionWrapper)
    return not [name for owner in owners(runner) for name, value in vars(owner).items() if isinstance(value, wrappers)]


class TestTap:
    def test_every_only_prefix(self):
        """every, only, prefix and step work as for skrl: two-iteration windows, two names, a prefix, env steps."""
        runner = make_runner()
        keys = [set(vars(owner)) for owner in owners(runner)]
        sink = MemorySink()
        with track(runner, sink=sink, every=2, only={"policy_loss", "Episode_Reward/*"}, prefix="rsl/",
                   step="timestep") as tap:
            runner.learn(6)
        assert sink.names == {"rsl/policy_loss", "rsl/Episode_Reward/swing"}
        assert [step for step, _ in sink.records] == [32, 64, 96]
        assert tap.stats.dropped["filtered"] > 0
        assert [set(vars(owner)) for owner in owners(runner)] == keys
        assert unpatched(runner)

    def test_exit_restores_exactly(self):
        """While tapped the adapter's methods are wrapped on their owners; after exit every __dict__ is as before."""
        runner = make_runner()
        before = snapshot(runner)
        with track(runner, sink=MemorySink()):
            assert {"update", "process_env_step"} <= set(vars(runner.alg))
            assert {"log", "process_env_step"} <= set(vars(runner.logger))
            assert "get_kl_divergence" in vars(runner.alg.actor)
            assert isinstance(vars(torch.nn.utils)["clip_grad_norm_"], wrapt.FunctionWrapper)
        assert snapshot(runner) == before

    def test_original_errors_propagate(self):
        """An error raised inside rsl_rl's rollout reaches the caller unchanged, and the runner is restored."""
        runner = make_runner()
        boom = RuntimeError("env failed")
        calls = []

        def failing(actions):
            calls.append(actions)
            if len(calls) == 20:
                raise boom
            return type(runner.env).step(runner.env, actions)

        runner.env.step = failing
        with pytest.raises(RuntimeError) as info, track(runner, sink=MemorySink()):
            runner.learn(3)
        assert info.value is boom
        assert len(calls) == 20
        assert unpatched(runner)

    def test_sink_errors_never_break_training(self, monkeypatch, caplog):
        """A failing sink is logged once and counted; the other sink gets every window and training completes."""
        monkeypatch.delenv("METRICTAP_STRICT")
        runner = make_runner()
        memory = MemorySink()

        def broken(metrics, step):
            raise ConnectionError("tracker down")

        with caplog.at_level(logging.WARNING, logger="metrictap"), track(runner, sink=[broken, memory],
                                                                         every="step") as tap:
            runner.learn(3)
        assert [step for step, _ in memory.records] == [0, 1, 2]
        assert tap.stats.errors == {"sink broken": 3}
        assert len([record for record in caplog.records if "tracker down" in record.getMessage()]) == 1

    def test_tap_errors_are_contained(self, monkeypatch, caplog):
        """An error inside the tap's own hooks is counted and logged once, and training goes on."""
        monkeypatch.delenv("METRICTAP_STRICT")
        runner = make_runner()
        tap = track(runner, sink=MemorySink(), every="step")

        def broken(tag, value):
            raise KeyError(tag)

        with caplog.at_level(logging.WARNING, logger="metrictap"), tap:
            monkeypatch.setattr(tap._collector, "on_tag", broken)  # the tap's own bug, not rsl_rl's
            runner.learn(2)
        assert tap.stats.errors == {"hook": 2}  # one per logger.log call; no episode ended in 32 steps
        assert runner.current_learning_iteration == 1
        assert len([record for record in caplog.records if "hook error" in record.getMessage()]) == 1


def test_gradient_norms_of_actor_and_critic(monkeypatch):
    """rsl_rl clips actor and critic apart: each norm is the one clip_grad_norm_ returned for that network's clip."""
    clip = torch.nn.utils.clip_grad_norm_
    returned = {"actor": [], "critic": []}
    runner = make_runner(num_learning_epochs=1, num_mini_batches=1)  # one clip of each network per iteration

    def spy(parameters, *args, **kwargs):
        parameters = list(parameters)
        norm = clip(parameters, *args, **kwargs)
        network = "actor" if parameters[0] is next(runner.alg.actor.parameters()) else "critic"
        returned[network].append(float(norm))
        return norm

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    sink = MemorySink()
    with track(runner, sink=sink, every="step", only={"grad_norm"}):
        runner.learn(4)
    assert sink.names == {"grad_norm/actor", "grad_norm/critic"}
    for network, norms in returned.items():
        assert len(norms) == 4
        assert [value for _, value in sink.history(f"grad_norm/{network}")] == pytest.approx(norms, rel=1e-6)
    assert returned["critic"][0] > 10 * returned["actor"][0]  # a mean of the two would describe neither
