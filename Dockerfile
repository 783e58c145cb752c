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
ENV TRACELAKE_LAKE=/lake
VOLUME /lake
ENTRYPOINT ["tracelake"]
