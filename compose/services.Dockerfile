# Redis and nginx for docker-compose.scale.yml where no registry gives the official images
# (TBENCH_REDIS_IMAGE / TBENCH_NGINX_IMAGE): Debian's packages, as the local cluster runs
# them (scripts/system-packages.txt), plus wget for the balancer's health check.
# `make compose-test` builds it on the same base as the Dockerfile.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server nginx-light wget \
    && rm -rf /var/lib/apt/lists/*
