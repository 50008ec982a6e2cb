# syntax=docker/dockerfile:1
# One image for every Spillway service (and the sandbox and emulator tools).
#   docker build -t spillway:dev .
#   docker run --rm spillway:dev placement --config /etc/spillway/config.yaml   # = spillway run placement ...
#   docker run --rm --entrypoint spillway spillway:dev sandbox --help            # the other subcommands

# --- build: a wheel of this project and of every dependency ---
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY libs ./libs
COPY services ./services
RUN pip wheel --wheel-dir /wheels .

# --- runtime: the wheels installed offline, nothing else ---
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels kube-spillway \
 && groupadd --system --gid 10001 spillway \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin spillway \
 && mkdir -p /etc/spillway/tls /var/lib/spillway/sandbox /var/lib/spillway/emulator \
 && chown -R 10001:10001 /var/lib/spillway /etc/spillway/tls
USER 10001:10001
WORKDIR /var/lib/spillway
EXPOSE 8080 8443
ENTRYPOINT ["spillway", "run"]
CMD ["--help"]
