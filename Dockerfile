# tickplant's Python parts and Spark connectors in one image (for docker-compose.yaml).
# Kafka and Cassandra come from their own images there.
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends openjdk-17-jdk-headless maven make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/tickplant
COPY . .
RUN make install && rm -rf var/jars/kafka var/jars/cassandra
ENV PATH=/opt/tickplant/.venv/bin:$PATH
ENTRYPOINT ["tickplant"]
