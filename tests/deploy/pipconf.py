"""The host's pip settings, handed to the image build as secrets (never written into a file we commit).

``pip`` inside the build must reach the same package index as the host, through the same
proxy and trusting the same CA bundle. The Dockerfile mounts two optional build secrets
for its pip steps: ``pip.conf`` (as ``/etc/pip.conf``) and ``pip-cert`` (at
``/run/secrets/pip-cert``). This module writes that pip.conf from what ``pip config list``
says on the host, keeping only the settings that mean the same inside a container:
host paths (``find-links``, ``constraint``, ``file://`` indexes) do not exist there.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

#: pip options that carry over into the build unchanged (``default-timeout`` is ``timeout``).
PORTABLE = ("index-url", "extra-index-url", "trusted-host", "timeout", "retries", "proxy")
CERT_IN_BUILD = "/run/secrets/pip-cert"


def host_settings() -> dict[str, str]:
    """pip's effective options on the host: files and ``PIP_*`` variables, later sources winning."""
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True,
                            text=True, timeout=60, check=True).stdout
    found: dict[str, str] = {}
    for line in listed.splitlines():
        m = re.match(r"^(?::env:|[\w-]+)\.([\w-]+)='(.*)'$", line.strip())
        if m:
            name = "timeout" if m.group(1) == "default-timeout" else m.group(1)
            found[name] = m.group(2)
    return found


def portable(settings: dict[str, str]) -> tuple[dict[str, str], Path | None]:
    """The options for the build's pip.conf, and the CA bundle to mount (if the host sets one)."""
    out = {k: v for k, v in settings.items() if k in PORTABLE}
    for key in ("index-url", "extra-index-url"):
        if key in out:
            urls = [u for u in out[key].split() if u.startswith(("http://", "https://"))]
            if urls:
                out[key] = " ".join(urls)
            else:
                del out[key]
    cert = Path(settings["cert"]) if settings.get("cert") else None
    if cert is not None and not cert.is_file():
        cert = None
    if cert is not None:
        out["cert"] = CERT_IN_BUILD
    return out, cert


def build_secrets(workdir: Path) -> list[str]:
    """``--secret`` arguments for ``podman build``; the pip.conf is written into ``workdir``."""
    options, cert = portable(host_settings())
    conf = workdir / "pip.conf"
    conf.write_text("[global]\n" + "".join(f"{k} = {v}\n" for k, v in sorted(options.items())), encoding="utf-8")
    conf.chmod(0o600)
    args = ["--secret", f"id=pip.conf,src={conf}"]
    if cert is not None:
        args += ["--secret", f"id=pip-cert,src={cert}"]
    return args
