# The valuegym sandbox image: the environment server and what it imports, nothing else.
#
# Built by `valuegym sandbox build`, which puts wheels made on the host in the build context and
# builds with no network at all. BASE_IMAGE is any image with a `python3` of the host's
# Python version: python:3.11-slim where a registry is reachable, or a base made locally with
# debootstrap and `docker import` where none is.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONHASHSEED=0 \
    TZ=UTC \
    HOME=/tmp

# Dependencies first: this layer stays cached until the pinned server dependencies change.
# pip runs from its own wheel, so the base needs no pip; bytecode is compiled here because
# the root filesystem is read-only at run time.
COPY wheels/tools /wheels/tools
COPY wheels/deps /wheels/deps
RUN python3 /wheels/tools/pip.whl/pip install --no-index --no-deps --no-cache-dir \
        --disable-pip-version-check --break-system-packages --root-user-action=ignore \
        /wheels/deps/*.whl

COPY wheels/app /wheels/app
RUN python3 /wheels/tools/pip.whl/pip install --no-index --no-deps --no-cache-dir \
        --disable-pip-version-check --break-system-packages --root-user-action=ignore \
        /wheels/app/*.whl \
    && python3 -c "import envs.server.app, envs.registry; envs.registry.environments()"

# Never root at run time; the uid has no account and owns nothing in the image. The working
# folder is read-only, and -P keeps it off the import path anyway (sessions' workers each get a
# private folder under /tmp); -s keeps the user site folder ($HOME is the writable /tmp) off it.
USER 10001:10001
WORKDIR /
ENTRYPOINT ["python3", "-P", "-s", "-m", "envs.server"]
CMD ["--host", "0.0.0.0", "--port", "8000"]
