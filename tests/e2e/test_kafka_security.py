"""Kafka TLS and SASL against a real Tansu broker: kafka-python, aiokafka (the batch consumer) and Faust.

What Tansu 0.6.0 does (see connectors/broker.py): no TLS (``--cert`` and ``--key`` cannot be given
together), and ``--authentication`` offers SCRAM-SHA-256/512 but no user can log in (credentials are
not kept) and a failed login is served anyway. The tests pin that, and run the clients against Tansu
behind a ``BrokerFront`` that terminates TLS and does SCRAM the way Apache Kafka's SASL_SSL listener
does, so that every byte of data still goes to and from the real broker.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import logging
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer
from pydantic import SecretStr

from connectors.broker import LocalBroker, free_port, tansu_binary
from connectors.kafka import (KafkaSecurityError, ScramClient, _Wire, check_security, client_config,
                              ensure_topics, make_producer, sasl_authenticate, sasl_handshake)
from streams.local_worker import LocalWorker
from streams.settings import KafkaSettings, Settings, load_settings
from tests.flows import normal_fridge_day
from tests.servers import victoria_export

pytestmark = pytest.mark.servers

SASL_PASSWORD = "sc-Pa55-e2e-9f3b"  # distinctive, so a leak into any log is found
INFLUX_TOKEN = "infl-T0ken-e2e-c41d"
USERS = {"opswatch": SASL_PASSWORD, "alice": "alice-Pw-7a1e"}


# --- a throwaway CA and server certificate --------------------------------------------------------

def _pki_cryptography(d: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    pem = serialization.Encoding.PEM

    def ca(name: str):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                             crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        return key, cert

    ca_key, ca_cert = ca("opswatch test CA")
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    (d / "ca.pem").write_bytes(ca_cert.public_bytes(pem))
    (d / "server.pem").write_bytes(cert.public_bytes(pem))
    (d / "server.key").write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))
    (d / "other-ca.pem").write_bytes(ca("someone else's CA")[1].public_bytes(pem))


def _pki_openssl(d: Path) -> None:
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for name in ("ca", "other-ca"):
        run("req", "-x509", *ec, "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "1",
            "-subj", f"/CN=opswatch test {name}", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (d / "server.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n"
                                  "extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\n"
                                  "authorityKeyIdentifier=keyid,issuer\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "1", "-extfile", "server.ext")


def make_pki(d: Path, use_openssl: bool = False) -> Path:
    """ca.pem, server.pem/server.key (for 127.0.0.1 and localhost, signed by ca.pem), other-ca.pem."""
    d.mkdir(parents=True, exist_ok=True)
    try:
        if use_openssl:
            raise ImportError
        _pki_cryptography(d)
    except ImportError:
        _pki_openssl(d)
    return d


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _start(tmp_path_factory, **kw) -> LocalBroker:
    return LocalBroker(log_path=tmp_path_factory.mktemp("tansu") / "broker.log", **kw).start()


@pytest.fixture(scope="module")
def tls_broker(pki, tmp_path_factory):
    b = _start(tmp_path_factory, cert=pki / "server.pem", key=pki / "server.key")
    yield b
    b.stop()


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory):
    b = _start(tmp_path_factory, users=USERS)
    yield b
    b.stop()


@pytest.fixture(scope="module")
def sasl_ssl_broker(pki, tmp_path_factory):
    b = _start(tmp_path_factory, cert=pki / "server.pem", key=pki / "server.key", users=USERS,
               sasl_mechanisms=("SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"))
    yield b
    b.stop()


@pytest.fixture(scope="module")
def tansu_auth_broker(tmp_path_factory):
    """Tansu 0.6.0 with its own --authentication, nothing in front."""
    b = _start(tmp_path_factory, tansu_authentication=True)
    yield b
    b.stop()


def _roundtrip(k: KafkaSettings, topic: str, n: int = 20) -> list[bytes]:
    ensure_topics(k, [topic])
    producer = make_producer(k)
    for i in range(n):
        producer.send(topic, key=b"k", value=f"event-{i}".encode())
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(topic, **client_config(k), group_id=None, auto_offset_reset="earliest",
                             consumer_timeout_ms=2000)
    got, deadline = [], time.monotonic() + 20
    while len(got) < n and time.monotonic() < deadline:
        got.extend(m.value for m in consumer)
    consumer.close()
    return got


# --- (a) TLS ----------------------------------------------------------------------------------------

def test_tls_produce_and_consume_verifying_the_ca(tls_broker, pki):
    k = KafkaSettings(bootstrap_servers=tls_broker.bootstrap, security_protocol="SSL", ssl_cafile=pki / "ca.pem",
                      partitions=1)
    check_security(k, timeout_s=10)
    assert _roundtrip(k, "tls.roundtrip") == [f"event-{i}".encode() for i in range(20)]


def test_tls_with_the_wrong_ca_is_refused_clearly(tls_broker, pki):
    k = KafkaSettings(bootstrap_servers=tls_broker.bootstrap, security_protocol="SSL",
                      ssl_cafile=pki / "other-ca.pem", partitions=1)
    t0 = time.monotonic()
    with pytest.raises(KafkaSecurityError) as err:
        ensure_topics(k, ["tls.never"])
    assert time.monotonic() - t0 < 10  # at once, not after a bootstrap timeout
    msg = str(err.value)
    assert "OPSWATCH_KAFKA__SSL_CAFILE" in msg and "other-ca.pem" in msg and tls_broker.bootstrap in msg
    # and kafka-python itself gets nowhere with that CA (it only says it cannot bootstrap)
    with pytest.raises(Exception):
        KafkaProducer(**client_config(k), bootstrap_timeout_ms=3000).send("tls.never", b"x").get(timeout=3)


def test_plaintext_client_is_not_served_by_the_tls_listener(tls_broker):
    with pytest.raises(Exception):
        KafkaProducer(bootstrap_servers=tls_broker.bootstrap, bootstrap_timeout_ms=3000,
                      request_timeout_ms=2000).send("tls.never", b"x").get(timeout=3)


def test_both_certificate_recipes_make_a_chain_python_accepts(tmp_path):
    import ssl

    for use_openssl in (False, True):
        d = make_pki(tmp_path / ("openssl" if use_openssl else "py"), use_openssl=use_openssl)
        server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server.load_cert_chain(d / "server.pem", d / "server.key")
        client = ssl.create_default_context(cafile=str(d / "ca.pem"))
        a, b = socket.socketpair()
        with a, b:
            a.settimeout(5)
            b.settimeout(5)
            t = threading.Thread(target=lambda: server.wrap_socket(a, server_side=True).close())
            t.start()
            client.wrap_socket(b, server_hostname="127.0.0.1").close()
            t.join(5)


# --- (b) SASL ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_scram_login_with_the_right_password_works(sasl_broker, mechanism):
    k = KafkaSettings(bootstrap_servers=sasl_broker.bootstrap, security_protocol="SASL_PLAINTEXT",
                      sasl_mechanism=mechanism, sasl_username="alice", sasl_password=USERS["alice"], partitions=1)
    check_security(k, timeout_s=10)
    topic = f"sasl.{mechanism.lower()}"
    assert _roundtrip(k, topic) == [f"event-{i}".encode() for i in range(20)]


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_wrong_password_is_refused_with_a_clear_error(sasl_broker, mechanism):
    k = KafkaSettings(bootstrap_servers=sasl_broker.bootstrap, security_protocol="SASL_PLAINTEXT",
                      sasl_mechanism=mechanism, sasl_username="alice", sasl_password="not-alices-Pw", partitions=1)
    t0 = time.monotonic()
    with pytest.raises(KafkaSecurityError) as err:
        ensure_topics(k, ["sasl.never"])
    assert time.monotonic() - t0 < 10
    msg = str(err.value)
    assert f"refused the SASL {mechanism} login of user 'alice'" in msg and "invalid credentials" in msg
    assert "not-alices-Pw" not in msg
    # an unknown user is refused the same way (nothing tells which of the two was wrong)
    with pytest.raises(KafkaSecurityError, match="of user 'mallory'"):
        check_security(k.model_copy(update={"sasl_username": "mallory"}), timeout_s=5)
    # kafka-python with the same settings gets no data through either
    with pytest.raises(Exception):
        KafkaProducer(**client_config(k), bootstrap_timeout_ms=3000).send("sasl.never", b"x").get(timeout=3)


def test_plain_over_tls_works_and_debug_logs_keep_the_password(sasl_ssl_broker, pki, caplog):
    caplog.set_level(logging.DEBUG)
    k = KafkaSettings(bootstrap_servers=sasl_ssl_broker.bootstrap, security_protocol="SASL_SSL",
                      sasl_mechanism="PLAIN", sasl_username="opswatch", sasl_password=SASL_PASSWORD,
                      ssl_cafile=pki / "ca.pem", partitions=1)
    assert _roundtrip(k, "sasl.plain", n=5) == [f"event-{i}".encode() for i in range(5)]
    assert SASL_PASSWORD not in caplog.text
    assert "SaslAuthenticate" in caplog.text and "<SASL token redacted>" in caplog.text


def test_a_mechanism_the_broker_does_not_offer_is_named(sasl_broker):
    k = KafkaSettings(bootstrap_servers=sasl_broker.bootstrap, security_protocol="SASL_PLAINTEXT",
                      sasl_mechanism="PLAIN", sasl_username="alice", sasl_password=USERS["alice"])
    with pytest.raises(KafkaSecurityError, match=r"does not accept SASL PLAIN \(it offers \['SCRAM-SHA-256', "):
        check_security(k, timeout_s=5)


def test_missing_password_is_named_not_sent(sasl_broker):
    k = KafkaSettings(bootstrap_servers=sasl_broker.bootstrap, security_protocol="SASL_PLAINTEXT",
                      sasl_mechanism="SCRAM-SHA-512", sasl_username="alice")
    with pytest.raises(KafkaSecurityError, match="no password was given .OPSWATCH_KAFKA__SASL_PASSWORD"):
        check_security(k, timeout_s=5)


# --- what Tansu 0.6.0 itself does (these fail, usefully, when a Tansu upgrade changes it) -----------

def test_tansu_060_cannot_take_cert_and_key_together(pki):
    r = subprocess.run([str(tansu_binary()), "broker", "--cert", str(pki / "server.pem"), "--key",
                        str(pki / "server.key")], capture_output=True, text=True, timeout=10)
    assert r.returncode != 0 and "cannot be used with" in r.stderr


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_tansu_060_authentication_refuses_every_scram_login(tansu_auth_broker, mechanism):
    k = KafkaSettings(bootstrap_servers=tansu_auth_broker.bootstrap, security_protocol="SASL_PLAINTEXT",
                      sasl_mechanism=mechanism, sasl_username="opswatch", sasl_password=SASL_PASSWORD)
    with pytest.raises(KafkaSecurityError, match="unknown-user"):  # Tansu says so the RFC 5802 way
        check_security(k, timeout_s=5)


def test_tansu_060_authentication_closes_on_plain(tansu_auth_broker):
    k = KafkaSettings(bootstrap_servers=tansu_auth_broker.bootstrap, security_protocol="SASL_PLAINTEXT",
                      sasl_mechanism="PLAIN", sasl_username="opswatch", sasl_password=SASL_PASSWORD)
    with pytest.raises(KafkaSecurityError, match="closed the connection when asked for SASL PLAIN"):
        check_security(k, timeout_s=5)


def _metadata(wire: _Wire) -> bytes:
    return wire.call(3, 1, struct.pack(">i", -1))  # Metadata v1, all topics


def test_tansu_060_authentication_is_not_a_security_boundary(tansu_auth_broker):
    """A client that ignores its failed SCRAM login is then served (here: metadata): with Tansu
    0.6.0, ``--authentication`` keeps out well-behaved clients only. Real deployments need Kafka
    (or a fixed Tansu); when this test fails, Tansu changed: update README and connectors/broker.py."""
    host, _, port = tansu_auth_broker.bootstrap.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:  # without a login: refused
        with pytest.raises((EOFError, OSError)):
            _metadata(_Wire(sock))
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        wire = _Wire(sock)
        assert sasl_handshake(wire, "SCRAM-SHA-512")[0] == 0
        intruder = ScramClient("SCRAM-SHA-512", "mallory", "guess")
        _, _, server_first = sasl_authenticate(wire, intruder.first())
        error, _, server_final = sasl_authenticate(wire, intruder.final(server_first))
        assert (error, server_final) == (0, b"e=unknown-user")
        assert len(_metadata(wire)) > 8  # served anyway


# --- settings ---------------------------------------------------------------------------------------

def test_sasl_password_from_the_secrets_directory(monkeypatch, tmp_path):
    """Kubernetes-style: a file in the secrets directory named after the section holds its secrets as
    JSON, merged with the environment."""
    (tmp_path / "opswatch_kafka").write_text(json.dumps({"sasl_password": SASL_PASSWORD}))
    monkeypatch.setenv("OPSWATCH_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("OPSWATCH_KAFKA__SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("OPSWATCH_KAFKA__SASL_USERNAME", "opswatch")
    s = Settings(_secrets_dir=tmp_path)
    assert s.kafka.sasl_password.get_secret_value() == SASL_PASSWORD
    assert s.kafka.sasl_username == "opswatch" and SASL_PASSWORD not in repr(s) + str(s.kafka)
    assert client_config(s.kafka)["sasl_plain_password"] == SASL_PASSWORD


@pytest.mark.parametrize("env,var", [
    ({"SASL_MECHANISM": "SCRAM-SHA-512"}, "OPSWATCH_KAFKA__SASL_MECHANISM"),  # SASL without SASL_*
    ({"SECURITY_PROTOCOL": "SASL_SSL", "SASL_USERNAME": "u"}, "OPSWATCH_KAFKA__SASL_MECHANISM"),
    ({"SECURITY_PROTOCOL": "SASL_SSL", "SASL_MECHANISM": "SCRAM-SHA-512"}, "OPSWATCH_KAFKA__SASL_USERNAME"),
    ({"SSL_CAFILE": "/etc/ca.pem"}, "OPSWATCH_KAFKA__SSL_CAFILE"),  # a CA the PLAINTEXT client would ignore
    ({"SECURITY_PROTOCOL": "SSL", "SSL_KEYFILE": "/k.pem"}, "OPSWATCH_KAFKA__SSL_KEYFILE"),
])
def test_security_settings_that_would_be_ignored_are_refused(monkeypatch, env, var):
    from streams.settings import ConfigurationError

    monkeypatch.setenv("OPSWATCH_KAFKA__SASL_PASSWORD", SASL_PASSWORD)
    for name, value in env.items():
        monkeypatch.setenv(f"OPSWATCH_KAFKA__{name}", value)
    with pytest.raises(ConfigurationError) as err:
        load_settings()
    assert var in str(err.value) and SASL_PASSWORD not in str(err.value)


def test_faust_and_aiokafka_get_exactly_the_configured_security(pki):
    from streams.app import _aiokafka_config, _credentials

    def settings(**kw) -> Settings:
        return Settings(kafka=KafkaSettings(**kw))

    assert _credentials(settings()) is None and _aiokafka_config(settings())["security_protocol"] == "PLAINTEXT"
    ssl_only = settings(security_protocol="SSL", ssl_cafile=pki / "ca.pem")
    assert _credentials(ssl_only).protocol.value == "SSL" and "sasl_mechanism" not in _aiokafka_config(ssl_only)
    sasl = dict(sasl_mechanism="SCRAM-SHA-512", sasl_username="u", sasl_password=SecretStr("p"))
    plain = _credentials(settings(security_protocol="SASL_PLAINTEXT", **sasl))
    assert (plain.protocol.value, plain.mechanism.value, plain.ssl_context) == ("SASL_PLAINTEXT", "SCRAM-SHA-512", None)
    both = settings(security_protocol="SASL_SSL", ssl_cafile=pki / "ca.pem", **sasl)
    creds, cfg = _credentials(both), _aiokafka_config(both)
    assert (creds.protocol.value, creds.mechanism.value, creds.password) == ("SASL_SSL", "SCRAM-SHA-512", "p")
    assert creds.ssl_context.verify_mode.name == "CERT_REQUIRED" and creds.ssl_context.check_hostname
    assert (cfg["security_protocol"], cfg["sasl_mechanism"], cfg["sasl_plain_password"]) == ("SASL_SSL",
                                                                                            "SCRAM-SHA-512", "p")
    assert cfg["ssl_context"].check_hostname


# --- (c) and (d): the worker over TLS + SCRAM, debug logging, no secret in its output ------------------

def _worker(broker: LocalBroker, pki: Path, prefix: str, tmp_path: Path, victoria, consumer: str,
            secrets: Path, mechanism: str = "SCRAM-SHA-512") -> LocalWorker:
    return LocalWorker(broker.bootstrap, prefix, tmp_path / "data", tmp_path / "worker.log", loglevel="debug",
                       clean_env=True, settings={
                           "OPSWATCH_SECRETS_DIR": str(secrets), "OPSWATCH_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
                           "OPSWATCH_KAFKA__SASL_MECHANISM": mechanism, "OPSWATCH_KAFKA__SASL_USERNAME": "opswatch",
                           "OPSWATCH_KAFKA__SSL_CAFILE": str(pki / "ca.pem"), "OPSWATCH_KAFKA__PARTITIONS": "2",
                           "OPSWATCH_WORKER__CONSUMER": consumer, "OPSWATCH_WORKER__BATCH_WITHIN_S": "0.1",
                           "OPSWATCH_INFLUX__URL": f"http://127.0.0.1:{victoria.port}",
                           "OPSWATCH_INFLUX__TOKEN": INFLUX_TOKEN, "OPSWATCH_INFLUX__BUCKET": prefix,
                           "OPSWATCH_INFLUX__SPOOL_DIR": str(tmp_path / "spool")})


def _secrets_dir(tmp_path: Path, password: str) -> Path:
    d = tmp_path / "secrets"
    d.mkdir()
    (d / "opswatch_kafka").write_text(json.dumps({"sasl_password": password}))
    return d


@pytest.mark.parametrize("consumer,mechanism", [("batch", "SCRAM-SHA-512"), ("agents", "PLAIN")])
def test_worker_over_sasl_ssl_turns_events_into_points_and_logs_no_secret(sasl_ssl_broker, pki, victoria,
                                                                         tmp_path, consumer, mechanism):
    prefix = f"sec{free_port()}"
    k = KafkaSettings(bootstrap_servers=sasl_ssl_broker.bootstrap, security_protocol="SASL_SSL",
                      sasl_mechanism="SCRAM-SHA-256", sasl_username="alice", sasl_password=USERS["alice"],
                      ssl_cafile=pki / "ca.pem", topic_prefix=prefix, partitions=2)
    ensure_topics(k)
    worker = _worker(sasl_ssl_broker, pki, prefix, tmp_path, victoria, consumer,
                     _secrets_dir(tmp_path, SASL_PASSWORD), mechanism)
    log = worker.log_path
    worker.start()
    try:
        events = normal_fridge_day(120, "F7")
        producer = make_producer(k)
        for i in range(0, len(events), 10):
            producer.send(f"{prefix}.coldchain", key=b"F7",
                          value=orjson.dumps({"kind": "batch", "gateway": "G1", "events": events[i:i + 10]}))
        producer.flush()
        producer.close()
        deadline, stats = time.monotonic() + 90, {}
        while time.monotonic() < deadline:
            stats = worker.stats()
            if stats["processed"] >= len(events):
                break
            time.sleep(0.5)
        assert stats["processed"] == len(events), stats
        deadline, values = time.monotonic() + 30, []
        while time.monotonic() < deadline and len(values) < len(events):
            series = victoria_export(victoria.port, f'{{__name__="cold_chain_temp_c",fridge="F7",db="{prefix}"}}') \
                or victoria_export(victoria.port, '{__name__="cold_chain_temp_c",fridge="F7"}')
            values = series[0]["values"] if series else []
            time.sleep(0.5)
        assert len(values) >= len(events)
    finally:
        worker.stop()
    text = log.read_text(errors="replace")
    assert SASL_PASSWORD not in text and INFLUX_TOKEN not in text
    # debug logging was on and showed the logins, without their tokens (PLAIN's holds the password)
    assert "[DEBUG]" in text and f"Authenticated as opswatch via {mechanism}" in text
    assert "SaslAuthenticateRequest" in text and "<SASL token redacted>" in text


def test_worker_with_a_wrong_password_stops_at_once_saying_why(sasl_ssl_broker, pki, victoria, tmp_path):
    prefix = f"sec{free_port()}"
    wrong = "wr0ng-Pa55-e2e-55d1"
    worker = _worker(sasl_ssl_broker, pki, prefix, tmp_path, victoria, "batch", _secrets_dir(tmp_path, wrong))
    t0 = time.monotonic()
    r = subprocess.run(worker.argv, env={**worker.env, "COLUMNS": "200"}, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and time.monotonic() - t0 < 40
    out = " ".join((r.stdout + r.stderr).split())  # the traceback is wrapped to the terminal
    assert "refused the SASL SCRAM-SHA-512 login of user 'opswatch'" in out
    assert wrong not in out and SASL_PASSWORD not in out and INFLUX_TOKEN not in out
