"""Who holds a source lease, and whether that process is known to be dead.

A crawler leases sources under ``host:pid+start`` (``start``: the process's start time in
clock ticks since boot, from ``/proc``; left out where there is no ``/proc``). The lease
runs out by itself after ``AGGREGATOR_LEASE_SECONDS`` (600 s): that is what frees the
sources of a crawler on another machine. On its own machine a restarted crawler can do
better: the owner's name says which process it was, and whether that process still lives
can be checked, so what a killed process held is taken back at once (``Crawler``).

"Dead" must never be said of a live process (two crawlers would fetch the same sources),
so a process counts as dead only when no process has its pid, or the one that has it
started at another time (the pid was reused, e.g. after a reboot or a container restart).
Where the start time is unknown, a pid that exists counts as alive.
"""

from __future__ import annotations

import os
import re
import socket

__all__ = ["dead_here", "process_owner"]

#: The lease_owner column holds 100 characters; a host name is cut to keep the rest whole.
_HOST_CHARS = 60
_OWNER = re.compile(r"^(?P<host>[^:]*):(?P<pid>[0-9]{1,10})(?:\+(?P<start>[0-9]{1,20}))?$")


def start_ticks(pid: int) -> int | None:
    """When the process started, in clock ticks since boot (Linux ``/proc``), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may hold spaces and parentheses
    fields = stat[stat.rfind(")") + 2:].split()
    try:
        return int(fields[19])  # field 22 of proc(5): starttime
    except (IndexError, ValueError):
        return None


def host_name() -> str:
    return socket.gethostname()[:_HOST_CHARS]


def process_owner() -> str:
    """This process's name in source leases: ``host:pid+start`` (``host:pid`` without /proc)."""
    pid = os.getpid()
    start = start_ticks(pid)
    return f"{host_name()}:{pid}" + (f"+{start}" if start is not None else "")


def dead_here(owner: str, *, host: str | None = None) -> bool:
    """Whether ``owner`` names a process of this machine that is certainly gone.

    Owners of other machines, and names that are not ``process_owner``'s, are never judged
    (their leases run out as before).
    """
    match = _OWNER.match(owner)
    if match is None or match["host"] != (host if host is not None else host_name()):
        return False
    pid = int(match["pid"])
    if pid == 0:
        return False
    if not _exists(pid):
        return True
    if match["start"] is None:
        return False
    started = start_ticks(pid)
    return started is not None and started != int(match["start"])


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    except OverflowError:
        return False
    return True
