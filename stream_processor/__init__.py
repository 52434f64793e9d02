"""The Structured Streaming job: Kafka (Avro trades) -> Cassandra raw trades, window aggregates,
latest prices, dead letters and pipeline metrics. `transforms` is pure; the rest is I/O."""
