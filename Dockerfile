# The citywatch services (ingest, analytics, boarding bell, API, simulators, migrations, broker files).
# BASE is the Python runtime: python:3.11-slim in production; the compose rehearsal builds this same file
# on a local stand-in (deploy/rehearsal/).
ARG BASE=python:3.11-slim
FROM ${BASE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_PROJECT_ENVIRONMENT=/opt/venv PATH=/opt/venv/bin:$PATH
# /broker: the volume broker-auth writes Mosquitto's password file and ACL into, as the broker's own user
# (1883, the official image's), so that Mosquitto can read them after dropping its privileges
RUN pip install --no-cache-dir uv==0.13.8 \
 && useradd --uid 10001 --create-home citywatch \
 && install -d -o 1883 -g 1883 -m 0700 /broker
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY . .
RUN uv sync --frozen --no-dev
USER citywatch
# API, then the services' Prometheus metrics (ingest, analytics, API, boarding bell)
EXPOSE 8080 9108 9109 9110 9111
CMD ["citywatch", "--help"]
