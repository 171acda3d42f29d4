"""The bench command in a tiny configuration (real trainings, a real MLflow store), and the parts it measures with."""

import json
import math
import subprocess
import sys
import time

import mlflow
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from mlflow import MlflowClient

from metrictap import track
from metrictap.bench import rounds as _rounds
from metrictap.bench.footprint import stalled_rss_in_child
from metrictap.bench.report import costs, percentile, summarise, table
from metrictap.bench.stopwatch import Stopwatch
from metrictap.bench.variants import DEFAULT_VARIANTS, VARIANTS, SeedLogger, Store
from metrictap.bench.vector_env import VectorCartpole
from metrictap.bench.workloads import WORKLOADS
from metrictap.cli.main import main
from metrictap.testing import MemorySink, SyntheticAgent, synthetic_adapter

TAPPED = ("metrictap-step", "metrictap-balanced", "metrictap-discard", "seed-style", "seed-async")


@pytest.fixture(autouse=True)
def _tracking_uri_unset():
    """The seed-style variant sets MLflow's process-wide tracking URI, as the seed did; later tests set their own."""
    yield
    mlflow.set_tracking_uri(None)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """One bench over both workloads and every variant: one round, 80 timesteps, every extra measure."""
    folder = tmp_path_factory.mktemp("bench")
    path = folder / "bench.json"
    with pytest.MonkeyPatch.context() as patch:  # module-scoped: set up before each test's own folder
        patch.chdir(folder)
        code = main(["bench", "--pairs", "1", "--warmup", "0", "--timesteps", "80", "--variants",
                     ",".join(VARIANTS),
                     "--delivery_updates", "40", "--import_repeats", "1", "--rss_updates", "1000",
                     "--json", str(path)])
    assert code == 0
    return json.loads(path.read_text())


class TestBench:
    def test_every_variant_of_every_workload_has_figures(self, report):
        """Each workload reports time, ratio and memory for every variant, untapped at exactly 1."""
        assert set(report["workloads"]) == {"ppo", "sac"}
        for results in report["workloads"].values():
            assert list(results["variants"]) == list(VARIANTS)
            assert results["updates"] > 0
            for entry in results["variants"].values():
                assert entry["seconds"]["median"] > 0
                assert entry["ratio"]["median"] > 0
                assert math.isfinite(entry["rss_growth_mb"])
            assert results["variants"]["untapped"]["ratio"]["all"] == [1.0]

    def test_every_observer_delivered(self, report):
        """Taps and seed-style logging delivered metrics without loss or error; TensorBoard wrote events."""
        for results in report["workloads"].values():
            variants = results["variants"]
            for name in TAPPED:
                assert variants[name]["metrics"] > 0
                assert variants[name]["errors"] == 0
                assert variants[name]["metrics_per_second"] > 0
            assert variants["metrictap-step"]["lost"] == 0
            assert variants["tensorboard"]["event_bytes"] > 0

    def test_server_down_spools_everything(self, report):
        """With the tracking server refusing connections, nothing is delivered and every point is spooled, none lost."""
        for results in report["workloads"].values():
            down = results["variants"]["metrictap-server-down"]
            assert down["metrics"] == 0
            assert down["spooled"] > 0
            assert down["lost"] == 0

    def test_sac_observers_see_its_losses(self, report):
        """SAC tracks its losses only while a writer is on, so observers run it tracking: ten or more per update."""
        seed = report["workloads"]["sac"]["variants"]["seed-style"]
        assert seed["metrics"] / seed["updates"] >= 10

    def test_skrl_tracking_alone_switches_sac_tracking_on(self):
        """skrl-tracking runs SAC with the readers' interval (tracking on, nothing written); untapped has none."""
        sac = WORKLOADS["sac"]
        intervals = {name: _rounds.write_interval(VARIANTS[name], sac, "auto", 1000)
                     for name in ("untapped", "skrl-tracking", "metrictap-step", "tensorboard")}
        assert intervals == {"untapped": 0, "skrl-tracking": 1001, "metrictap-step": 1001, "tensorboard": 10}

    def test_training_thread_costs_per_update(self, report):
        """Every variant with wrappers has p50 <= p99 per update, and metrictap's hooks and transitions are timed."""
        for results in report["workloads"].values():
            for name in TAPPED:
                cycle = results["variants"][name]["cost_us"]["cycle"]
                assert 0 < cycle["p50"] <= cycle["p99"] <= cycle["max"]
            calls = results["variants"]["metrictap-step"]["cost_us"]["calls"]
            assert {"update", "transition", "hook"} <= set(calls)

    def test_process_wide_figures(self, report):
        """Import time, sink throughput and the stalled-sink memory check are reported."""
        assert report["import"]["median_ms"] > 0
        assert report["import"]["heavy_modules"] == []
        assert report["delivery"]["metrics"] > 0
        assert report["delivery"]["lost"] == 0
        assert report["stalled_sink"]["updates"] == 1000
        assert report["stalled_sink"]["pending_points"] >= report["stalled_sink"]["spooled_points"] > 0
        assert report["stalled_sink"]["spool_mb"] > 0

    def test_stalled_function_keeps_its_backlog_in_memory(self):
        """A stalled sink function has no spool: every pending point is held in memory, none is dropped."""
        found = stalled_rss_in_child(1000, 1024.0, "callable")
        assert found["sink"] == "callable"
        assert found["pending_points"] > 0
        assert found["spooled_points"] == 0

    def test_cpu_of_waited_children_is_counted(self):
        """CPU time spent by a child process (as a delivery process) is counted once the child was waited for."""
        before = _rounds.children_cpu()
        subprocess.run([sys.executable, "-c", "sum(range(3 * 10**7))"], check=True)
        assert _rounds.children_cpu() - before > 0.1

    def test_table(self, capsys):
        """Without --json the command prints one table per workload and a line per variant."""
        assert main(["bench", "--workloads", "ppo", "--pairs", "1", "--warmup", "0", "--timesteps", "32",
                     "--delivery_updates", "0", "--import_repeats", "0"]) == 0
        out = capsys.readouterr().out
        assert "PPO Pendulum-v1, 4 envs, 32 timesteps, cpu" in out
        for name in DEFAULT_VARIANTS:
            assert f"\n{name} " in out


