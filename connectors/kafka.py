"""Kafka with kafka-python: client configuration from settings, topic creation, producing.

Used by the simulator, the MQTT bridge, the demo and the tests. The Faust worker has its own
aiokafka clients; both read the same ``KafkaSettings`` (``ssl_context`` is shared by all three).

``check_security`` logs in once the way the clients will and fails at start-up with a clear message
when TLS or SASL is refused. The clients themselves do not: kafka-python 3 retries a failed TLS
verification or a refused login (Kafka's error 58, or the RFC 5802 ``e=...`` that Tansu sends) until
its bootstrap timeout, 30 s, which then says only "unable to bootstrap"; aiokafka retries too.

Importing this module also keeps SASL tokens and passwords out of both clients' debug logs.
"""

from __future__ import annotations

import logging
import socket
import ssl
import struct
import time

from kafka import KafkaAdminClient, KafkaProducer
from kafka.net.sasl.scram import ScramClient as _KafkaScramClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from streams.settings import KafkaSettings
from streams.topics import OUTPUT_TOPICS, input_topics, output_topic

log = logging.getLogger("opswatch.kafka")


class _RedactSecrets(logging.Filter):
    """aiokafka and kafka-python log at debug level every request (SASL ones included: a PLAIN login
    holds the password, a SCRAM one the salt and proof, enough to guess the password offline), the raw
    bytes sent, and kafka-python's admin client its whole configuration, password included."""

    @staticmethod
    def _scrub(arg, raw_bytes: bool):
        name = type(arg).__name__
        if name.startswith(("SaslAuthenticate", "SaslBytes")):
            return f"{name}(<SASL token redacted>)"
        if isinstance(arg, dict):
            return {k: "<redacted>" if v and any(w in str(k).lower() for w in ("password", "secret", "token"))
                    else v for k, v in arg.items()}
        if raw_bytes and isinstance(arg, (bytes, bytearray, memoryview)):
            return f"<{len(arg)} bytes>"
        return arg

    def filter(self, record: logging.LogRecord) -> bool:
        raw = record.name == "kafka.protocol.parser"
        if isinstance(record.args, dict):
            record.args = self._scrub(record.args, raw)
        elif isinstance(record.args, tuple):
            record.args = tuple(self._scrub(a, raw) for a in record.args)
        return True


CLIENT_LOGGERS = ("aiokafka.conn", "kafka.net.connection", "kafka.conn", "kafka.protocol.parser",
                  "kafka.admin.client")


def redact_sasl_in_client_logs() -> None:
    """Keep passwords and SASL tokens out of the Kafka clients' debug logs (idempotent; done on import)."""
    for name in CLIENT_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactSecrets) for f in logger.filters):
            logger.addFilter(_RedactSecrets())


redact_sasl_in_client_logs()


class KafkaSecurityError(RuntimeError):
    """The broker refused our TLS or SASL: a configuration problem, which retrying will not fix."""


def uses_tls(settings: KafkaSettings) -> bool:
    return settings.security_protocol in ("SSL", "SASL_SSL")


def uses_sasl(settings: KafkaSettings) -> bool:
    return settings.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")


def sasl_password(settings: KafkaSettings) -> str:
    return settings.sasl_password.get_secret_value() if settings.sasl_password else ""


def ssl_context(settings: KafkaSettings) -> ssl.SSLContext | None:
    """The TLS context every client uses: the brokers' certificate must chain to ``ssl_cafile`` (the
    system's CAs when unset) and name the host dialled; a client certificate when one is configured."""
    if not uses_tls(settings):
        return None
    ctx = ssl.create_default_context(cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None)
    if settings.ssl_certfile:
        ctx.load_cert_chain(str(settings.ssl_certfile), str(settings.ssl_keyfile) if settings.ssl_keyfile else None)
    return ctx


def client_config(settings: KafkaSettings) -> dict:
    """kafka-python connection options (TLS/SASL included) from settings; secrets stay secret."""
    cfg: dict = {"bootstrap_servers": settings.servers(), "security_protocol": settings.security_protocol}
    if uses_sasl(settings):
        cfg["sasl_mechanism"] = settings.sasl_mechanism
        cfg["sasl_plain_username"] = settings.sasl_username
        cfg["sasl_plain_password"] = sasl_password(settings)
    if uses_tls(settings):
        for opt in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            value = getattr(settings, opt)
            if value is not None:
                cfg[opt] = str(value)
    return cfg


