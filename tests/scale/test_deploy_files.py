"""Dockerfile, docker-compose.yml, .env.example and docs/deploy.md agree with the CLI.

Docker is not available where these tests run: they check what can be checked without
it. The files parse; every service command is a valid ``aggregator`` invocation; the
wheel the image installs is built here with the Dockerfile's own steps and holds the
package the tests import; the image's health check passes against a real ``serve``.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from aggregator import cli
from aggregator.cli import serving
from aggregator.settings import ENVIRONMENT
from tests.conftest import free_port, wait_for_port

from .procs import ROOT, Proc, aggregator_argv, child_env

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
AGGREGATOR_SERVICES = {"migrate": "cmd_db_upgrade", "crawler": "cmd_crawl", "web": "cmd_serve", "relay": "cmd_relay"}


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text(encoding="utf-8"))
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def env_example() -> dict[str, str]:
    """Every ``KEY=value`` of .env.example, commented-out ones included."""
    found = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$", line.strip())
        if m:
            found[m.group(1)] = m.group(2)
    return found


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}``, nested, ``$$`` kept."""
    pattern = re.compile(r"\$\{([A-Z0-9_]+)(?:(:-|:\?)((?:[^{}]|\{[^{}]*\})*))?\}")
    previous = None
    while previous != value:
        previous = value

        def sub(m: re.Match[str]) -> str:
            name, op, arg = m.group(1), m.group(2), m.group(3)
            if env.get(name):
                return env[name]
            if op == ":?":
                raise AssertionError(f"{name} is required: {arg}")
            return arg or ""

        value = pattern.sub(sub, value)
    return value


def test_compose_services_and_postgres() -> None:
    doc = compose()
    services = doc["services"]
    assert set(services) == {"postgres", *AGGREGATOR_SERVICES}
    pg = services["postgres"]
    assert pg["image"] == "postgres:15"
    assert any(v.endswith(":/var/lib/postgresql/data") for v in pg["volumes"])
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])
    assert "pgdata" in doc["volumes"]
    assert services["crawler"]["deploy"]["replicas"] == 2
    assert services["web"]["deploy"]["replicas"] == 2
    assert "replicas" not in services["relay"].get("deploy", {})
    assert services["migrate"]["restart"] == "no" and "build" in services["migrate"]
    for name in ("crawler", "web", "relay"):
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        assert deps["postgres"]["condition"] == "service_healthy"
        assert services[name]["init"] is True  # SIGTERM reaches our handlers
    for name in AGGREGATOR_SERVICES:
        mounts = services[name]["volumes"]
        assert any(m.endswith(":/etc/aggregator/sources.yaml:ro") for m in mounts), name
        assert services[name]["env_file"] == ".env"


def test_every_service_command_is_a_valid_aggregator_invocation() -> None:
    services = compose()["services"]
    parser = cli.build_parser()
    entrypoint = json.loads(dict(dockerfile_instructions())["ENTRYPOINT"])
    assert entrypoint == ["aggregator"]
    for name, func in AGGREGATOR_SERVICES.items():
        command = services[name]["command"]
        assert isinstance(command, list), f"{name}: use the exec form"
        args = parser.parse_args(command)  # SystemExit (a test error) when invalid
        assert args.func.__name__ == func, name
    crawler = parser.parse_args(services["crawler"]["command"])
    assert not crawler.once and not crawler.all, "the crawler service is the looping worker"
    relay = parser.parse_args(services["relay"]["command"])
    assert not relay.once and not relay.dry_run
    web = parser.parse_args(services["web"]["command"])
    assert web.host == "0.0.0.0"
    assert services["web"]["ports"][0].endswith(f":{web.port}")
    # the image's default command is the web role, and valid too
    assert parser.parse_args(json.loads(dict(dockerfile_instructions())["CMD"])).func is serving.cmd_serve


def test_env_example_names_every_variable() -> None:
    example = env_example()
    missing = [k for k in ENVIRONMENT if k not in example]
    assert not missing, f".env.example lacks {missing}"
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE.read_text(encoding="utf-8")))
    assert used <= set(example), f".env.example lacks {used - set(example)}"
    # with the example's values the services get a PostgreSQL URL pointing at the service
    env = {k: v for k, v in example.items() if not ENV_EXAMPLE.read_text().count(f"# {k}=")}
    raw = compose()["services"]["web"]["environment"]["AGGREGATOR_DATABASE_URL"]
    url = make_url(interpolate(raw, env))
    assert url.get_backend_name() == "postgresql" and url.host == "postgres"
    assert url.password == example["POSTGRES_PASSWORD"] and url.database == example["POSTGRES_DB"]
    with pytest.raises(AssertionError, match="POSTGRES_PASSWORD"):
        interpolate(raw, {})


