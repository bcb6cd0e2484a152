"""docker-compose.yml brought up by podman-compose, in a project directory of the test's own.

The directory holds a byte-for-byte copy of ``docker-compose.yml``, a ``.env`` made from
``.env.example`` (only values changed), the test's ``sources.yaml``, and ``compose.test.yml``,
the one override, which only publishes PostgreSQL on a loopback port so the test can look
into the database. The project name is fixed, so a run cleans up what a killed run left.

What podman-compose cannot do with Debian 12's podman (4.3) is done here, as docker
compose would, and nowhere else:

- health checks are scheduled by systemd timers, and there is no systemd here: ``health``
  runs the container's own check (``podman healthcheck run``), as the timer would;
- ``depends_on`` conditions: podman-compose ignores ``service_healthy`` before podman 4.6,
  and podman 4.3 cannot start a container that ``--requires`` an exited one (the finished
  ``migrate``). ``up_in_order`` starts the services in the order the conditions say:
  postgres until healthy, migrate until it exited, then the rest with ``--no-deps``.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .images import APP, ROOT
from .podman import PodmanError, compose_command, env, podman, run

PROJECT = "aggregator-deploy-test"
OVERRIDE = """\
# The deployment test's only addition to docker-compose.yml: PostgreSQL on a loopback port
# of the host, so the test can read the database. Images, the sources file and the web
# ports come from .env, as an operator's would.
services:
  postgres:
    ports:
      - "127.0.0.1::5432"
"""


def until(predicate: Callable[[], Any], timeout: float, what: str, detail: Callable[[], str] = lambda: "") -> Any:
    """Poll ``predicate`` until it returns something true; fail with ``detail()`` if it never does."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{detail()}")
        time.sleep(0.5)