@pytest.mark.server
class TestServer:
    def test_json_on_stdout_against_a_server(self, mlflow_server, capsys):
        """Against a tracking server, --json - prints only the JSON document, MLflow's run links going to stderr."""
        assert main(["bench", "--workloads", "ppo", "--variants", "untapped,metrictap-step,seed-style", "--pairs",
                     "1", "--warmup", "0", "--timesteps", "32", "--delivery_updates", "20", "--import_repeats", "0",
                     "--tracking_uri", mlflow_server.uri, "--json", "-"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["settings"]["store"] == mlflow_server.uri
        assert report["workloads"]["ppo"]["variants"]["metrictap-step"]["metrics"] > 0
        assert report["workloads"]["ppo"]["variants"]["seed-style"]["metrics"] > 0
        assert report["delivery"]["metrics"] > 0


class TestUsage:
    @pytest.mark.parametrize(("argv", "message"), [
        (["--variants", "untapped,nope"], "--variants 'untapped,nope': unknown nope; accepted: untapped, "),
        (["--workloads", "dqn"], "--workloads 'dqn': unknown dqn; accepted: ppo, sac"),
        (["--pairs", "0"], "--pairs 0: accepted: an integer of at least 1"),
        (["--device", "tpu"], "--device 'tpu': accepted: cpu, cuda, cuda:N"),
        (["--write_interval", "often"], "--write_interval 'often': accepted: 'auto' or a positive integer"),
    ])
    def test_bad_options(self, argv, message, capsys):
        """A bad option ends the command with one line naming what was given and what is accepted."""
        assert main(["bench", *argv]) == 2
        assert message in capsys.readouterr().err

    @pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
    def test_cuda_without_a_gpu(self, capsys):
        """--device cuda on a machine without CUDA is refused before anything trains."""
        assert main(["bench", "--device", "cuda"]) == 2
        assert "torch sees no CUDA device here" in capsys.readouterr().err


class TestStopwatch:
    def test_exclusive_time_leaves_out_the_wrapped_call(self):
        """A timed wrapper records its own time, not the time of the method it wraps."""
        stopwatch = Stopwatch()

        def body(wrapped, _instance, args, kwargs):
            time.sleep(0.01)
            return wrapped(*args, **kwargs)

        timed = stopwatch.exclusive(body, "update")
        assert timed(lambda seconds: time.sleep(seconds) or "done", None, (0.2,), {}) == "done"
        (recorded,) = stopwatch.calls["update"]
        assert 0.01 <= recorded < 0.2

    def test_cycles_add_up_to_the_update(self):
        """Everything recorded since the last update belongs to the next update's cycle."""
        stopwatch = Stopwatch()
        for kind, seconds in [("transition", 1.0), ("hook", 2.0), ("update", 4.0), ("transition", 8.0),
                              ("update", 16.0)]:
            stopwatch.record(kind, seconds)
        assert stopwatch.cycles == [7.0, 24.0]

    def test_installed_times_only_taps_started_inside(self):
        """A tap entered inside the block reports its wrappers' time; one entered after leaving it reports nothing."""
        stopwatch = Stopwatch()
        with stopwatch.installed():
            timed = SyntheticAgent()
            with track(timed, sink=MemorySink(), adapter=synthetic_adapter()):
                timed.train(0, 5)
        calls = {kind: len(values) for kind, values in stopwatch.calls.items()}
        assert calls == {"transition": 5, "update": 5}
        plain = SyntheticAgent()
        with track(plain, sink=MemorySink(), adapter=synthetic_adapter()):
            plain.train(0, 5)
        assert {kind: len(values) for kind, values in stopwatch.calls.items()} == calls


class Tracked:
    """An agent with skrl's tracking dict and update signature."""

    def __init__(self):
        self.tracking_data = {"Loss / Policy loss": [], "Stats / Update time (ms)": []}

    def update(self, *, timestep, **_):
        self.tracking_data["Loss / Policy loss"] += [float(timestep), float(timestep) + 1]
        self.tracking_data["Stats / Update time (ms)"].append(torch.tensor(2.0))


class TestSeedLogger:
    def test_logs_what_each_update_tracked(self):
        """Seed-style logging sends, per update, the mean of the values that update appended, under valid names."""
        store = Store("sqlite:///mlflow.db", "seed")
        agent = Tracked()
        mlflow.set_tracking_uri(store.tracking_uri)
        with mlflow.start_run(run_id=store.create_run("seed-style")) as run:
            logger = SeedLogger(agent, mlflow, method="update", synchronous=True, stopwatch=None)
            agent.update = logger
            for timestep in (10, 20):
                agent.update(timestep=timestep, timesteps=100)
        history = MlflowClient(store.tracking_uri).get_metric_history(run.info.run_id, "Loss/Policy loss")
        assert [(point.step, point.value) for point in history] == [(10, 10.5), (20, 20.5)]
        assert logger.logged == 4
        assert logger.errors == 0


class TestReport:
    @given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1))
    def test_percentiles_are_observed_values(self, values):
        """A percentile is one of the values, and p50 never exceeds p99."""
        assert percentile(values, 0.5) in values
        assert percentile(values, 0.5) <= percentile(values, 0.99)

    def test_ratio_to_skrl_tracking(self):
        """Where skrl-tracking ran, each observer's time is also divided by its time in the same round."""
        def run(seconds):
            return {"seconds": seconds, "cpu_seconds": seconds, "exit_seconds": 0.0, "rss_growth_mb": 0.0}

        rounds = [{"untapped": run(2.0), "skrl-tracking": run(2.2), "metrictap-step": run(2.31)},
                  {"untapped": run(2.0), "skrl-tracking": run(2.0), "metrictap-step": run(2.2)}]
        summary = summarise(rounds, {}, steps=10, num_envs=4)
        assert summary["metrictap-step"]["over_tracking"]["all"] == pytest.approx([1.05, 1.1])
        assert "over_tracking" not in summary["untapped"]
        assert "over_tracking" not in summary["skrl-tracking"]
        alone = summarise([{"untapped": run(2.0), "metrictap-step": run(2.2)}], {}, steps=10, num_envs=4)
        assert "over_tracking" not in alone["metrictap-step"]
        report = {"machine": "m", "versions": "v", "instrument_floor_us": 0.25,
                  "settings": {"store": "s", "pairs": 2, "warmup": 0, "torch_threads": 1, "load_average": "0"},
                  "workloads": {"sac": {"title": "SAC", "updates": 10, "variants": summary}}}
        assert "what the observer adds to skrl's own tracking: metrictap-step 1.075 (cpu 1.075)" in table(report)

    def test_cost_per_step_and_per_env_step(self):
        """The tap's timed calls, all kinds together, are spread over the run's steps and over every env's step."""
        stopwatch = Stopwatch()
        for _ in range(10):
            stopwatch.record("transition", 0.0002)
        stopwatch.record("update", 0.001)
        cost = costs(stopwatch, steps=10, num_envs=1000)
        assert cost["per_step_us"] == pytest.approx(300.0)  # 3 ms over 10 steps
        assert cost["per_env_step_ns"] == pytest.approx(300.0)  # 3 ms over 10,000 env steps


