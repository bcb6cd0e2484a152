"""The images the deployment test runs: local stand-ins for the registry's, and the project's own.

No image registry is reachable here, so the two images ``Dockerfile`` and
``docker-compose.yml`` name are made locally from Debian's packages and tagged with the
names the files ask for (podman then uses them without pulling):

- ``python:3.11-slim``: Debian bookworm's Python 3.11 and pip (``images/python``);
- ``postgres:15``: Debian's PostgreSQL 15 with an entrypoint that honours POSTGRES_USER,
  POSTGRES_PASSWORD and POSTGRES_DB like the official image's (``images/postgres``).

Both start from a Debian base made with ``debootstrap --variant=minbase`` and imported
into podman. Each image carries a label with a hash of its inputs; an image whose label
matches is kept (the cache between runs), one whose label differs is rebuilt, and an
image of that name without our label (a real one, pulled by someone) is used as it is.

The project's image is then built from the unmodified ``Dockerfile`` (``build_app``), with
the host's pip settings as build secrets (``pipconf``). ``python -m tests.deploy.images``
does all of it and prints how long each step took.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import pipconf
from .podman import PodmanError, env, podman

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
LABEL = "org.aggregator.deploy.inputs"
SUITE = "bookworm"
BASE = f"localhost/aggregator-deploy/debian:{SUITE}-minbase"
PYTHON = "docker.io/library/python:3.11-slim"
POSTGRES = "docker.io/library/postgres:15"
#: The project's image as the test builds it (not ``aggregator:local``, which is an operator's).
APP = "localhost/aggregator:deploy-test"
STANDINS = {PYTHON: HERE / "images" / "python", POSTGRES: HERE / "images" / "postgres"}


def cache_dir() -> Path:
    """Where debootstrap works: ``$XDG_CACHE_HOME/aggregator-deploy`` (``~/.cache/…``)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = base / "aggregator-deploy"
    path.mkdir(parents=True, exist_ok=True)
    return path


def inputs_key(*parts: bytes | str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def dir_key(path: Path, *extra: str) -> str:
    files = sorted(p for p in path.rglob("*") if p.is_file())
    return inputs_key(*extra, *(f"{p.relative_to(path)}\n{p.stat().st_mode & 0o111}" for p in files),
                      *(p.read_bytes() for p in files))


def image_label(name: str) -> str | None:
    """None: no such image; "": an image without our label; else the label's value."""
    done = podman("image", "inspect", name, check=False)
    if done.returncode != 0:
        return None
    labels = (json.loads(done.stdout)[0].get("Config") or {}).get("Labels") or {}
    return str(labels.get(LABEL, ""))


def image_id(name: str) -> str | None:
    done = podman("image", "inspect", "--format", "{{.Id}}", name, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def drop_replaced(old_id: str | None, name: str) -> None:
    """Remove the image a rebuild untagged (ours: it had our label), so none piles up."""
    if old_id and old_id != image_id(name):
        podman("rmi", old_id, check=False)


def debian_mirror() -> str | None:
    """The host's Debian mirror (its apt sources), so debootstrap uses what apt uses here."""
    texts = [p.read_text(errors="replace") for p in [Path("/etc/apt/sources.list"),
             *sorted(Path("/etc/apt/sources.list.d").glob("*.list")),
             *sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))] if p.is_file()]
    for text in texts:
        for m in re.finditer(r"^\s*(?:deb\s+(?:\[[^]]*\]\s+)?|URIs:\s*)(https?://\S+)", text, re.M):
            url = m.group(1)
            if not url.rstrip("/").endswith(("-security", "debian-security")) and "debian" in url:
                return url
    return None


def unmount_under(path: Path) -> None:
    """debootstrap mounts /proc and /sys in its target; never delete through a mount."""
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(str(path) + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], check=False)


