# K1 Song Analysis — one multi-target Dockerfile for every service.
#
#   docker build --target analyzer -t k1/analyzer:dev .
#   (docker compose builds every target: see docker-compose.yml)
#
# Stages
#   builder           python:3.11-slim + compilers: downloads (hash-checked) and builds the wheels
#                     of each role's lock file, and the project's own wheel
#   base              python:3.11-slim + libsndfile1 + tini, non-root user 10001; no Python packages
#   runtime           base + a virtualenv of requirements/service.lock (every service but the analyzer)
#   runtime-analysis  base + a virtualenv of requirements/analysis.lock (+ scipy, soxr, mir_eval,
#                     matplotlib): the analyzer only
#   ingest / analyzer / validator / deployer / telemetry / gateway
#            one target per service: its CMD, port and HEALTHCHECK (python urllib, no curl)
#
# Dependencies come from the hash-pinned locks in requirements/ (`make lock` writes them from
# pyproject.toml; tests/unit/test_lock.py fails when they drift), never from version ranges.
# librosa, numba and the test/eval tools are in no image.
#
# Ports (tools/deploycheck checks EXPOSE and HEALTHCHECK against this):
#   gateway  K1_GATEWAY_PORT 8000 at K1_HTTP_HOST: /health, /ready, /metrics, the API
#   ingest   K1_INGEST_PORT  8001 at K1_HTTP_HOST: /health, /ready, /metrics, /uploads…, /objects/…
#            (internal: only the gateway calls it)
#   workers  K1_HEALTH_PORT  9100 at K1_HEALTH_HOST: /healthz, /readyz, /metrics
# Both hosts default to 127.0.0.1 outside a container; the image binds them to 0.0.0.0.
#
# The root filesystem can be mounted read-only: everything written at run time goes to /tmp
# (uploads being spooled, matplotlib caches, the local object folder if S3 is unset).

# Pinned by tag and digest (a multi-architecture index: amd64 and arm64). `make validate-deploy`
# fails on a FROM that is not.
ARG PYTHON_IMAGE=python:3.11.16-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b

# --------------------------------------------------------------------------- builder
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src

# Dependencies first, from the lock files alone, so editing code does not rebuild them. Every
# download is checked against the lock's hashes; one wheel directory per role.
COPY requirements/service.lock requirements/analysis.lock requirements/
RUN --mount=type=cache,target=/root/.cache/pip \
    pip wheel --require-hashes --wheel-dir /wheels/service -r requirements/service.lock \
 && pip wheel --require-hashes --wheel-dir /wheels/analysis -r requirements/analysis.lock

# Then the project itself (contracts, infra, services, k1) as one wheel, in both.
COPY . .
RUN pip wheel --no-deps --wheel-dir /wheels/service . \
 && cp /wheels/service/k1_song_analysis-*.whl /wheels/analysis/

# --------------------------------------------------------------------------- base
FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/k1 \
    PATH=/opt/k1/bin:$PATH \
    HOME=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib \
    K1_DEV_MODE=false \
    K1_LOG_FORMAT=json \
    K1_DATA_DIR=/tmp/k1-data \
    K1_HTTP_HOST=0.0.0.0 \
    K1_HEALTH_HOST=0.0.0.0

# libsndfile1: soundfile (decode audio); tini: PID 1 that forwards SIGTERM and reaps the
# analyzer's worker processes.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libsndfile1 tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 k1 \
 && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home \
            --shell /usr/sbin/nologin k1
WORKDIR /app
ENTRYPOINT ["/usr/bin/tini", "--"]

# --------------------------------------------------------------------------- runtime (per role)
# Wheels are bind-mounted from the builder, so they never become a layer of the image; the
# directory holds exactly the role's lock plus the project, installed without resolving again.
FROM base AS runtime
RUN --mount=type=bind,from=builder,source=/wheels/service,target=/wheels \
    python -m venv "$VIRTUAL_ENV" \
 && "$VIRTUAL_ENV/bin/pip" install --no-index --no-deps /wheels/*.whl \
 && "$VIRTUAL_ENV/bin/pip" uninstall -y pip \
 && find "$VIRTUAL_ENV" -name '__pycache__' -prune -exec rm -rf {} +
USER 10001:10001

FROM base AS runtime-analysis
RUN --mount=type=bind,from=builder,source=/wheels/analysis,target=/wheels \
    python -m venv "$VIRTUAL_ENV" \
 && "$VIRTUAL_ENV/bin/pip" install --no-index --no-deps /wheels/*.whl \
 && "$VIRTUAL_ENV/bin/pip" uninstall -y pip \
 && find "$VIRTUAL_ENV" -name '__pycache__' -prune -exec rm -rf {} +
USER 10001:10001

# --------------------------------------------------------------------------- services
# Ingest is an HTTP service (internal API for the gateway), not a worker: no port 9100.
FROM runtime AS ingest
ENV K1_SERVICE_NAME=ingest
EXPOSE 8001
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8001/health', timeout=2)"]
CMD ["python", "-m", "services.ingest"]

FROM runtime-analysis AS analyzer
ENV K1_SERVICE_NAME=analyzer \
    K1_ANALYSIS_WORKERS=1
EXPOSE 9100
# A longer start period: the analysis libraries' import and first analysis.
HEALTHCHECK --interval=15s --timeout=5s --start-period=90s --retries=4 \
  CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:9100/healthz', timeout=4)"]
CMD ["python", "-m", "services.analyzer"]

FROM runtime AS validator
ENV K1_SERVICE_NAME=validator
EXPOSE 9100
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:9100/healthz', timeout=2)"]
CMD ["python", "-m", "services.validator"]

FROM runtime AS deployer
ENV K1_SERVICE_NAME=deployer
EXPOSE 9100
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:9100/healthz', timeout=2)"]
CMD ["python", "-m", "services.deployer"]

FROM runtime AS telemetry
ENV K1_SERVICE_NAME=telemetry
EXPOSE 9100
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:9100/healthz', timeout=2)"]
CMD ["python", "-m", "services.telemetry"]

# The gateway is last, so a plain `docker build .` produces it.
FROM runtime AS gateway
ENV K1_SERVICE_NAME=gateway
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/health', timeout=2)"]
CMD ["python", "-m", "services.gateway"]
