"""The README's metric table and the names the code can produce must not drift apart."""

import re
from pathlib import Path

from metrictap.adapting.adapter import shipped_adapters
from metrictap.adapting.catalogue import EPISODES, MEASURED

README = (Path(__file__).parent.parent.parent / "README.md").read_text(encoding="utf-8")


def table_names():
    names = set()
    for line in README.splitlines():
        if line.startswith("| `"):
            first_cell = line.split(" | ")[0]
            names.update(re.findall(r"`([^`]+)`", first_cell))
    return names


def test_every_name_is_documented():
    """Each canonical name, and each name the skrl adapter declares, appears in the README's table."""
    skrl = next(adapter for adapter in shipped_adapters() if adapter.name == "skrl")
    declared = {rule.name for rule in skrl.keys if rule.name} | {probe.name for probe in skrl.probes} | {
        hook.name for hook in skrl.hooks}
    documented = table_names()
    for name in {*EPISODES, *MEASURED, *declared}:
        pattern = re.compile(re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(name)))
        assert any(pattern.fullmatch(entry) for entry in documented), name


def test_documented_tags_exist():
    """Each skrl tag the table names as a source is matched by a rule of the adapter."""
    skrl = next(adapter for adapter in shipped_adapters() if adapter.name == "skrl")
    matches = {re.sub(r" \([^)]*\)$", "", rule.match) for rule in skrl.keys}
    for tag in re.findall(r"`((?:Loss|Learning|Policy|Q-network|Target|Coefficient|Exploration|Stats) / [^`(]+)",
                          README):
        assert tag.strip() in matches or any(tag.startswith(match) for match in matches), tag


def test_framework_table_is_current():
    """The README's per-framework table is exactly what `metrictap names` prints from the adapter files."""
    from metrictap.cli.names import markdown

    assert markdown(shipped_adapters()) in README
