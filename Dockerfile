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
EXPOSE 3000
CMD ["online-bot", "--log-level", "INFO", "run"]
