"""Reading TensorBoard event files back: what a SummaryWriter (the tap's or a framework's own) wrote."""

from __future__ import annotations

from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def scalars(log_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar series under *log_dir* (searched recursively), as ``tag -> [(step, value), ...]``."""
    series: dict[str, list[tuple[int, float]]] = {}
    for folder in sorted({path.parent for path in Path(log_dir).rglob("events.out.tfevents.*")}):
        events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
        events.Reload()
        for tag in events.Tags()["scalars"]:
            series.setdefault(tag, []).extend((event.step, event.value) for event in events.Scalars(tag))
    return series
