# The shimtask image for Flyte clusters: shimtask-core (with S3 support), every
# executor plugin in plugins/, and a pyflyte-execute command, so that a task
# flytekit registered (SQLite3Task, ...) runs when only its image is swapped.
#
#   docker build -t shimtask:0.1.0 .
#   docker build --build-arg EXTRAS=s3,gcs -t shimtask:0.1.0-gcs .
#
# It runs as a non-root user, needs no HOME, and works with a read-only root
# file system (mount an emptyDir at /tmp for executors that spill to disk): the
# plugin index is built at build time, so pods start without scanning.
# tests/test_image.py runs the same install steps (docker/install.sh).

ARG PYTHON_VERSION=3.12
FROM python:${PYTHON_VERSION}-slim

ARG EXTRAS=s3
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SHIMTASK_CACHE_DIR=/opt/shimtask/cache \
    PATH=/opt/shimtask/venv/bin:$PATH

RUN groupadd --system --gid 10001 shimtask \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin shimtask \
    && mkdir -p /opt/shimtask \
    && chown shimtask:shimtask /opt/shimtask

COPY --chown=shimtask:shimtask . /tmp/shimtask-src

# As the user the image runs as: the index is trusted only by its owner.
USER 10001:10001
RUN sh /tmp/shimtask-src/docker/install.sh /tmp/shimtask-src /opt/shimtask/venv "$EXTRAS" \
    && rm -rf /tmp/shimtask-src

WORKDIR /tmp
# No ENTRYPOINT: Flyte puts the whole command in the container's args
# (pyflyte-execute ... or shimtask execute ...).
CMD ["shimtask", "--help"]
