# learnloop: one image for the web app (`learnloop serve`), the one-shot migration
# (`learnloop migrate`) and, later, the push worker (`learnloop worker`).
# See docker-compose.yml for how they run together against PostgreSQL.
#
#   docker build -t learnloop .
#   docker run --rm -p 8000:8000 -e LEARNLOOP_SECRET_KEY=... learnloop   # embedded PostgreSQL, dev-ish

# ---- build: resolve the locked dependencies into /app/.venv ------------------------------
FROM python:3.11-slim AS build

# uv comes from PyPI like everything else (no installer script); keep it in step with uv.lock.
RUN pip install --no-cache-dir "uv==0.13.9"

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv

WORKDIR /app

# Dependencies first (their own layer: rebuilt only when the lock changes) ...
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project

# ... then the project itself.
COPY backend ./backend
COPY gamification ./gamification
COPY pwa ./pwa
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev

# ---- runtime: the same Python, the venv and the source; no uv, no pip cache, not root -----
FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH="/app/.venv/bin:${PATH}" \
    LEARNLOOP_ENV=production

RUN groupadd --system --gid 10001 learnloop \
    && useradd --system --uid 10001 --gid learnloop --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin learnloop

WORKDIR /app
COPY --from=build --chown=root:root /app /app
# The only place the app may write: the embedded PostgreSQL's data when LEARNLOOP_DATABASE_URL
# is unset (docker-compose.yml sets it to the postgres service).
RUN mkdir -p /app/data && chown learnloop:learnloop /app/data
ENV LEARNLOOP_DATA_DIR=/app/data

USER learnloop:learnloop
EXPOSE 8000

# slim has no curl: ask /healthz (which also pings the database) with the standard library.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request as u; sys.exit(0 if u.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]

# One server process per container: scale out with replicas (docker-compose.yml), not --workers.
CMD ["learnloop", "serve", "--host", "0.0.0.0", "--port", "8000"]
