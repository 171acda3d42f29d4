"""Training child processes for delivery tests (``training_child.py``): start them, follow and collect their output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

CHILD = Path(__file__).with_name("training_child.py")


def child_command(*args: str) -> list[str]:
    return [sys.executable, str(CHILD), *args]


def child_env(**variables: str) -> dict[str, str]:
    """The test's environment (so both skrl lines reach the child), one torch thread per child on a 2-core machine."""
    return {**os.environ, "OMP_NUM_THREADS": "1", **variables}


def read_until(stream: IO[bytes], marker: bytes, limit: int = 200) -> bytes:
    """Read lines until one is *marker* (skrl 1.4 prints a banner first); the marker, or what the stream ended with."""
    line = b""
    for _ in range(limit):
        line = stream.readline()
        if not line or line.strip() == marker:
            break
    return line.strip()


def run_children(commands: list[list[str]], envs: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Run children at once, wait for all; the stats each printed, in order."""
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                 for command, env in zip(commands, envs, strict=True)]
    outputs = []
    try:
        for process in processes:
            out, err = process.communicate(timeout=300)
            if process.returncode != 0:
                raise RuntimeError(f"child exited with {process.returncode}: {err[-3000:]}")
            outputs.append(out)
    finally:
        for process in processes:
            process.kill()
            process.wait(30)
    return [json.loads(line.split(" ", 1)[1]) for out in outputs for line in out.splitlines()
            if line.startswith("STATS ")]


@contextmanager
def killed_training(*args: str) -> Iterator[subprocess.Popen[bytes]]:
    """A training child run with *args*, yielded once it trains; SIGKILLed on leaving the block, as a crash would."""
    training = subprocess.Popen(child_command(*args), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                env=child_env())
    try:
        assert training.stdout is not None
        assert read_until(training.stdout, b"TRAINING") == b"TRAINING"
        yield training
        training.send_signal(signal.SIGKILL)
        training.wait(30)
    finally:
        training.kill()
        training.wait(30)
        if training.stdout is not None:
            training.stdout.close()
