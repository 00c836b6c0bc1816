# Careflow application image: one image for `careflow api`, `careflow worker`, `careflow migrate` and
# `careflow seed-demo` (docker-compose.yml picks the command). See docs/deploy.md.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: install the project and its dependencies into a virtualenv ----
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/careflow
ENV PATH=/opt/careflow/bin:$PATH

WORKDIR /src
# Only what the package is built from (pyproject.toml: py-modules and packages), never .venv/.data.
# README.m[d]: pyproject names README.md as the long description; the wildcard lets the build go on
# (setuptools only warns) while that file does not exist yet.
COPY pyproject.toml README.m[d] ./
COPY cli.py config.py worker.py ./
COPY domain ./domain
COPY workflows ./workflows
COPY activities ./activities
COPY api ./api
COPY db ./db
RUN pip install --upgrade pip setuptools wheel \
    && pip install .

# ---- runtime ----
FROM ${PYTHON_IMAGE}

ENV PATH=/opt/careflow/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CAREFLOW_API_HOST=0.0.0.0 \
    CAREFLOW_API_PORT=8000

RUN groupadd --system --gid 10001 careflow \
    && useradd --system --uid 10001 --gid careflow --create-home --home-dir /home/careflow \
       --shell /usr/sbin/nologin careflow

COPY --from=build /opt/careflow /opt/careflow

USER careflow
WORKDIR /home/careflow
ENV CAREFLOW_DATA_DIR=/home/careflow/.data

EXPOSE 8000
CMD ["careflow", "api"]
