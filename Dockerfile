# One image for every part of transport-bench: the four targets, the Lambda emulator and its
# DynamoDB (dynalite), Locust (master and workers) and the runner (`tbench run`).
# docker-compose.yml builds it; nothing here depends on which part a container runs.
# BASE_IMAGE: any Debian bookworm with python3 and python3-venv; the default is the official
# image users pull. `make compose-test` passes one made with debootstrap where no registry
# answers (devtools/docker_base.py).
ARG BASE_IMAGE=python:3.11.11-slim-bookworm

# The Lambda emulator's DynamoDB, dynalite, as `make install` gets it: `npm ci` from its
# lockfile, no install scripts. In a stage of its own, so that npm (and the ~450 Debian
# packages it depends on) stays out of the image; the image needs only `node`.
FROM ${BASE_IMAGE} AS dynalite
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /dynalite
COPY servers/lambda_ws/dynalite/package.json servers/lambda_ws/dynalite/package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    PATH=/opt/venv/bin:$PATH

# A venv, first on PATH: Debian's own python3 refuses system-wide pip installs (PEP 668) and
# has no `python` command; the venv gives both, on either base.
RUN python3 -m venv /opt/venv

# WeasyPrint (the PDF report) renders with Pango (the packages scripts/system-packages.txt
# names); dynalite runs on Node.js.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core nodejs \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# The pinned runtime dependencies first (`make lock`; test-only packages are in
# requirements-dev.lock alone), so a code change does not reinstall them.
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock

# Then the project itself, against the same pins; the in-tree build leftovers go too.
COPY . .
RUN pip install --no-cache-dir -c requirements.lock . \
    && rm -rf build ./*.egg-info
COPY --from=dynalite /dynalite/node_modules servers/lambda_ws/dynalite/node_modules

RUN useradd --create-home --uid 1000 --shell /usr/sbin/nologin tbench
USER tbench

# Every service names its own command (docker-compose.yml); this one lists the targets.
CMD ["tbench", "targets"]
