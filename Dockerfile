# tickplant's Python parts with a JRE and the resolved Spark connector jars, in one image that every
# Python service of docker-compose.yaml runs (collector, stream processor, GBM, dashboard, the Spark
# master and worker through pyspark's spark-class). Kafka and Cassandra come from their own images.

# --- build: the virtualenv and the Maven-resolved jars (needs a JDK and Maven, the runtime does not)
FROM python:3.11-slim-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends openjdk-17-jdk-headless maven make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/tickplant
COPY . .
RUN make install && rm -rf var/jars/kafka var/jars/cassandra var/jars/trino

# --- runtime: Python + JRE + the venv + the Spark jars
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends openjdk-17-jre-headless procps \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --home-dir /home/tickplant tickplant
WORKDIR /opt/tickplant
COPY --from=build /opt/tickplant /opt/tickplant
RUN mkdir -p /opt/tickplant/jars && mv /opt/tickplant/var/jars/spark /opt/tickplant/jars/spark \
    && rm -rf /opt/tickplant/var && mkdir /opt/tickplant/var && chown -R tickplant /opt/tickplant/var
ENV PATH=/opt/tickplant/.venv/bin:$PATH \
    TICKPLANT_JARS=/opt/tickplant/jars \
    TICKPLANT_HOME=/opt/tickplant/var \
    PYTHONUNBUFFERED=1
USER tickplant
ENTRYPOINT ["tickplant"]
