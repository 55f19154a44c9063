# context-service: the fleet.context.v1 gRPC server (port 50054) with Prometheus metrics (port 9090).
#
#   docker build -t context-service:dev .        (or: make image)
#
# Two stages on the same pinned base image: the builder builds the wheel (the hatch build hook runs
# generate-protos.sh with grpcio-tools and mypy-protobuf from the wheel's isolated build environment) and
# installs it into /opt/venv; the runtime stage copies only that venv. No compiler is installed in either
# stage: every dependency ships binary wheels for CPython 3.11 on linux/amd64 and linux/arm64.

# One base for both stages, so the venv's interpreter symlink (to /usr/local/bin/python) resolves at run time.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
RUN python -m venv /opt/venv
# Only what the wheel build reads (the .dockerignore keeps the context to the same list).
COPY pyproject.toml hatch_build.py generate-protos.sh README.md ./
COPY specs/ specs/
COPY config/ config/
COPY src/context_service/ src/context_service/
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/venv/bin/python -m pip install /wheels/context_service-*.whl \
 && /opt/venv/bin/context-service --help > /dev/null

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="context-service" \
      org.opencontainers.image.description="Role- and phase-scoped prompt context for AI coding agents, served over gRPC (fleet.context.v1)." \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed uid/gid, so the pod's securityContext (runAsUser 10001) and file permissions agree.
RUN groupadd --system --gid 10001 context \
 && useradd --system --uid 10001 --gid context --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin context
# Owned by root and read-only for the service user: the code cannot be changed at run time.
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    GRAPH_BACKEND=neo4j \
    GRPC_PORT=50054 \
    METRICS_PORT=9090 \
    LOG_FORMAT=json \
    LOG_LEVEL=INFO
# The one writable place (an emptyDir in Kubernetes): relative paths such as KV_SQLITE_PATH's default land here.
WORKDIR /tmp
USER 10001:10001
EXPOSE 50054 9090
# Liveness and readiness come from grpc.health.v1 on port 50054 (Kubernetes gRPC probes); no HEALTHCHECK here,
# since a Python one-shot client would cost more CPU per check than the RPCs it guards.
ENTRYPOINT ["context-service", "serve"]
