"""metrictap: canonical training metrics from RL frameworks into experiment trackers, without touching training code.

::

    with track(runner.agent, sink=mlflow, every="balanced", only={"episode_reward_mean", "policy_loss"}):
        runner.run()

Importing metrictap patches nothing and imports neither mlflow, torch, numpy nor any framework.
"""

from metrictap._adapter import Adapter
from metrictap._compat import create_mlflow_logging_wrapper
from metrictap._every import Every
from metrictap._stats import TapStats
from metrictap._track import Tap, track
from metrictap.errors import AdapterError, AlreadyTrackedError, UnsupportedTargetError
from metrictap.sinks import MlflowSink, Sink

__version__ = "0.1.0"

__all__ = [
    "Adapter",
    "AdapterError",
    "AlreadyTrackedError",
    "Every",
    "MlflowSink",
    "Sink",
    "Tap",
    "TapStats",
    "UnsupportedTargetError",
    "__version__",
    "create_mlflow_logging_wrapper",
    "track",
]
