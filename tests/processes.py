"""Signalling child processes started with ``asyncio.create_subprocess_exec``.

``Process.send_signal`` goes through ``subprocess.Popen.send_signal``, which first polls
the child with ``waitpid(WNOHANG)``: when the child has just exited, that poll reaps it
behind asyncio's child watcher, which then logs "Unknown child process pid" and reports
exit status 255 instead of the real one. Tests that judge a run by its exit status
signal with ``os.kill`` instead: the watcher has not reaped the pid yet, so it cannot
have been reused, and an exited child simply ignores the signal.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal


def send(proc: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    """Send ``sig`` to ``proc`` unless it is already gone, without reaping it."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):  # already exited and reaped by the watcher
        os.kill(proc.pid, sig)
