import pytest
from bindings import bound
from hypothesis import given
from hypothesis import strategies as st

from metrictap.adapting.adapter import Adapter, shipped_adapters
from metrictap.adapting.routing import Route, Router, compile_pattern, suffix_reducer
from metrictap.emitting.window import Window

SKRL = next(adapter for adapter in shipped_adapters() if adapter.name == "skrl")


class PPO:
    """A stand-in named like skrl's PPO: the router reads only class names and config values."""

    def __init__(self, entropy_loss_scale: object = 0.01) -> None:
        self.cfg = {"entropy_loss_scale": entropy_loss_scale}


class SAC:
    def __init__(self) -> None:
        self.cfg: dict[str, object] = {}


class TestSkrlRoutes:
    @pytest.mark.parametrize(("tag", "route"), [
        ("Loss / Policy loss", Route("policy_loss")),
        ("Loss / Q-network loss", Route("value_loss")),
        ("Learning / Policy learning rate", Route("learning_rate")),
        ("Q-network / Q1 (max)", Route("q1/max", "max")),
        ("Target / Target (min)", Route("target_q/min", "min")),
        ("Stats / Env stepping time (ms)", Route("env_step_time", factor=0.001)),
        ("Info / Episode_Reward/alive", Route("Episode_Reward/alive")),
        ("Info / success", Route("info/success")),
        ("Episode_Reward/alive", Route("Episode_Reward/alive")),
        ("My custom (thing)", Route("My custom/thing")),
        ("Loss / Discriminator loss", Route("discriminator_loss")),
        ("Reward / Total reward (mean)", "superseded"),
        ("Episode / Total timesteps (max)", "superseded"),
    ])
    def test_routes(self, tag, route):
        """skrl tags route to canonical names, Isaac Lab names are kept, the superseded are dropped."""
        assert Router(bound(SKRL, PPO())).route(tag) == route

    def test_entropy_is_derived_for_the_ppo_family(self):
        """PPO's entropy loss (-scale * entropy) becomes the entropy; SAC's is the temperature loss."""
        route = Router(bound(SKRL, PPO(0.02))).route("Loss / Entropy loss")
        assert route == Route("entropy", factor=-50.0)
        assert Router(bound(SKRL, SAC())).route("Loss / Entropy loss") == Route("entropy_coefficient_loss")

    def test_unresolved_divisor(self):
        """A zero or missing entropy scale drops the tag rather than emitting a wrong entropy."""
        assert Router(bound(SKRL, PPO(0))).route("Loss / Entropy loss") == "unresolved"

    def test_multi_agent_suffix(self):
        """A per-agent tag routes like its single-agent tag, with the agent id as the last segment."""
        router = Router(bound(SKRL, PPO({"left": 0.5, "right": 0.25}), agents=("left", "right")))
        assert router.route("Loss / Policy loss (left)") == Route("policy_loss/left")
        assert router.route("Loss / Entropy loss (right)") == Route("entropy/right", factor=-4.0)
        assert router.route("Q-network / Q1 (max)") == Route("q1/max", "max")

    def test_passthrough_collision(self):
        """A passed-through tag that would take a canonical name gets a distinct one."""
        route = Router(bound(SKRL, PPO())).route("policy_loss ")
        assert isinstance(route, Route)
        assert route.name != "policy_loss"


def test_patterns():
    """Placeholders capture one or more characters; everything else is literal."""
    assert compile_pattern("A ({x})").fullmatch("A (b c)")["x"] == "b c"
    assert compile_pattern("a.b").fullmatch("axb") is None


def test_suffix_reducer():
    """skrl's writer rule: (min) and (max) tags keep their extreme, others average."""
    assert [suffix_reducer(tag) for tag in ("x (min)", "x (max)", "x (mean)", "x")] == ["min", "max", "mean", "mean"]


def test_plain_adapter_averages():
    """Without the suffix rule, every tag averages."""
    adapter = Adapter.from_mapping({"name": "x", "match": {"classes": ["a.B"]}, "update": {"method": "u"},
                                    "tracking": {"attribute": "t"}})
    assert Router(bound(adapter, object())).route("x (max)") == Route("x/max")


class TestDeclaredReduction:
    def test_rolling_means_keep_the_last(self):
        """SB3's rollout/ep_rew_mean is already a last-100 mean: its window keeps the latest, like the tap's own."""
        sb3 = next(adapter for adapter in shipped_adapters() if adapter.name == "stable_baselines3")
        assert Router(bound(sb3, object())).route("rollout/ep_rew_mean") == Route("episode_reward_mean", "last")
        assert Router(bound(sb3, object())).route("train/entropy_loss") == Route("entropy", factor=-1.0)

    @given(st.lists(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=5), min_size=1, max_size=5))
    def test_last_over_any_slices(self, slices):
        """However a window's values arrive, a 'last' route emits the final one."""
        window = Window()
        for values in slices:
            window.add(Route("x", "last"), values)
        assert window.values() == {"x": slices[-1][-1]}
