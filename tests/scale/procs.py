"""Child processes for the scale tests: the real CLI (or a tiny script) with its output kept."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def child_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a child: our package, the test database, loopback allowed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}
    env.update(
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        AGGREGATOR_DATABASE_URL=database_url,
        AGGREGATOR_ALLOW_PRIVATE_NETWORKS="1",
        AGGREGATOR_LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def aggregator_argv(*args: str) -> list[str]:
    """``aggregator ARGS`` through the interpreter running the tests (the same install)."""
    return [sys.executable, "-m", "aggregator.cli", *args]


class Proc:
    """A child process whose stdout and stderr lines are collected by threads."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], cwd: Path | None = None):
        self.argv = list(argv)
        self.popen = subprocess.Popen(
            self.argv, env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
            # its own process group: cleanup reaches the parse-pool workers it spawns,
            # which outlive a parent killed with SIGKILL
            start_new_session=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._threads = [
            threading.Thread(target=self._pump, args=(self.popen.stdout, self.out), daemon=True),
            threading.Thread(target=self._pump, args=(self.popen.stderr, self.err), daemon=True),
        ]
        for t in self._threads:
            t.start()

    @staticmethod
    def _pump(stream: object, into: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            into.append(line.rstrip("\n"))

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait_for(self, predicate: Callable[[list[str]], bool], timeout: float, what: str = "") -> None:
        """Wait until ``predicate(stdout lines)`` holds; fail with the child's output if not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.out):
                return
            if not self.alive() and predicate(self.out) is False:
                time.sleep(0.2)  # let the pump threads catch the last lines
                if predicate(self.out):
                    return
                raise AssertionError(f"{self.argv} exited ({self.popen.returncode}) before {what}:\n{self.tail()}")
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what} from {self.argv}:\n{self.tail()}")

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then SIGKILL if it does not exit in time; returns the exit code."""
        self.signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=10)
            raise AssertionError(f"{self.argv} ignored SIGTERM for {timeout} s:\n{self.tail()}") from None

    def kill(self) -> None:
        """SIGKILL the child (only it: what an OOM killer or a crash does)."""
        if self.alive():
            self.popen.kill()
        self.popen.wait(timeout=10)

    def cleanup(self) -> None:
        """SIGKILL whatever is left of the child's process group (the test is over)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)

    def tail(self, n: int = 40) -> str:
        return "\n".join(["--- stdout", *self.out[-n:], "--- stderr", *self.err[-n:]])
