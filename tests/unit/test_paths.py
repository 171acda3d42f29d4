from metrictap.adapting.paths import MISSING, method_at, resolve


class Runner:
    def __init__(self) -> None:
        self.alg = Algorithm()
        self.cfg = {"rollouts": [16, 32]}

    def learn(self) -> None:
        """Stand in for rsl_rl's OnPolicyRunner.learn."""


class Algorithm:
    learning_rate = 1e-3

    def update(self) -> dict[str, float]:
        """Stand in for rsl_rl's PPO.update."""
        return {}


class TestResolve:
    def test_parts(self):
        """A part reads a mapping key, a sequence position or an attribute; anything absent is MISSING."""
        runner = Runner()
        assert resolve(runner, "cfg.rollouts.1") == 32
        assert resolve(runner, "alg.learning_rate") == 1e-3
        assert resolve(runner, "alg.absent") is MISSING
        assert resolve(runner, "cfg.rollouts.9") is MISSING


class TestMethodAt:
    def test_references(self):
        """'name' is a method of the root, 'path:name' a method of the object at path."""
        runner = Runner()
        assert method_at(runner, "learn") == (runner, "learn")
        assert method_at(runner, "alg:update") == (runner.alg, "update")

    def test_absent(self):
        """A missing owner, a missing method or an attribute that is not callable gives None."""
        runner = Runner()
        assert method_at(runner, "logger:log") is None
        assert method_at(runner, "alg:step") is None
        assert method_at(runner, "alg:learning_rate") is None
