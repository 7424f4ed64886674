"""Configuration for every system opswatch talks to, read once at start-up from the environment.

Environment variables use the prefix ``OPSWATCH_`` and ``__`` for nesting, for example
``OPSWATCH_KAFKA__BOOTSTRAP_SERVERS`` or ``OPSWATCH_INFLUX__TOKEN``. Secrets are ``SecretStr`` and can
also come from files in a secrets directory (``OPSWATCH_SECRETS_DIR``, default
``/run/secrets``), one file per variable name, as Docker and Kubernetes mount them.

A wrong value fails at start-up with a ``ConfigurationError`` naming the variable, what was
expected and what came.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import NestedSecretsSettingsSource, BaseSettings, SettingsConfigDict

ENV_PREFIX = "OPSWATCH_"


class ConfigurationError(ValueError):
    """A setting has the wrong value; the message names the variable, expected and got."""


def optional_http_url(v: str | None) -> str | None:
    """Unset stays unset; otherwise an http(s) URL without its trailing slash."""
    if v in (None, ""):
        return None
    if not v.startswith(("http://", "https://")):
        raise ValueError("an http:// or https:// URL")
    return v.rstrip("/")


class KafkaSettings(BaseModel):
    """Kafka connection. TLS: ``security_protocol`` SSL or SASL_SSL, ``ssl_cafile`` the CA that signed the
    brokers' certificates (unset: the system's), ``ssl_certfile``/``ssl_keyfile`` a client certificate if
    the brokers ask for one. SASL: SASL_PLAINTEXT or SASL_SSL with a mechanism, a user name and the
    password (from the environment or the secrets directory, never the command line). A combination
    that would be silently ignored (a mechanism without SASL, a CA file without TLS) is refused."""

    bootstrap_servers: str = Field("127.0.0.1:9092", description="host:port[,host:port...]")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(None, validate_default=True)
    sasl_username: str | None = Field(None, validate_default=True)
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    topic_prefix: str = "opswatch"
    partitions: int = Field(8, ge=1, le=1024, description="partitions of each opswatch topic")
    replication_factor: int = Field(1, ge=1, le=16)

    @field_validator("bootstrap_servers")
    @classmethod
    def _host_port_list(cls, v: str) -> str:
        for part in v.split(","):
            host, sep, port = part.strip().rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError("a comma-separated list of host:port with a port in 1..65535")
        return v

    # field validators rather than a model validator: an error then names one variable and shows
    # only its value, never the whole section (which would print the SASL password)
    @field_validator("sasl_mechanism")
    @classmethod
    def _mechanism_with_sasl(cls, v, info):
        protocol = info.data.get("security_protocol")
        if protocol is None:  # itself invalid: that error is enough
            return v
        if protocol.startswith("SASL_") and v is None:
            raise ValueError(f"SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN with SECURITY_PROTOCOL {protocol}")
        if v is not None and not protocol.startswith("SASL_"):
            raise ValueError(f"unset with SECURITY_PROTOCOL {protocol} (SASL needs SASL_SSL or SASL_PLAINTEXT)")
        return v

    @field_validator("sasl_username")
    @classmethod
    def _user_with_sasl(cls, v, info):
        protocol = info.data.get("security_protocol") or ""
        if protocol.startswith("SASL_") and not v:
            raise ValueError(f"the SASL user name with SECURITY_PROTOCOL {protocol}")
        return v

    @field_validator("ssl_cafile", "ssl_certfile", "ssl_keyfile")
    @classmethod
    def _files_with_tls(cls, v, info):
        protocol = info.data.get("security_protocol")
        if v is not None and protocol is not None and protocol not in ("SSL", "SASL_SSL"):
            raise ValueError(f"unset with SECURITY_PROTOCOL {protocol} (TLS files need SSL or SASL_SSL)")
        if info.field_name == "ssl_keyfile" and v is not None and info.data.get("ssl_certfile") is None:
            raise ValueError("unset without SSL_CERTFILE (the client key goes with a client certificate)")
        return v

    def servers(self) -> list[str]:
        return [p.strip() for p in self.bootstrap_servers.split(",")]

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}.{name}"


class InfluxSettings(BaseModel):
    url: str | None = Field(None, description="InfluxDB base URL; unset means the local file store")
    token: SecretStr = SecretStr("")
    org: str = "opswatch"
    bucket: str = "opswatch"
    batch_size: int = Field(5000, ge=1, le=1_000_000)
    flush_interval_ms: int = Field(1000, ge=10, le=600_000)
    timeout_ms: int = Field(10_000, ge=100, le=600_000)
    max_retries: int = Field(3, ge=0, le=100)
    spool_dir: Path = Path(".opswatch/spool")
    file_store: Path = Path(".opswatch/metrics.lp")

    _http_url = field_validator("url")(classmethod(lambda cls, v: optional_http_url(v)))


class GrafanaSettings(BaseModel):
    url: str = "http://127.0.0.1:3000"
    token: SecretStr = SecretStr("")
    org_id: int = Field(1, ge=1)
    folder: str = "opswatch"
    datasource_uid: str = "opswatch-influxdb"


class AlertmanagerSettings(BaseModel):
    url: str | None = Field(None, description="Alertmanager base URL; unset: no paging")
    timeout_s: float = Field(5.0, gt=0, le=120)
    resend_s: float = Field(60.0, gt=0, le=3600, description="re-send open alerts this often")
    min_severity: Literal["info", "warning", "critical"] = "warning"

    _http_url = field_validator("url")(classmethod(lambda cls, v: optional_http_url(v)))


class MqttSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    topic: str = Field("opswatch/#", description="subscription; the last level names the event kind")
    username: str | None = None
    password: SecretStr | None = None
    qos: int = Field(1, ge=0, le=2)


class DetectorSettings(BaseModel):
    name: str = Field("default", description="detector name, or 'default'")
    threshold: float | None = Field(None, gt=0, lt=1,
                                    description="likelihood that counts as anomalous; unset: the detector's own")
    clear_threshold: float = Field(0.9, gt=0, lt=1, description="likelihood below which it clears")

    def detector_name(self) -> str:
        from detectors.registry import DEFAULT

        return DEFAULT if self.name == "default" else self.name

    def effective_threshold(self) -> float:
        """The threshold in force: the setting, or the default detector's own calibrated one."""
        if self.threshold is not None:
            return self.threshold
        from detectors.registry import DEFAULT, DEFAULT_THRESHOLD

        return DEFAULT_THRESHOLD if self.detector_name() == DEFAULT else 0.99