class TestVectorCartpole:
    def test_dynamics_match_gymnasium_cartpole(self):
        """Every env moves as gymnasium's CartPole does at Isaac Lab's rates and force scale (two 120 Hz steps)."""
        from gymnasium.envs.classic_control.cartpole import CartPoleEnv

        env = VectorCartpole(8, seed=3)
        observations, _ = env.reset()
        actions = torch.tensor([[1.0], [-1.0]] * 4)
        after = env.step(actions)[0]["policy"]
        for index in range(8):
            reference = CartPoleEnv()
            reference.gravity, reference.force_mag, reference.tau = 9.81, 100.0, 1 / 120
            reference.kinematics_integrator = "semi-implicit euler"
            reference.state = observations["policy"][index].double().numpy()
            for _ in range(2):
                reference.steps_beyond_terminated = None  # its own 12-degree limit is not Isaac Lab's: step on
                reference.step(1 if actions[index, 0] > 0 else 0)
            assert after[index].double().numpy() == pytest.approx(reference.state, abs=1e-4)

    def test_episodes_end_and_restart_in_the_same_step(self):
        """A cart out of bounds ends its episode, is reset in that step, and the step's extras log the episode."""
        env = VectorCartpole(64, seed=0)
        env.reset()
        ended = 0
        for _ in range(env.max_episode_length):
            observations, rewards, terminated, truncated, extras = env.step(torch.ones(64, 1))
            assert rewards.shape == terminated.shape == truncated.shape == (64,)
            assert ("log" in extras) == bool((terminated | truncated).any())
            if "log" in extras:
                assert int(extras["log"]["Episode_Termination/cart_out_of_bounds"]) == int(terminated.sum())
                assert (observations["policy"][terminated, 0].abs() <= 1.0).all()  # reset within Isaac Lab's range
            ended += int(terminated.sum())
        assert ended >= 64  # pushed at full force, carts leave the track again and again

    def test_isaac_scale_workload_in_the_bench(self, capsys):
        """An isaac-* workload trains its own env count through skrl's isaaclab wrapper; its cost per step is shown."""
        assert main(["bench", "--workloads", "isaac-sac-256", "--variants", "untapped,skrl-tracking,metrictap-step",
                     "--pairs", "1", "--warmup", "0", "--timesteps", "24", "--num_envs", "4", "--delivery_updates",
                     "0", "--import_repeats", "0", "--json", "-"]) == 0
        results = json.loads(capsys.readouterr().out)["workloads"]["isaac-sac-256"]
        assert results["num_envs"] == 256
        assert "256 envs, 24 timesteps" in results["title"]
        tapped = results["variants"]["metrictap-step"]
        assert tapped["updates"] == 8  # SAC starts learning after 16 steps
        assert tapped["errors"] == tapped["lost"] == 0
        assert tapped["cost_us"]["per_env_step_ns"] == pytest.approx(tapped["cost_us"]["per_step_us"] * 1000 / 256)
        assert "over_tracking" in tapped
