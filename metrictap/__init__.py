"""metrictap: canonical training metrics from RL frameworks into experiment trackers, without touching training code.

::

    with track(runner.agent, sink=mlflow, every="balanced", only={"episode_reward_mean", "policy_loss"}):
        runner.run()

Importing metrictap patches nothing and imports neither mlflow, torch, numpy nor any framework.
The public API is what this module, :mod:`metrictap.sinks`, :mod:`metrictap.testing`,
:mod:`metrictap.errors` and :mod:`metrictap.legacy` export; the subpackages ``tap``,
``adapting``, ``emitting``, ``delivery``, ``cli`` and ``bench`` are the implementation.
"""

from metrictap.adapting.adapter import Adapter
from metrictap.errors import AdapterError, AlreadyTrackedError, UnsupportedTargetError
from metrictap.legacy import create_mlflow_logging_wrapper
from metrictap.sinks import MlflowSink, Sink
from metrictap.tap.schedule import Every
from metrictap.tap.stats import TapStats
from metrictap.tap.track import Tap, track

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
