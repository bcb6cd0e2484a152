"""Podman as the deployment test runs it: one set of settings, commands with their output kept.

Debian's podman runs here as root with the settings in ``containers.conf`` beside this
file (``CONTAINERS_CONF``); ``podman-compose`` comes from PyPI into the project's virtual
environment (``pip install -e '.[deploy]'``, which ``make test-deploy`` does).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

CONF = Path(__file__).resolve().with_name("containers.conf")


class PodmanError(RuntimeError):
    """A podman or podman-compose command failed; the message holds its output."""


def env() -> dict[str, str]:
    """Our environment with podman's settings file; podman-compose passes it on to podman."""
    return {**os.environ, "CONTAINERS_CONF": str(CONF)}


def compose_command() -> list[str] | None:
    """podman-compose from the interpreter's environment (the venv), else from PATH."""
    beside = Path(sys.executable).parent / "podman-compose"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("podman-compose")
    return [found] if found else None


def missing() -> str | None:
    """Why the stack cannot run on this machine, or None when it can."""
    for tool, package in (("podman", "podman"), ("runc", "runc"), ("catatonit", "catatonit")):
        if shutil.which(tool) is None and not Path(f"/usr/libexec/podman/{tool}").exists():
            return f"{tool} is not installed (Debian package {package}; `make test-deploy` installs it)"
    if compose_command() is None:
        return "podman-compose is not installed (pip install -e '.[deploy]'; `make test-deploy` does it)"
    if os.geteuid() != 0:
        return "the deployment test runs podman as root (rootless podman is not set up on these machines)"
    probe = subprocess.run(["podman", "info", "--format", "{{.Host.OCIRuntime.Name}}"], env=env(),
                           capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        return f"podman does not work here: {probe.stderr.strip()[-500:]}"
    return None


def run(argv: Sequence[str], *, check: bool = True, timeout: float = 300,
        stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command with podman's settings; raise PodmanError with its output when it fails."""
    done = subprocess.run(list(argv), env=env(), input=stdin, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise PodmanError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return done


def podman(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return run(["podman", *args], check=check, timeout=timeout)
