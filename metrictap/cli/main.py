"""The ``metrictap`` command line (also ``python -m metrictap``).

Each command lives in its own module, imported only when it runs, so ``metrictap --help``
starts without torch, skrl, gymnasium or mlflow. A command module provides
``add_arguments(parser, name)`` and ``run(args) -> int``; a :class:`UsageError` it raises ends the
command with one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from metrictap.errors import UsageError

COMMANDS: dict[str, tuple[str, str]] = {  # name -> (module, one-line summary)
    "train": ("metrictap.cli.train",
              "train an skrl agent (Isaac Lab or gymnasium) with its metrics tapped into MLflow"),
    "eval": ("metrictap.cli.train", "evaluate an skrl checkpoint and log its episodes into MLflow"),
    "bench": ("metrictap.bench.command",
              "measure what the tap costs a training, against no tap, seed-style logging and TensorBoard"),
    "names": ("metrictap.cli.names", "print the canonical metric names and where each framework's value comes from"),
    "replay": ("metrictap.cli.replay",
               "deliver what spools still hold (after an outage or a crash) to their MLflow run"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    # No abbreviations: `--agent X`, an Isaac Lab 3 flag passed through, must not be taken for `--agent_cfg X`.
    parser = argparse.ArgumentParser(prog="metrictap", description="Canonical RL training metrics into MLflow.",
                                     allow_abbrev=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, summary) in COMMANDS.items():
        command = commands.add_parser(name, help=summary, description=summary, allow_abbrev=False)
        command.set_defaults(module=module_name)
        importlib.import_module(module_name).add_arguments(command, name)
    typed = list(sys.argv[1:] if argv is None else argv)
    args, extra = parser.parse_known_args(typed)
    args.extra, args.typed = extra, typed  # as typed: a framework may rewrite sys.argv while the command runs
    try:
        return int(importlib.import_module(args.module).run(args))
    except UsageError as error:
        print(f"metrictap {args.command}: error: {error}", file=sys.stderr)  # noqa: T201 - the CLI's own output
        return 2

