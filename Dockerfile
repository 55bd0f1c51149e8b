# online-bot: one image for every replica. Build: docker build -t online-bot .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY bot ./bot
COPY migrations ./migrations
# The wheel carries the migrations (bot/migrations); alembic.ini stays for `alembic`.
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /app bot

USER bot
# HTTP mode listens on PORT; Socket Mode needs no port, unless push is on (/tencent/callback).
# METRICS_PORT serves GET /metrics, /readyz and /healthz in either mode (README, "Operations").
ENV METRICS_PORT=9100
EXPOSE 3000 9100
# Liveness: the process serves. (compose.yaml checks readiness, /readyz, instead.)
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['METRICS_PORT'], timeout=4)"]
CMD ["online-bot", "--log-level", "INFO", "run"]
