"""The collector: websocket sources (Finnhub, Alpaca, replay), Avro encoding, Kafka producing,
and the local Finnhub-compatible simulator."""
