# The launchq agent image the Helm chart (infra/helm/launchq-agent) runs: launchq from this
# repository's shared/ package, its dependencies from the hash-locked server lock, git for
# cloning sources, and a non-root user (uid 10001, the chart's runAsUser).
#
# Build from the repository root, e.g.:
#   buildah bud -f infra/docker/agent.Dockerfile -t <registry>/launchq-agent:0.1.0 .
#   buildah push <registry>/launchq-agent:0.1.0
# (or `docker build -f infra/docker/agent.Dockerfile ...`).

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
# Dependencies first, from the lock alone, so that a source change reuses this layer.
COPY infra/requirements/server.txt infra/requirements/server.txt
RUN python -m venv /opt/launchq \
    && /opt/launchq/bin/pip install --no-cache-dir --require-hashes -r infra/requirements/server.txt
COPY pyproject.toml README.md ./
COPY shared/ shared/
# --no-deps: everything launchq needs came from the lock above (setuptools and wheel too).
RUN /opt/launchq/bin/pip install --no-cache-dir --no-deps --no-build-isolation . \
    && /opt/launchq/bin/launchq --help >/dev/null

FROM python:3.11-slim-bookworm
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        git openssh-client ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --user-group --home-dir /tmp --no-create-home \
        --shell /usr/sbin/nologin launchq \
    && install -d -o 10001 -g 10001 /var/lib/launchq
COPY --from=build /opt/launchq /opt/launchq
ENV PATH=/opt/launchq/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    LAUNCHQ_DATA_DIR=/var/lib/launchq
USER 10001:10001
ENTRYPOINT ["launchq"]
CMD ["agent", "--help"]