# --- one login, spoken by hand: SaslHandshake v1, SaslAuthenticate v1 (the same on Kafka 1.0 to 4.x) ---

_SASL_HANDSHAKE, _SASL_AUTHENTICATE = 17, 36


def _string(s: str | None) -> bytes:
    if s is None:
        return struct.pack(">h", -1)
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("the broker closed the connection")
        buf += chunk
    return bytes(buf)


class _Wire:
    """Requests with a v1 header (non-flexible versions only) over one socket."""

    def __init__(self, sock: socket.socket, client_id: str = "opswatch-check"):
        self.sock, self.client_id, self.correlation = sock, client_id, 0

    def call(self, api_key: int, version: int, body: bytes) -> bytes:
        self.correlation += 1
        msg = struct.pack(">hhi", api_key, version, self.correlation) + _string(self.client_id) + body
        self.sock.sendall(struct.pack(">i", len(msg)) + msg)
        (size,) = struct.unpack(">i", _recv_exact(self.sock, 4))
        reply = _recv_exact(self.sock, size)
        (correlation,) = struct.unpack(">i", reply[:4])
        if correlation != self.correlation:
            raise EOFError(f"reply {correlation} to request {self.correlation}")
        return reply[4:]


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, fmt: str):
        (v,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return v

    def string(self) -> str | None:
        n = self.take(">h")
        if n < 0:
            return None
        s = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def bytes_(self) -> bytes:
        n = self.take(">i")
        b = self.data[self.pos:self.pos + max(n, 0)]
        self.pos += max(n, 0)
        return b


def sasl_handshake(wire: _Wire, mechanism: str) -> tuple[int, list[str]]:
    r = _Reader(wire.call(_SASL_HANDSHAKE, 1, _string(mechanism)))
    error = r.take(">h")
    return error, [r.string() or "" for _ in range(r.take(">i"))]


def sasl_authenticate(wire: _Wire, token: bytes) -> tuple[int, str | None, bytes]:
    r = _Reader(wire.call(_SASL_AUTHENTICATE, 1, struct.pack(">i", len(token)) + token))
    error = r.take(">h")
    return error, r.string(), r.bytes_()


def _raise_scram_error(server_message: bytes) -> None:
    """A SCRAM server says no with ``e=...`` (RFC 5802), which kafka-python's client does not read."""
    text = server_message.decode(errors="replace")
    if text.startswith("e="):
        raise KafkaSecurityError(text[2:])


class ScramClient:
    """kafka-python's own SCRAM-SHA-256/512 client, its failures raised as ``KafkaSecurityError``."""

    def __init__(self, mechanism: str, user: str, password: str):
        self._scram = _KafkaScramClient(user, password, mechanism)

    def first(self) -> bytes:
        return self._scram.first_message()

    def final(self, server_first: bytes) -> bytes:
        _raise_scram_error(server_first)
        try:
            self._scram.process_server_first_message(server_first)
        except (KeyError, ValueError) as exc:
            raise KafkaSecurityError(f"unexpected SCRAM reply ({exc})") from None
        return self._scram.final_message()

    def verify(self, server_final: bytes) -> None:
        _raise_scram_error(server_final)
        try:
            self._scram.process_server_final_message(server_final)
        except (KeyError, ValueError):
            raise KafkaSecurityError("the server's SCRAM signature is wrong (it does not know the password)") from None


def _sasl_login(wire: _Wire, settings: KafkaSettings, server: str) -> None:
    mech, user = settings.sasl_mechanism, settings.sasl_username or ""
    refused = f"Kafka at {server} refused the SASL {mech} login of user {user!r}"
    if not settings.sasl_password:
        raise KafkaSecurityError(f"{refused}: no password was given (OPSWATCH_KAFKA__SASL_PASSWORD, in the "
                                 "environment or the secrets directory)")
    try:
        error, offered = sasl_handshake(wire, mech)
    except EOFError:
        raise KafkaSecurityError(f"Kafka at {server} closed the connection when asked for SASL {mech}: the "
                                 "mechanism is not enabled there, or the listener does not do SASL") from None
    if error:
        raise KafkaSecurityError(f"Kafka at {server} does not accept SASL {mech} (it offers {offered or 'none'})")
    try:
        if mech == "PLAIN":
            error, message, _ = sasl_authenticate(wire, f"\0{user}\0{sasl_password(settings)}".encode())
            if error:
                raise KafkaSecurityError(message or f"error code {error}")
            return
        scram = ScramClient(mech, user, sasl_password(settings))
        error, message, server_first = sasl_authenticate(wire, scram.first())
        if error:
            raise KafkaSecurityError(message or f"error code {error}")
        error, message, server_final = sasl_authenticate(wire, scram.final(server_first))
        if error:
            raise KafkaSecurityError(message or f"error code {error}")
        scram.verify(server_final)
    except KafkaSecurityError as exc:
        raise KafkaSecurityError(f"{refused}: {exc} (check OPSWATCH_KAFKA__SASL_USERNAME and the password)") from None
    except EOFError:
        raise KafkaSecurityError(f"{refused}: the broker closed the connection during the login") from None


def check_security(settings: KafkaSettings, timeout_s: float = 30.0) -> None:
    """Log in to a bootstrap server as the clients will (TLS handshake and certificate check, SASL
    login), waiting up to ``timeout_s`` for one that is not up yet. Raises ``KafkaSecurityError`` at
    once when TLS or SASL is refused, with what to check; nothing to do for PLAINTEXT."""
    if settings.security_protocol == "PLAINTEXT":
        return
    ctx = ssl_context(settings)
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while True:
        for server in settings.servers():
            host, _, port = server.rpartition(":")
            try:
                sock = socket.create_connection((host, int(port)), timeout=5)
            except OSError as exc:
                last = exc
                continue
            try:
                if ctx is not None:
                    try:
                        sock = ctx.wrap_socket(sock, server_hostname=host)
                    except ssl.SSLCertVerificationError as exc:
                        raise KafkaSecurityError(
                            f"TLS to Kafka at {server} refused: {exc.verify_message}; the broker's certificate must "
                            f"chain to OPSWATCH_KAFKA__SSL_CAFILE ({settings.ssl_cafile or 'the system CAs'}) and "
                            f"name {host}") from None
                    except ssl.SSLError as exc:
                        raise KafkaSecurityError(f"TLS handshake with Kafka at {server} failed: {exc}") from None
                if uses_sasl(settings):
                    _sasl_login(_Wire(sock), settings, server)
                return
            except (OSError, EOFError) as exc:  # e.g. a TLS handshake that a plaintext listener never answers
                last = exc
            finally:
                sock.close()
        if time.monotonic() > deadline:
            hint = " (a plaintext listener never answers a TLS handshake)" if isinstance(last, TimeoutError) else ""
            raise RuntimeError(f"Kafka at {settings.bootstrap_servers} unreachable over "
                               f"{settings.security_protocol}: {last}{hint}")
        time.sleep(0.5)


def all_topics(settings: KafkaSettings) -> list[str]:
    return input_topics(settings.topic_prefix) + [output_topic(t, settings.topic_prefix) for t in OUTPUT_TOPICS]


def ensure_topics(settings: KafkaSettings, topics: list[str] | None = None, timeout_s: float = 30.0) -> list[str]:
    """Create the opswatch topics with the configured partitions; existing ones are left alone."""
    topics = topics or all_topics(settings)
    deadline = time.monotonic() + timeout_s
    check_security(settings, timeout_s)  # a refused login fails here, clearly, instead of timing out below
    while True:
        try:
            admin = KafkaAdminClient(**client_config(settings), client_id="opswatch-admin")
            break
        except KafkaError as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kafka at {settings.bootstrap_servers} unreachable: {exc}") from exc
            time.sleep(0.5)
    try:
        existing = set(admin.list_topics())
        new = [NewTopic(t, settings.partitions, settings.replication_factor) for t in topics if t not in existing]
        if new:
            try:
                admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass
            log.info("created topics %s", [t.name for t in new])
        return [t.name for t in new]
    finally:
        admin.close()


def make_producer(settings: KafkaSettings, **overrides) -> KafkaProducer:
    opts = {"acks": "all", "linger_ms": 5, "retries": 5, **overrides}
    return KafkaProducer(**client_config(settings), **opts)
