import importlib.resources

import pytest

from metrictap import Adapter, AdapterError, UnsupportedTargetError
from metrictap._adapter import find_adapter, shipped_adapters

MINIMAL = {"name": "mine", "match": {"classes": ["test_adapter.Learner"]}, "update": {"method": "learn"}}


class Learner:
    def learn(self) -> None:
        """Stand in for a framework's learning update."""


class TestShippedAdapters:
    def test_every_file_loads(self):
        """Every adapter file shipped in metrictap.adapters parses and validates against the schema."""
        files = [item.name for item in importlib.resources.files("metrictap.adapters").iterdir()
                 if item.name.endswith(".toml")]
        adapters = shipped_adapters()
        assert len(adapters) == len(files) >= 1
        assert len({adapter.name for adapter in adapters}) == len(adapters)

    def test_skrl_tables(self):
        """The skrl adapter names both update methods, the transition method and the tracking lists."""
        skrl = next(adapter for adapter in shipped_adapters() if adapter.name == "skrl")
        assert skrl.update.method == ("update", "_update")
        assert skrl.transition is not None
        assert skrl.transition.method == "record_transition"
        assert skrl.tracking is not None
        assert skrl.tracking.reduce == "suffix"


class TestSchema:
    def test_from_mapping(self):
        """The same schema builds an adapter in code, the escape hatch for unknown frameworks."""
        adapter = Adapter.from_mapping(MINIMAL)
        assert adapter.serves(Learner())
        assert find_adapter(Learner(), adapter) is adapter

    @pytest.mark.parametrize(("data", "message"), [
        ({**MINIMAL, "extra": {}}, "unknown sections"),
        ({**MINIMAL, "update": {"method": "learn", "every": 3}}, r"unknown keys \['every'\]"),
        ({"name": "x", "match": {"classes": ["a"]}}, "lacks the required 'update'"),
        ({**MINIMAL, "keys": [{"match": "a"}]}, "exactly one of 'name' or 'drop'"),
        ({**MINIMAL, "keys": [{"match": "a", "name": "bad(name)"}]}, "not a valid metric name"),
        ({**MINIMAL, "tracking": {"attribute": "x", "reduce": "median"}}, "accepted"),
        ({**MINIMAL, "hooks": [{"name": "h", "target": "no_colon"}]}, "path:method"),
        ({**MINIMAL, "keys": [{"match": "a", "name": "b", "scale": "big"}]}, "must be a number"),
    ])
    def test_rejects_malformed(self, data, message):
        """A malformed adapter is an AdapterError naming the offending key and what is accepted."""
        with pytest.raises(AdapterError, match=message):
            Adapter.from_mapping(data)

    def test_toml_errors(self):
        """Text that is not TOML is reported with its source."""
        with pytest.raises(AdapterError, match=r"mine\.toml is not valid TOML"):
            Adapter.from_toml("name = ", source="mine.toml")


class TestFindAdapter:
    def test_unknown_object(self):
        """An object no adapter serves is a TypeError naming its class and the known frameworks."""
        with pytest.raises(UnsupportedTargetError, match=r"test_adapter\.Learner; known frameworks: .*skrl"):
            find_adapter(Learner())
        assert issubclass(UnsupportedTargetError, TypeError)
