"""Bad input to track() and MlflowSink fails on entry with a message naming the parameter, the value and what is
accepted, and leaves the agent untouched."""

import pytest
from skrl_runs import make_runner

from metrictap import MlflowSink, track
from metrictap.testing import MemorySink

pytestmark = pytest.mark.skrl


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    return make_runner("PPO", timesteps=16, directory=str(tmp_path_factory.mktemp("runs"))).agent


@pytest.mark.parametrize(("options", "error", "message"), [
    ({"only": []}, ValueError, "only=[] selects nothing"),
    ({"only": set()}, ValueError, "only=set() selects nothing"),
    ({"only": 5}, TypeError, "only=5; accepted: None (every metric) or a set"),
    ({"prefix": 5}, TypeError, "prefix=5; accepted: a string"),
    ({"adapter": "skrl"}, TypeError, "adapter='skrl'; accepted: None (the shipped adapters) or a metrictap.Adapter"),
    ({"strict": "no"}, TypeError, "strict='no'; accepted: True, False or None"),
    ({"prefix": "p" * 240 + "/"}, ValueError, "prefix= is 241 characters long"),
])
def test_bad_option_is_refused(agent, options, error, message):
    """Each bad option is refused before anything is patched, naming the parameter, the value and what is accepted."""
    before = set(vars(agent))
    with pytest.raises(error) as info:
        track(agent, sink=MemorySink(), **options).start()
    assert message in str(info.value)
    assert set(vars(agent)) == before


def test_long_prefix_names_the_limit(agent):
    """A prefix that pushes a name the adapter produces past 250 characters says how long it may be."""
    with pytest.raises(ValueError, match=r"MLflow's 250-character limit.*accepted: a prefix of at most \d+ characters"):
        track(agent, sink=MemorySink(), prefix="p" * 240 + "/")


@pytest.mark.parametrize("store", ["local", "server"])
def test_run_that_does_not_exist(agent, store, tracking_store, mlflow_server):
    """An MlflowSink for a run id its store does not know is refused on entry, naming the id."""
    uri = tracking_store if store == "local" else mlflow_server.uri
    missing = "f" * 32
    with pytest.raises(ValueError, match=f"MlflowSink\\(run_id='{missing}'\\).*has no such run"):
        track(agent, sink=MlflowSink(missing, uri)).start()
    assert "record_transition" not in vars(agent)
