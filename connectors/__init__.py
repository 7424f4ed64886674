"""Connectors: everything that talks to the outside world.

Kafka (kafka-python: topics, producer), the local Kafka-protocol broker for demos and tests
(Tansu), the time-series sinks (InfluxDB v2 write API via influxdb-client, and a local file store),
MQTT ingest, Grafana and Alertmanager. Nothing here connects in ``__init__``; ``setup()`` does.
"""
