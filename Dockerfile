# One image for every role (web, crawler, relay, migrations): the command picks the role.
# Built from this checkout: the wheel is the same package the tests import (see
# tests/scale/test_deploy_files.py, which builds it with the command below).
# Where pip needs settings of its own (another package index, a proxy, the CA bundle of a
# TLS-inspecting proxy), hand them to the build as secrets: `--secret id=pip.conf,src=FILE`
# (mounted as /etc/pip.conf) and `--secret id=pip-cert,src=CA.pem` (for `cert =
# /run/secrets/pip-cert` in that file). They are mounted for the pip steps only, never
# stored in the image; without them pip uses its defaults. tests/deploy/ does this.

FROM python:3.11-slim AS build
WORKDIR /src
# Only what the wheel is made of (pyproject.toml [tool.setuptools]: aggregator*, web*).
COPY pyproject.toml README.md ./
COPY aggregator ./aggregator
COPY web ./web
RUN --mount=type=secret,id=pip.conf,target=/etc/pip.conf --mount=type=secret,id=pip-cert \
    pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AGGREGATOR_CONFIG=/etc/aggregator/sources.yaml \
    AGGREGATOR_DATA_DIR=/var/lib/aggregator \
    AGGREGATOR_LOG_FORMAT=json
# Every dependency ships manylinux wheels (psycopg[binary], tantivy, nh3, Pillow, regex):
# no compiler in the image.
COPY --from=build /wheels /tmp/wheels
RUN --mount=type=secret,id=pip.conf,target=/etc/pip.conf --mount=type=secret,id=pip-cert \
    pip install /tmp/wheels/*.whl && rm -rf /tmp/wheels \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/aggregator --create-home aggregator
# The default configuration; docker-compose.yml mounts the operator's over it, read-only.
COPY sources.yaml /etc/aggregator/sources.yaml
USER aggregator
WORKDIR /var/lib/aggregator
EXPOSE 8080
# slim has no curl: ask /healthz with the standard library. Only the web role listens;
# docker-compose.yml turns this check off for the crawler, relay and migrate services.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["aggregator"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
