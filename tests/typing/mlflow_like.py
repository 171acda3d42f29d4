"""A module with ``mlflow.log_metrics``'s exact signature (MLflow 3.17), for type-checking ``sink=mlflow``."""

from typing import Any


def log_metrics(metrics: dict[str, float], step: int | None = None, synchronous: bool | None = None,
                run_id: str | None = None, timestamp: int | None = None, model_id: str | None = None,
                dataset: Any = None) -> Any:
    """Stand in for mlflow.log_metrics."""
    return None