class RulesSettings(BaseModel):
    playbook: Path | None = Field(None, description="YAML playbook of incidents and rules; unset: defaults")


class WorkerSettings(BaseModel):
    app_id: str = "opswatch"
    batch_max: int = Field(2000, ge=1, le=100_000)
    batch_within_s: float = Field(0.2, gt=0, le=60)
    web_port: int = Field(6066, ge=0, le=65535)
    web_host: str = "127.0.0.1"
    data_dir: Path = Path(".opswatch/worker")
    name: str = "worker-1"
    rebalance_timeout_s: float = Field(60.0, gt=0, le=3600,
                                       description="Tansu holds a join until this passes; the demo uses 3")
    session_timeout_s: float = Field(60.0, gt=0, le=3600)
    tick_s: float = Field(5.0, gt=0, le=600, description="wall-clock housekeeping interval")
    consumer: Literal["batch", "agents"] = Field(
        "batch", description="batch: aiokafka getmany in the Faust app; agents: one Faust agent per topic")
    fetch_max_wait_ms: int = Field(100, ge=1, le=60_000, description="longest a fetch may wait for data")
    checkpoint: bool = Field(True, description="save the core's state after every batch (restart safety)")
    detector_checkpoint_s: float = Field(30.0, gt=0, description=(
        "a changed detector is saved at the latest this many seconds later (writes are paced over the "
        "interval); longer costs less at 100k entities, and a restart relearns at most that much"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        secrets_dir=os.environ.get("OPSWATCH_SECRETS_DIR", "/run/secrets")
        if Path(os.environ.get("OPSWATCH_SECRETS_DIR", "/run/secrets")).is_dir() else None,
        extra="ignore",
    )

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        # one file per variable (``OPSWATCH_KAFKA__SASL_PASSWORD``), as Kubernetes mounts secrets,
        # as well as one JSON file per section (``opswatch_kafka``)
        return (init_settings, env_settings, dotenv_settings, NestedSecretsSettingsSource(file_secret_settings))

    kafka: KafkaSettings = KafkaSettings()
    influx: InfluxSettings = InfluxSettings()
    grafana: GrafanaSettings = GrafanaSettings()
    alertmanager: AlertmanagerSettings = AlertmanagerSettings()
    mqtt: MqttSettings = MqttSettings()
    detector: DetectorSettings = DetectorSettings()
    rules: RulesSettings = RulesSettings()
    worker: WorkerSettings = WorkerSettings()


def env_name(loc: tuple) -> str:
    return ENV_PREFIX + "__".join(str(p).upper() for p in loc)


def load_settings(**overrides) -> Settings:
    """Build the settings once; raise ConfigurationError naming the variable on a bad value."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = err["loc"]
            got = err.get("input")
            expected = err["msg"].removeprefix("Value error, ")
            lines.append(f"{env_name(loc)}: expected {expected}; got {got!r}")
        raise ConfigurationError("invalid configuration:\n  " + "\n  ".join(lines)) from None