def test_dockerignore_keeps_what_the_dockerfile_copies() -> None:
    patterns = [
        p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines() if p.strip() and not p.startswith("#")
    ]
    sources = []
    for word, rest in dockerfile_instructions():
        if word == "COPY" and "--from" not in rest:
            sources += rest.split()[:-1]
    assert {"pyproject.toml", "README.md", "aggregator", "web", "sources.yaml"} <= set(sources)
    for src in sources:
        for path in [src, *(str(p.relative_to(ROOT)) for p in (ROOT / src).rglob("*.py"))][:50]:
            ignored = False
            for pat in patterns:
                negate = pat.startswith("!")
                if fnmatch.fnmatch(path, pat.lstrip("!").rstrip("/")) or path.startswith(pat.rstrip("/") + "/"):
                    ignored = not negate
            assert not ignored, f".dockerignore drops {path}, which the Dockerfile copies"


@pytest.mark.slow
def test_the_image_wheel_is_the_tested_package(tmp_path: Path) -> None:
    """Replays the Dockerfile's build stage (its COPY and RUN lines) in a temporary dir."""
    context = tmp_path / "src"
    context.mkdir()
    steps = dockerfile_instructions()
    build_stage = steps[: next(i for i, (w, _) in enumerate(steps[1:], 1) if w == "FROM")]
    wheels = tmp_path / "wheels"
    ran = False
    for word, rest in build_stage:
        if word == "COPY":
            *srcs, dest = rest.split()
            for src in srcs:
                target = context / (src if dest in ("./", ".") else dest.removeprefix("./"))
                if (ROOT / src).is_dir():
                    shutil.copytree(ROOT / src, target, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy(ROOT / src, target)
        elif word == "RUN":
            argv = shlex.split(rest.replace("/wheels", str(wheels)))
            # RUN's own flags: only the optional pip-settings secrets (see the Dockerfile)
            mounts = [a for a in argv if a.startswith("--mount=")]
            assert all("type=secret" in m for m in mounts), mounts
            argv = argv[len(mounts):]
            assert argv[:2] == ["pip", "wheel"]
            subprocess.run([sys.executable, "-m", *argv], cwd=context, check=True, capture_output=True, timeout=300)
            ran = True
    assert ran
    [wheel] = wheels.glob("aggregator-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    ours = {
        str(p.relative_to(ROOT)) for p in (ROOT / "aggregator").rglob("*.py") if "__pycache__" not in p.parts
    }
    assert ours <= names, f"missing from the image: {sorted(ours - names)[:10]}"
    # the front end (web/) ships as aggregator/frontend: no top-level "web" module
    templates = {"aggregator/frontend/" + str(p.relative_to(ROOT / "web")) for p in (ROOT / "web" / "templates").rglob("*.html")}
    assert templates and templates <= names
    assert not [n for n in names if n.startswith("web/")]
    assert any(n.endswith("migrations/script.py.mako") for n in names)
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert f"aggregator = {meta['project']['scripts']['aggregator']}" in zipfile.ZipFile(wheel).read(entry).decode()


def test_the_image_healthcheck_passes_against_serve(tmp_path: Path, procs: list[Proc]) -> None:
    """The HEALTHCHECK command, pointed at a real ``aggregator serve`` on a free port."""
    health = json.loads(dict(dockerfile_instructions())["HEALTHCHECK"].split(" CMD ", 1)[1])
    assert "/healthz" in health[-1] and ":8080/" in health[-1]
    config = tmp_path / "sources.yaml"
    config.write_text("sources:\n  - name: A\n    url: http://127.0.0.2/a.xml\n")
    port = free_port()
    db = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    env = child_env(db)
    serve = Proc(aggregator_argv("--config", str(config), "--data-dir", str(tmp_path), "serve", "--port", str(port)), env)
    procs.append(serve)
    wait_for_port(port, timeout=30)
    check = [sys.executable if health[0] == "python" else health[0], *health[1:-1], health[-1].replace(":8080/", f":{port}/")]
    assert subprocess.run(check, timeout=30).returncode == 0
    assert serve.stop() == 0  # SIGTERM: a clean exit


def test_deploy_doc_agrees_with_compose_and_cli() -> None:
    text = DEPLOY_DOC.read_text(encoding="utf-8")
    for name in compose()["services"]:
        assert f"`{name}`" in text, f"docs/deploy.md does not mention the {name} service"
    parser = cli.build_parser()
    code = "\n".join(re.findall(r"^```sh\n(.*?)^```", text, re.M | re.S))
    commands = re.findall(r"^\s*(?:docker compose exec (?:-T )?\S+ )?aggregator ((?:[^\n#])+)", code, re.M)
    assert commands
    for command in commands:
        parser.parse_args(shlex.split(command))
    assert "pg_dump" in text and "pg_restore" in text
    assert "not" in text.lower() and "docker" in text.lower()