def ensure_base() -> str:
    """The Debian base image, made with debootstrap when it is missing or its inputs changed."""
    key = inputs_key(SUITE, "minbase")
    if image_label(BASE) == key:
        return key
    old = image_id(BASE)
    work = Path(tempfile.mkdtemp(prefix="debootstrap-", dir=cache_dir()))
    target = work / "rootfs"
    try:
        mirror = debian_mirror()
        argv = ["debootstrap", "--variant=minbase", SUITE, str(target), *([mirror] if mirror else [])]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=1200)
        if done.returncode != 0:
            log = (target / "debootstrap" / "debootstrap.log")
            detail = log.read_text(errors="replace")[-3000:] if log.exists() else done.stderr[-3000:]
            raise PodmanError(f"debootstrap failed ({done.returncode}):\n{detail}")
        tar = subprocess.Popen(["tar", "-C", str(target), "-c", "."], stdout=subprocess.PIPE)
        try:
            imported = subprocess.run(["podman", "import", "--change", f"LABEL {LABEL}={key}",
                                       "--change", 'CMD ["bash"]', "-", BASE],
                                      stdin=tar.stdout, capture_output=True, text=True, timeout=600, env=env())
        finally:
            if tar.stdout is not None:
                tar.stdout.close()
            tar.wait()
        if imported.returncode != 0 or tar.returncode != 0:
            raise PodmanError(f"podman import failed: {imported.stderr[-3000:]}")
    finally:
        unmount_under(target)
        shutil.rmtree(work, ignore_errors=True)
    drop_replaced(old, BASE)
    return key


def ensure_standin(name: str, base_key: str) -> str:
    """One stand-in (python or postgres), rebuilt when its Containerfile or the base changed."""
    context = STANDINS[name]
    key = dir_key(context, base_key)
    label = image_label(name)
    if label == "":
        return "a real image of that name is there: used as it is"
    if label == key:
        return "cached"
    old = image_id(name)
    podman("build", "--quiet", "--layers=false", "--network=host", "--pull=never", "--format=docker",
           "--build-arg", f"BASE={BASE}", "--label", f"{LABEL}={key}", "-t", name, str(context), timeout=1200)
    drop_replaced(old, name)
    return "built"


#: What the image is made of: the Dockerfile, its context's files that it copies, the base.
APP_INPUTS = ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md", "sources.yaml")
APP_TREES = ("aggregator", "web")


def app_key() -> str:
    files = [ROOT / name for name in APP_INPUTS]
    for tree in APP_TREES:
        files += sorted(p for p in (ROOT / tree).rglob("*")
                        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
    return inputs_key(image_id(PYTHON) or "", *(str(p.relative_to(ROOT)) for p in files),
                      *(p.read_bytes() for p in files))


def build_app() -> str:
    """The project's image from the unmodified Dockerfile, unless it is built from these very files.

    The host's pip settings go in as build secrets; ``--format=docker`` keeps the
    HEALTHCHECK (the OCI format has no such field); ``--network=host`` because pip needs
    the package index during the build; no layer cache (``--layers=false``): a change of
    code reruns both pip steps anyway, and no intermediate image is left behind.
    """
    key = app_key()
    if image_label(APP) == key:
        return "cached"
    old = image_id(APP)
    with tempfile.TemporaryDirectory(prefix="pip-secrets-") as tmp:
        podman("build", "--quiet", "--layers=false", "--network=host", "--pull=never", "--format=docker",
               "--label", f"{LABEL}={key}", *pipconf.build_secrets(Path(tmp)),
               "-f", str(ROOT / "Dockerfile"), "-t", APP, str(ROOT), timeout=1200)
    drop_replaced(old, APP)
    return "built"


def prepare() -> dict[str, object]:
    """Everything the stack test needs before it starts; returns what was done and how long it took."""
    report: dict[str, object] = {}
    started = time.monotonic()
    base_key = ensure_base()
    report["base_seconds"] = round(time.monotonic() - started, 1)
    t = time.monotonic()
    # the two stand-ins are independent: build them side by side
    procs = {name: subprocess.Popen([sys.executable, "-m", "tests.deploy.images", "--standin", name, base_key],
                                    cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in STANDINS}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=1500)
        if proc.returncode != 0:
            raise PodmanError(f"building the {name} stand-in failed:\n{out[-2000:]}\n{err[-3000:]}")
        report[name] = out.strip()
    report["standins_seconds"] = round(time.monotonic() - t, 1)
    t = time.monotonic()
    report[APP] = build_app()
    report["app_seconds"] = round(time.monotonic() - t, 1)
    report["seconds"] = round(time.monotonic() - started, 1)
    return report


def main(argv: list[str]) -> int:
    if argv[:1] == ["--standin"]:
        print(ensure_standin(argv[1], argv[2]))
        return 0
    print(json.dumps({"event": "deploy.images", **prepare()}), flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (PodmanError, subprocess.TimeoutExpired) as exc:
        print(f"deploy.images failed: {exc}", file=sys.stderr)
        sys.exit(1)
