# spinop's container image: `docker build -t spinop:0.1.0 .` (deploy/base runs it; docs/install.md).
#
# Two stages on the same pinned Python 3.11 slim base: the first builds spinop and its dependencies into a
# virtualenv, the second copies only that virtualenv. The result runs as numeric UID 10001 (matches the
# Deployment's runAsUser), needs no shell tools, and writes nothing outside /tmp (an emptyDir in the Deployment),
# so it runs with readOnlyRootFilesystem. Python dependencies come only from requirements.lock, every one pinned and
# checked against its sha256 (`--require-hashes`), and spinop itself is built without fetching anything. The base is
# pinned by tag and by the digest of its multi-architecture index, so a re-pushed tag cannot change what is built;
# to move to a newer patch release, take the new tag's index digest (`docker buildx imagetools inspect <tag>`).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/spinop
# Dependencies and the build backend first (their own layer): exact versions, hashes required, nothing resolved.
COPY requirements.lock ./
RUN /opt/spinop/bin/pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock
# Only what the package build reads: the metadata, the README it names, and the import package.
COPY pyproject.toml README.md ./
COPY operator/ operator/
# No index access here: the build backend is the hashed one above. Byte-compile, because the runtime image cannot
# write .pyc files next to the sources.
RUN /opt/spinop/bin/pip install --no-cache-dir --no-deps --no-build-isolation --no-index . \
    && /opt/spinop/bin/pip check \
    && /opt/spinop/bin/python -m compileall -q /opt/spinop/lib

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="spinop" \
      org.opencontainers.image.description="Spinnaker accounts and pipelines as Kubernetes custom resources" \
      org.opencontainers.image.licenses="Apache-2.0"
# A passwd entry for the numeric user, so getpass/pwd lookups (kopf's peer identity) work; USER below is numeric so
# runAsNonRoot can verify it without reading /etc/passwd.
RUN groupadd --system --gid 10001 spinop \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin spinop
COPY --from=build /opt/spinop /opt/spinop
# MALLOC_ARENA_MAX=2: glibc gives each of the operator's worker threads (16 by default, plus the clients') a malloc
# arena of its own, up to 8 per CPU the node has, and keeps their freed memory; two arenas cut peak RSS at 1,000
# accounts (bench/README.md, "Where the memory goes"). bench/harness.py runs the operator with the same setting.
ENV PATH=/opt/spinop/bin:$PATH \
    MALLOC_ARENA_MAX=2 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    USER=spinop
WORKDIR /tmp
USER 10001:10001
# 8080 liveness (--liveness), 9443 admission webhook, 8081 metrics.
EXPOSE 8080 9443 8081
ENTRYPOINT ["spinop"]
CMD ["run", "--standalone", "--liveness=http://0.0.0.0:8080/healthz"]
