# syntax=docker/dockerfile:1
# One image for every role: the web (gunicorn, the default command), the Celery worker, beat and the
# migration job differ only by their command (see compose.yaml and deploy/kubernetes/).

# --- build: resolve the locked dependencies with uv into /app/.venv, then collect static files -----
FROM python:3.11-slim-bookworm AS build
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# Dependencies first (this layer is reused until pyproject.toml or uv.lock change), then the project.
COPY pyproject.toml uv.lock README.md LICENSE ./
RUN --mount=type=cache,target=/root/.cache/uv uv sync --frozen --no-dev --no-install-project
COPY . .
RUN --mount=type=cache,target=/root/.cache/uv uv sync --frozen --no-dev
# Hashed static files, served by whitenoise. The settings want a key and a var directory even for
# collectstatic; these throwaway values never reach the runtime image.
RUN SECRET_KEY=collectstatic-only CLEARANCE_VAR_DIR=/tmp/build-var STATIC_ROOT=/app/staticfiles \
    STATIC_MANIFEST=true /app/.venv/bin/python manage.py collectstatic --noinput --verbosity 0 \
    && rm -rf /tmp/build-var

# --- runtime: the interpreter, WeasyPrint's system libraries, the app; runs as an unprivileged user ---
FROM python:3.11-slim-bookworm AS runtime
# WeasyPrint (PDF exports) needs Pango and a font. Versions follow Debian stable's security updates,
# so they are not pinned here; rebuild the image to take them.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 \
       fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 clearance \
    && useradd --system --uid 10001 --gid clearance --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin clearance \
    && install -d -o clearance -g clearance -m 0750 /var/lib/clearance /tmp/prometheus
COPY --from=build --chown=root:root /app /app
WORKDIR /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CLEARANCE_VAR_DIR=/var/lib/clearance \
    STATIC_ROOT=/app/staticfiles \
    STATIC_MANIFEST=true \
    LOG_FORMAT=json \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus
USER 10001:10001
EXPOSE 8000 9808
# For plain `docker run`; compose and Kubernetes define their own probes on /healthz and /readyz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]
CMD ["gunicorn", "-c", "python:clearance.observability.gunicorn_config", "clearance.wsgi:application"]
