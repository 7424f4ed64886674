#!/bin/bash
# Runs once, after the InfluxDB 2 container's first setup: map the bucket to an InfluxQL
# database/retention policy of the same name, so Grafana's InfluxQL queries can read it.
set -euo pipefail
bucket_id=$(influx bucket list --name "${DOCKER_INFLUXDB_INIT_BUCKET}" --hide-headers | cut -f1)
influx v1 dbrp create --db "${DOCKER_INFLUXDB_INIT_BUCKET}" --rp autogen --bucket-id "${bucket_id}" --default
