"""Settings: environment variables with OPSWATCH_ and __, clear errors naming the variable."""

from __future__ import annotations

import pytest

from streams.settings import ConfigurationError, load_settings


def test_nested_environment_variables(monkeypatch):
    monkeypatch.setenv("OPSWATCH_KAFKA__BOOTSTRAP_SERVERS", "k1:9092,k2:9093")
    monkeypatch.setenv("OPSWATCH_INFLUX__URL", "http://influx:8086/")
    monkeypatch.setenv("OPSWATCH_INFLUX__TOKEN", "s3cret")
    monkeypatch.setenv("OPSWATCH_INFLUX__ORG", "acme")
    monkeypatch.setenv("OPSWATCH_INFLUX__BUCKET", "ops")
    s = load_settings()
    assert s.kafka.servers() == ["k1:9092", "k2:9093"]
    assert s.influx.url == "http://influx:8086"
    assert s.influx.token.get_secret_value() == "s3cret" and "s3cret" not in repr(s)
    assert (s.influx.org, s.influx.bucket) == ("acme", "ops")


@pytest.mark.parametrize("var,value,expected", [
    ("OPSWATCH_KAFKA__BOOTSTRAP_SERVERS", "kafka", "host:port"),
    ("OPSWATCH_INFLUX__URL", "influx:8086", "http:// or https:// URL"),
    ("OPSWATCH_KAFKA__PARTITIONS", "0", "greater than or equal to 1"),
    ("OPSWATCH_DETECTOR__THRESHOLD", "1.5", "less than 1"),
    ("OPSWATCH_KAFKA__SECURITY_PROTOCOL", "TLS", "'PLAINTEXT'"),
])
def test_wrong_value_names_variable_expected_and_got(monkeypatch, var, value, expected):
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigurationError) as err:
        load_settings()
    msg = str(err.value)
    assert var in msg and expected in msg and f"got {value!r}" in msg


def test_secrets_directory(monkeypatch, tmp_path):
    (tmp_path / "opswatch_influx").write_text('{"token": "from-file"}')
    monkeypatch.setenv("OPSWATCH_SECRETS_DIR", str(tmp_path))
    import importlib

    import streams.settings as mod
    importlib.reload(mod)
    try:
        assert mod.load_settings().influx.token.get_secret_value() == "from-file"
    finally:
        monkeypatch.delenv("OPSWATCH_SECRETS_DIR")
        importlib.reload(mod)


def test_secret_file_per_variable(monkeypatch, tmp_path):
    """Kubernetes mounts one file per secret: OPSWATCH_KAFKA__SASL_PASSWORD as a file works."""
    (tmp_path / "OPSWATCH_KAFKA__SASL_PASSWORD").write_text("per-variable-secret\n")
    (tmp_path / "opswatch_influx").write_text('{"token": "from-json"}')
    monkeypatch.setenv("OPSWATCH_SECRETS_DIR", str(tmp_path))
    import importlib

    import streams.settings as mod
    importlib.reload(mod)
    try:
        s = mod.load_settings(kafka={"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
                                     "sasl_username": "ops"})
        assert s.kafka.sasl_password.get_secret_value() == "per-variable-secret"
        assert s.influx.token.get_secret_value() == "from-json"
        assert "per-variable-secret" not in repr(s)
    finally:
        monkeypatch.delenv("OPSWATCH_SECRETS_DIR")
        importlib.reload(mod)