@dataclass
class Stack:
    directory: Path
    password: str
    env_values: dict[str, str]
    project: str = PROJECT
    seen_ids: set[str] = field(default_factory=set)

    # -- the project directory -------------------------------------------------------------

    @classmethod
    def create(cls, directory: Path, password: str, **env_values: str) -> Stack:
        directory.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / "docker-compose.yml", directory / "docker-compose.yml")
        (directory / "compose.test.yml").write_text(OVERRIDE, encoding="utf-8")
        values = {"POSTGRES_PASSWORD": password, "AGGREGATOR_IMAGE": APP,
                  "AGGREGATOR_SOURCES": str(directory / "sources.yaml"), **env_values}
        text = (ROOT / ".env.example").read_text(encoding="utf-8")
        for key, value in values.items():
            text, n = re.subn(rf"^#?\s*{key}=.*$", f"{key}={value}", text, flags=re.M)
            assert n == 1, f".env.example has no single {key}= line"
        (directory / ".env").write_text(text, encoding="utf-8")
        (directory / ".env").chmod(0o600)
        return cls(directory, password, values)

    @property
    def sources_file(self) -> Path:
        return self.directory / "sources.yaml"

    # -- commands --------------------------------------------------------------------------

    def compose(self, *args: str, timeout: float = 300, check: bool = True) -> str:
        command = compose_command()
        assert command is not None
        done = run([*command, "-p", self.project, "-f", str(self.directory / "docker-compose.yml"),
                    "-f", str(self.directory / "compose.test.yml"), *args], timeout=timeout, check=check)
        self.remember()
        return done.stdout + done.stderr

    def compose_bytes(self, *args: str, stdin: bytes | None = None, timeout: float = 300) -> bytes:
        """A podman-compose command whose output is binary (``exec -T … pg_dump -Fc``)."""
        command = compose_command()
        assert command is not None
        done = subprocess.run([*command, "-p", self.project, "-f", str(self.directory / "docker-compose.yml"),
                               "-f", str(self.directory / "compose.test.yml"), *args],
                              input=stdin, capture_output=True, timeout=timeout, env=env())
        if done.returncode != 0:
            raise PodmanError(f"podman-compose {' '.join(args)} exited {done.returncode}: "
                              f"{done.stderr.decode(errors='replace')[-3000:]}")
        return done.stdout

    def up_in_order(self, on_postgres_healthy: Callable[[], None]) -> None:
        """What ``docker compose up -d`` does with the file's depends_on conditions (see the module doc)."""
        self.compose("up", "-d", "postgres")
        pg = self.name("postgres")
        until(lambda: self.health(pg) == "healthy", 120, "postgres to be healthy", lambda: self.logs(pg))
        on_postgres_healthy()
        self.compose("up", "-d", "migrate")
        migrate = self.name("migrate")
        until(lambda: self.state(migrate)["Status"] == "exited", 180, "migrate to finish", lambda: self.logs(migrate))
        self.compose("up", "-d", "--no-deps", "crawler", "web", "relay")

    def down(self) -> str:
        return self.compose("down", "-v", "-t", "60", timeout=600)

    # -- containers ------------------------------------------------------------------------

    def containers(self, service: str | None = None) -> list[dict[str, Any]]:
        """The project's containers (podman ps -a), by name; one service's if given."""
        argv = ["ps", "-a", "--format", "json", "--filter", f"label=io.podman.compose.project={self.project}"]
        if service:
            argv += ["--filter", f"label=com.docker.compose.service={service}"]
        found = json.loads(podman(*argv).stdout or "[]")
        return sorted(found, key=lambda c: c["Names"][0])

    def names(self, service: str) -> list[str]:
        return [c["Names"][0] for c in self.containers(service)]

    def name(self, service: str) -> str:
        [only] = self.names(service)
        return only

    def remember(self) -> None:
        self.seen_ids.update(c["Id"] for c in self.containers())

    def inspect(self, name: str) -> dict[str, Any]:
        return dict(json.loads(podman("inspect", "--type", "container", name).stdout)[0])

    def state(self, name: str) -> dict[str, Any]:
        return dict(self.inspect(name)["State"])

    def health(self, name: str) -> str:
        """Run the container's health check now (what systemd's timer would do), then its status."""
        podman("healthcheck", "run", name, check=False, timeout=60)
        health = self.state(name).get("Health") or self.state(name).get("Healthcheck") or {}
        return str(health.get("Status", ""))

    def logs(self, name: str) -> str:
        done = podman("logs", name, check=False)
        return (done.stdout + done.stderr)[-6000:]

    def json_logs(self, name: str) -> list[dict[str, Any]]:
        """The JSON log lines (AGGREGATOR_LOG_FORMAT=json) of a container."""
        done = podman("logs", name, check=False)
        out = []
        for line in (done.stdout + done.stderr).splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out

    def port(self, name: str, container_port: int) -> int:
        out = podman("port", name, f"{container_port}/tcp").stdout.strip().splitlines()[0]
        return int(out.rsplit(":", 1)[1])

    def gateway(self) -> str:
        """The compose network's gateway: the host, as the containers reach it."""
        net = json.loads(podman("network", "inspect", f"{self.project}_default").stdout)[0]
        return str(net["subnets"][0]["gateway"])

    def pg_url(self) -> str:
        port = self.port(self.name("postgres"), 5432)
        user, db = self.env_values.get("POSTGRES_USER", "aggregator"), self.env_values.get("POSTGRES_DB", "aggregator")
        return f"postgresql+psycopg://{user}:{self.password}@127.0.0.1:{port}/{db}"

    # -- what must be gone after down ------------------------------------------------------

    def leftovers(self) -> list[str]:
        found = [f"container {c['Names'][0]}" for c in self.containers()]
        vols = json.loads(podman("volume", "ls", "--format", "json").stdout or "[]")
        found += [f"volume {v['Name']}" for v in vols if v["Name"].startswith(self.project)]
        nets = json.loads(podman("network", "ls", "--format", "json").stdout or "[]")
        found += [f"network {n['name']}" for n in nets if n["name"].startswith(self.project)]
        pods = json.loads(podman("pod", "ps", "--format", "json").stdout or "[]")
        found += [f"pod {p['Name']}" for p in pods if self.project in p["Name"]]
        found += [f"process {pid}: {cmd[:200]}" for pid, cmd in processes_mentioning(self.seen_ids)]
        return found

    def force_clean(self) -> None:
        """Whatever a failed run left: containers, pod, volumes, network (never anything else)."""
        with contextlib.suppress(PodmanError, OSError):
            self.compose("down", "-v", "-t", "5", timeout=300, check=False)
        for c in self.containers():
            podman("rm", "-f", "-t", "5", c["Id"], check=False)
        podman("pod", "rm", "-f", f"pod_{self.project}", check=False)
        for line in podman("volume", "ls", "-q").stdout.split():
            if line.startswith(self.project):
                podman("volume", "rm", "-f", line, check=False)
        podman("network", "rm", "-f", f"{self.project}_default", check=False)


def processes_mentioning(ids: set[str]) -> list[tuple[int, str]]:
    """Processes whose command line names one of the containers (conmon, a stray runtime)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(i in cmd for i in ids):
            found.append((int(proc.name), cmd))
    return found
