# One image for every tracelake service (consumer, API, alert scheduler).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY tracelake ./tracelake
COPY ingest ./ingest
COPY transforms ./transforms
COPY queries ./queries
COPY api ./api
RUN pip install --no-cache-dir '.[pipeline]'
# The services run as an unprivileged user. The data directories (the lake,
# the API's keys and spool: the compose volumes) belong to it; a named volume
# mounted there starts with this ownership and mode.
RUN groupadd --system --gid 10001 tracelake \
 && useradd --system --uid 10001 --gid tracelake --home-dir /var/lib/tracelake --create-home \
      --shell /usr/sbin/nologin tracelake \
 && mkdir -p /lake /keys /spool \
 && chown tracelake:tracelake /lake /keys /spool \
 && chmod 0750 /lake \
 && chmod 0700 /keys /spool
ENV TRACELAKE_LAKE=/lake
VOLUME /lake
USER tracelake:tracelake
ENTRYPOINT ["tracelake"]
